"""PFS ref resolution: a commit ID or a branch with ancestry suffixes (``master^``, ``master~2``)
to a commit, and commits as ``CommitInfo`` (pachd's ``resolveCommit`` / ``inspectCommit``)."""

from __future__ import annotations

import re
import sqlite3

from pachlet.errors import NotFoundError
from pachlet.names import ANCESTRY_RE, COMMIT_ID_RE
from pachlet.records import ORIGIN_AUTO, CommitInfo
from pachlet.store import Store
from pachlet.timeutil import to_dt


class RefOps:
    """Commit lookups of ``PFS``."""

    store: Store

    def repo_row(self, c: sqlite3.Connection, name: str) -> sqlite3.Row:
        """The repo's row; ``NotFoundError`` if absent."""
        row = c.execute("SELECT * FROM repos WHERE name=?", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"repo {name} not found")
        return row

    def resolve(self, c: sqlite3.Connection, repo: str, ref: str) -> sqlite3.Row:
        """The commit row ``ref`` names in ``repo``: a commit ID, a branch (its head), with optional
        ancestry suffixes (``master^``, ``master~2``, ``master^^``)."""
        m = ANCESTRY_RE.match(ref or "")
        if m is None:
            raise NotFoundError(f"commit {repo}@{ref} not found")
        base, ops = m.group("base"), m.group("ops")
        row = c.execute("SELECT * FROM commits WHERE repo=? AND id=?", (repo, base)).fetchone()
        if row is None:
            b = c.execute("SELECT head FROM branches WHERE repo=? AND name=?", (repo, base)).fetchone()
            if b is None:
                if not COMMIT_ID_RE.match(base):
                    # pachd's ErrBranchNotFound, which python-pachyderm's path_exists() matches
                    raise NotFoundError(f'branch "{base}" not found in repo {repo}')
                self.repo_row(c, repo)
                row = self._alias(c, repo, base)
                if row is None:
                    raise NotFoundError(f"commit {repo}@{ref} not found")
            elif b[0] is None:
                raise NotFoundError(f"branch {repo}@{base} has no commits")
            else:
                row = c.execute("SELECT * FROM commits WHERE repo=? AND id=?", (repo, b[0])).fetchone()
            if row is None:
                raise NotFoundError(f"commit {repo}@{ref} not found")
        steps = 0
        for op in re.findall(r"\^+|~\d+|\.\d+", ops):
            steps += len(op) if op[0] == "^" else int(op[1:])
        for _ in range(steps):
            if row["parent"] is None:
                raise NotFoundError(f"commit {repo}@{ref} not found (no such ancestor)")
            row = c.execute("SELECT * FROM commits WHERE repo=? AND id=?", (repo, row["parent"])).fetchone()
        return row

    def _alias(self, c: sqlite3.Connection, repo: str, gid: str) -> sqlite3.Row | None:
        """The commit of ``repo`` in the provenance (transitively) of commit set ``gid``: pachd's
        ``ResolveCommitProvenance``, which lets ``repo@<global ID>`` name the commit that set read."""
        hit = c.execute(
            "WITH RECURSIVE prov(repo, cid) AS ("
            " SELECT prov_repo, prov_commit FROM provenance WHERE commit_id=?"
            " UNION SELECT p.prov_repo, p.prov_commit FROM provenance p JOIN prov ON p.repo=prov.repo"
            " AND p.commit_id=prov.cid)"
            " SELECT cid FROM prov WHERE repo=? AND cid<>? LIMIT 1",
            (gid, repo, gid),
        ).fetchone()
        if hit is None:
            return None
        return c.execute("SELECT * FROM commits WHERE repo=? AND id=?", (repo, hit[0])).fetchone()

    def commit_info(self, c: sqlite3.Connection, row: sqlite3.Row) -> CommitInfo:
        """A commit row as a ``CommitInfo`` (with provenance and children)."""
        prov = tuple(
            (r[0], r[1], r[2])
            for r in c.execute(
                "SELECT prov_repo, prov_branch, prov_commit FROM provenance WHERE repo=? AND commit_id=?"
                " ORDER BY rowid",
                (row["repo"], row["id"]),
            )
        )
        children = tuple(
            r[0]
            for r in c.execute(
                "SELECT id FROM commits WHERE repo=? AND parent=? ORDER BY seq", (row["repo"], row["id"])
            )
        )
        return CommitInfo(
            id=row["id"],
            repo=row["repo"],
            branch=row["branch"],
            origin=row["origin"],
            parent=row["parent"],
            started=to_dt(row["started"]),  # type: ignore[arg-type]
            finished=to_dt(row["finished"]),
            provenance=prov,
            size=row["size"],
            description=row["description"],
            error=row["error"],
            children=children,
        )

    def inspect_commit(self, repo: str, ref: str = "master") -> CommitInfo:
        """A commit by ref."""
        with self.store.snapshot() as c:
            return self.commit_info(c, self.resolve(c, repo, ref))

    def list_commits(
        self,
        repo: str | None = None,
        branch: str | None = None,
        global_id: str | None = None,
        *,
        number: int | None = None,
    ) -> list[CommitInfo]:
        """Commits, newest first."""
        where, args = [], []
        with self.store.snapshot() as c:
            if repo is not None:
                self.repo_row(c, repo)
                where.append("repo=?")
                args.append(repo)
            if branch is not None:
                where.append("branch=?")
                args.append(branch)
            if global_id is not None:
                where.append("id=?")
                args.append(global_id)
            sql = (
                "SELECT * FROM commits"
                + (" WHERE " + " AND ".join(where) if where else "")
                + " ORDER BY seq DESC"
            )
            if number:
                sql += f" LIMIT {int(number)}"
            return [self.commit_info(c, r) for r in c.execute(sql, args).fetchall()]

    def commit_set(self, global_id: str) -> list[CommitInfo]:
        """Every commit of a global ID, upstream first."""
        with self.store.snapshot() as c:
            rows = c.execute("SELECT * FROM commits WHERE id=? ORDER BY seq", (global_id,)).fetchall()
            if not rows:
                raise NotFoundError(f"no commits found for global ID {global_id}")
            return [self.commit_info(c, r) for r in rows]

    def find_commit(self, repo: str, commit_id: str) -> CommitInfo | None:
        """The commit ``repo@commit_id`` (an exact ID, no ancestry), or None."""
        with self.store.snapshot() as c:
            row = c.execute("SELECT * FROM commits WHERE repo=? AND id=?", (repo, commit_id)).fetchone()
            return None if row is None else self.commit_info(c, row)

    def input_commit(self, repo: str, branch: str, global_id: str) -> str | None:
        """The commit a job of ``global_id`` reads from ``repo@branch``: the commit of the same global ID
        if any, else the branch head (an open AUTO head is waited for; an open USER head is passed over
        for its latest finished ancestor)."""
        c = self.store.conn()
        row = c.execute("SELECT id, branch FROM commits WHERE repo=? AND id=?", (repo, global_id)).fetchone()
        if row is not None and row["branch"] == branch:
            return global_id
        return self._head_back_to(c, repo, branch, auto_ok=True)

    def latest_finished(self, repo: str, branch: str) -> str | None:
        """The newest finished commit on ``repo@branch`` (its head or an ancestor), or None;
        ``NotFoundError`` if the repo is missing."""
        with self.store.snapshot() as c:
            self.repo_row(c, repo)
            return self._head_back_to(c, repo, branch, auto_ok=False)

    def _head_back_to(self, c: sqlite3.Connection, repo: str, branch: str, *, auto_ok: bool) -> str | None:
        """From the branch head back along parents: the first finished commit (or, with ``auto_ok``,
        open AUTO commit), else None."""
        b = c.execute("SELECT head FROM branches WHERE repo=? AND name=?", (repo, branch)).fetchone()
        cid = b[0] if b else None
        while cid is not None:
            r = c.execute(
                "SELECT parent, finished, origin FROM commits WHERE repo=? AND id=?", (repo, cid)
            ).fetchone()
            if r is None:
                return None
            if r["finished"] is not None or (auto_ok and r["origin"] == ORIGIN_AUTO):
                return cid
            cid = r["parent"]
        return None
