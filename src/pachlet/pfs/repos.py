"""PFS repos and branches: the ``repos`` and ``branches`` tables (pachd's driver ``createRepo``,
``inspectRepo``, ``createBranch``...)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from pachlet.errors import AlreadyExistsError, NotFoundError
from pachlet.names import check_name
from pachlet.projects import split
from pachlet.records import BranchInfo, RepoInfo
from pachlet.store import Store, new_id
from pachlet.timeutil import now_ts, to_dt


class RepoOps:
    """Repo and branch operations of ``PFS``."""

    store: Store

    def create_repo(
        self,
        name: str,
        description: str = "",
        *,
        update: bool = False,
        pipeline: str | None = None,
        kind: str = "user",
    ) -> RepoInfo:
        """Create a repo (or update its description); ``name`` is internal (``project/repo`` outside
        the default project, whose project must exist)."""
        project, bare_name = split(name)
        check_name("repo", bare_name)
        with self.store.tx() as c:
            if c.execute("SELECT 1 FROM projects WHERE name=?", (project,)).fetchone() is None:
                raise NotFoundError(f'cannot find project "{project}": project "{project}" not found')
            row = c.execute("SELECT * FROM repos WHERE name=?", (name,)).fetchone()
            if row is not None:
                if not update:
                    raise AlreadyExistsError(f"repo {name} already exists")
                c.execute("UPDATE repos SET description=? WHERE name=?", (description, name))
            else:
                c.execute(
                    "INSERT INTO repos(name, description, created, pipeline, kind) VALUES(?,?,?,?,?)",
                    (name, description, now_ts(), pipeline, kind),
                )
        return self.inspect_repo(name)

    def _repo_info(self, c: sqlite3.Connection, row: sqlite3.Row) -> RepoInfo:
        branches = tuple(
            r[0]
            for r in c.execute(
                "SELECT name FROM branches WHERE repo=? ORDER BY created DESC, name", (row["name"],)
            )
        )
        size = 0
        head = c.execute(
            "SELECT head FROM branches WHERE repo=? AND name='master'", (row["name"],)
        ).fetchone()
        if head and head[0]:
            srow = c.execute(
                "SELECT size, finished, parent FROM commits WHERE repo=? AND id=?", (row["name"], head[0])
            ).fetchone()
            if srow is not None:
                size = srow["size"]
        return RepoInfo(
            name=row["name"],
            created=to_dt(row["created"]),  # type: ignore[arg-type]
            description=row["description"],
            size=size,
            branches=branches,
            pipeline=row["pipeline"],
        )

    def list_repos(self) -> list[RepoInfo]:
        """Every repo, newest first."""
        with self.store.snapshot() as c:
            rows = c.execute("SELECT * FROM repos ORDER BY created DESC, name").fetchall()
            return [self._repo_info(c, r) for r in rows]

    def inspect_repo(self, name: str) -> RepoInfo:
        """One repo."""
        with self.store.snapshot() as c:
            row = c.execute("SELECT * FROM repos WHERE name=?", (name,)).fetchone()
            if row is None:
                raise NotFoundError(f"repo {name} not found")
            return self._repo_info(c, row)

    def repo_names(self) -> set[str]:
        """Names of every repo."""
        return {r[0] for r in self.store.conn().execute("SELECT name FROM repos")}

    def delete_repo(self, name: str, *, force: bool = False) -> None:
        """Delete a repo and everything in it; the objects nothing else refers to are removed once the
        deletion commits (``pachlet.pfs.gc``). A repo that does not exist is not an error, as in pachd
        2.7.6 (``driver.deleteRepo`` returns nil on not-found). A branch of another plain repo that is
        provenant on this one refuses the delete unless ``force`` (then that provenance is dropped)."""
        with self.store.tx() as c:
            if c.execute("SELECT 1 FROM repos WHERE name=?", (name,)).fetchone() is None:
                return
            self.drop_upstream_repo(c, name, force=force)
            self.collect_after_commit(self.commit_objects(c, name))
            for table in ("files", "staging", "provenance", "commits", "branches"):
                c.execute(f"DELETE FROM {table} WHERE repo=?", (name,))
            c.execute("DELETE FROM repos WHERE name=?", (name,))

    def repo_exists(self, name: str) -> bool:
        """Whether the repo exists."""
        return self.store.conn().execute("SELECT 1 FROM repos WHERE name=?", (name,)).fetchone() is not None

    def detach_repo(self, name: str) -> None:
        """Make a pipeline's output repo a plain user repo (``delete pipeline --keep-repo``)."""
        with self.store.tx() as c:
            c.execute("UPDATE repos SET pipeline=NULL, kind='user' WHERE name=?", (name,))

    def set_output_kind(self, name: str, *, spout: bool) -> None:
        """Mark a pipeline's output repo as a spout's (``spout``: its user code commits to it, as a 2.x
        spout puts files into its own output repo) or a transform's (only AUTO output commits)."""
        with self.store.tx() as c:
            c.execute(
                "UPDATE repos SET kind=? WHERE name=? AND kind IN ('output', 'spout')",
                ("spout" if spout else "output", name),
            )

    # ------------------------------------------------------------------ branches
    def _branch_info(self, row: sqlite3.Row) -> BranchInfo:
        prov = tuple(tuple(p) for p in json.loads(row["provenance"] or "[]"))
        up, down = self.branch_closure(self.store.conn(), row["repo"], row["name"])
        return BranchInfo(
            full_provenance=tuple(up),
            subvenance=tuple(down),
            repo=row["repo"],
            name=row["name"],
            head=row["head"],
            provenance=prov,  # type: ignore[arg-type]
            created=to_dt(row["created"]),
        )

    def create_branch(
        self,
        repo: str,
        branch: str,
        head: str | None = None,
        *,
        provenance: Sequence[tuple[str, str]] = (),
    ) -> BranchInfo:
        """Create or move a branch. On a plain repo (no pipeline owns it), provenance follows pachd's
        ``createBranch`` (``pachlet.pfs.branchprov``): the branch gets an AUTO head commit and every
        new upstream commit propagates to it; moving the head of a branch propagates downstream."""
        check_name("branch", branch)
        with self.store.tx() as c:
            repo_row = self.repo_row(c, repo)
            head_id = self.resolve(c, repo, head)["id"] if head else None
            plain = repo_row["pipeline"] is None
            if plain and (provenance or self.branch_provenance(c, repo, branch)):
                self.set_branch_provenance(c, repo, branch, head_id, provenance)
            else:
                self.set_branch(c, repo, branch, head_id, provenance=provenance, move=head is not None)
                if head_id is not None:
                    self.propagate(c, repo, branch, new_id())
        return self.inspect_branch(repo, branch)

    def set_branch(
        self,
        c: sqlite3.Connection,
        repo: str,
        branch: str,
        head: str | None,
        *,
        provenance: Sequence[tuple[str, str]] | None = None,
        move: bool = True,
    ) -> None:
        """Create the branch if missing; move its head when ``move``; replace provenance if given."""
        row = c.execute("SELECT * FROM branches WHERE repo=? AND name=?", (repo, branch)).fetchone()
        prov = json.dumps([list(p) for p in provenance]) if provenance is not None else None
        if row is None:
            c.execute(
                "INSERT INTO branches(repo, name, head, provenance, created) VALUES(?,?,?,?,?)",
                (repo, branch, head, prov or "[]", now_ts()),
            )
            return
        if move:
            c.execute("UPDATE branches SET head=? WHERE repo=? AND name=?", (head, repo, branch))
        if prov is not None and (provenance or row["provenance"] == "[]"):
            c.execute("UPDATE branches SET provenance=? WHERE repo=? AND name=?", (prov, repo, branch))

    def ensure_branch(self, repo: str, branch: str, provenance: Sequence[tuple[str, str]]) -> None:
        """Create ``repo@branch`` if missing (no head) and record its provenance; the head stays."""
        with self.store.tx() as c:
            self.set_branch(c, repo, branch, None, provenance=provenance, move=False)

    def inspect_branch(self, repo: str, branch: str) -> BranchInfo:
        """One branch."""
        c = self.store.conn()
        row = c.execute("SELECT * FROM branches WHERE repo=? AND name=?", (repo, branch)).fetchone()
        if row is None:
            self.repo_row(c, repo)
            raise NotFoundError(f"branch {branch} not found in repo {repo}")
        return self._branch_info(row)

    def list_branches(self, repo: str) -> list[BranchInfo]:
        """A repo's branches, newest first."""
        c = self.store.conn()
        self.repo_row(c, repo)
        rows = c.execute(
            "SELECT * FROM branches WHERE repo=? ORDER BY created DESC, name", (repo,)
        ).fetchall()
        return [self._branch_info(r) for r in rows]

    def delete_branch(self, repo: str, branch: str, *, force: bool = False) -> None:
        """Delete a branch (its commits stay, reachable by ID, as in pachd). A branch plain branches are
        provenant on is refused unless ``force`` (then they lose it from their provenance)."""
        with self.store.tx() as c:
            self.check_branch_deletable(c, [(repo, branch)], force=force)
            if c.execute("DELETE FROM branches WHERE repo=? AND name=?", (repo, branch)).rowcount == 0:
                self.repo_row(c, repo)
                raise NotFoundError(f"branch {branch} not found in repo {repo}")

    def branch_head(self, repo: str, branch: str) -> str | None:
        """The head commit ID of ``repo@branch`` (None when the branch is missing or empty)."""
        b = (
            self.store.conn()
            .execute("SELECT head FROM branches WHERE repo=? AND name=?", (repo, branch))
            .fetchone()
        )
        return b[0] if b else None
