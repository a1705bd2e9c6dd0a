"""PFS projects: the ``projects`` table (pachd's driver ``createProject``, ``inspectProject``,
``listProject``, ``deleteProject``, src/server/pfs/server/driver.go v2.7.6, and coredb/projects.go)."""

from __future__ import annotations

import sqlite3

from pachlet.errors import AlreadyExistsError, NotFoundError, PachletError
from pachlet.projects import DEFAULT_PROJECT, check_project_name, in_project
from pachlet.records import ProjectInfo
from pachlet.store import Store
from pachlet.timeutil import now_ts, to_dt


class ProjectNotEmptyError(PachletError):
    """``delete project`` of a project that still holds repos (pachd: FAILED_PRECONDITION)."""


class ProjectOps:
    """Project operations of ``PFS``."""

    store: Store

    @staticmethod
    def _project_info(row: sqlite3.Row) -> ProjectInfo:
        return ProjectInfo(name=row["name"], description=row["description"], created=to_dt(row["created"]))  # type: ignore[arg-type]

    def create_project(self, name: str, description: str = "", *, update: bool = False) -> ProjectInfo:
        """Create a project; with ``update``, create it or replace its description (pachd's upsert)."""
        check_project_name(name)
        with self.store.tx() as c:
            row = c.execute("SELECT 1 FROM projects WHERE name=?", (name,)).fetchone()
            if row is not None and not update:
                raise AlreadyExistsError(f"project {name} already exists")
            if row is None:
                c.execute(
                    "INSERT INTO projects(name, description, created) VALUES(?,?,?)",
                    (name, description, now_ts()),
                )
            else:
                c.execute("UPDATE projects SET description=? WHERE name=?", (description, name))
        return self.inspect_project(name)

    def _project_rows(self, name: str | None = None) -> list[sqlite3.Row]:
        """Rows of the ``projects`` table (one project's when ``name``). A root made before projects
        and opened read-only has no table yet: its only project is ``default``."""
        c = self.store.conn()
        try:
            if name is None:
                return c.execute("SELECT * FROM projects ORDER BY created, name").fetchall()
            return c.execute("SELECT * FROM projects WHERE name=?", (name,)).fetchall()
        except sqlite3.OperationalError:
            if c.execute("SELECT 1 FROM sqlite_master WHERE name='projects'").fetchone() is not None:
                raise
            created = c.execute("SELECT MIN(created) FROM repos").fetchone()[0] or now_ts()
            row = c.execute(
                "SELECT 'default' AS name, '' AS description, ? AS created", (created,)
            ).fetchone()
            return [row] if name in (None, DEFAULT_PROJECT) else []

    def inspect_project(self, name: str) -> ProjectInfo:
        """One project; ``NotFoundError`` with pachd's words when it does not exist."""
        name = name or DEFAULT_PROJECT
        rows = self._project_rows(name)
        if not rows:
            raise NotFoundError(f'error getting project "{name}": project "{name}" not found')
        return self._project_info(rows[0])

    def list_projects(self) -> list[ProjectInfo]:
        """Every project, in the order they were created (as pachd's table lists them)."""
        return [self._project_info(r) for r in self._project_rows()]

    def project_exists(self, name: str) -> bool:
        """Whether the project exists (the default one always does)."""
        return bool(self._project_rows(name or DEFAULT_PROJECT))

    def check_project(self, name: str) -> None:
        """pachd's createRepo check: ``cannot find project "p": project "p" not found``."""
        if not self.project_exists(name):
            raise NotFoundError(f'cannot find project "{name}": project "{name}" not found')

    def project_repos(self, name: str) -> list[str]:
        """The (internal) names of the repos of a project."""
        rows = self.store.conn().execute("SELECT name FROM repos ORDER BY created, name").fetchall()
        return [r[0] for r in rows if in_project(r[0], name)]

    def delete_project(self, name: str) -> None:
        """Delete an empty project. As pachd 2.7.6 (``force`` does not change it), a project holding
        repos is refused, naming each: ``cannot delete project p: repo p/r still exists``."""
        check_project_name(name)
        if name == DEFAULT_PROJECT:
            raise PachletError("cannot delete project default: pachlet keeps the default project")
        with self.store.tx() as c:
            repos = self.project_repos(name)
            if repos:
                still = "\n".join(f"repo {r} still exists" for r in repos)
                raise ProjectNotEmptyError(f"cannot delete project {name}: {still}")
            if c.execute("DELETE FROM projects WHERE name=?", (name,)).rowcount == 0:
                raise NotFoundError(f'delete project "{name}": project "{name}" not found')
