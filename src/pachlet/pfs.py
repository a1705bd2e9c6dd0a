"""PFS: repos, branches, commits and files on top of ``pachlet.store.Store``.

A finished commit's file tree is stored whole in ``files`` (rows are cheap: contents are deduplicated
objects). An open commit keeps only its changes in ``staging`` (``deleted`` marks removals); reading it
overlays the staging rows on its parent's tree. ``finish_commit`` writes the merged tree and sets
``finished`` in one transaction, so a commit's content appears atomically or not at all.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pachlet.errors import AlreadyExistsError, NotFoundError, PachletError
from pachlet.glob import GlobError, compile_glob
from pachlet.names import ANCESTRY_RE, check_name
from pachlet.records import ORIGIN_AUTO, ORIGIN_USER, BranchInfo, CommitInfo, FileRecord, RepoInfo
from pachlet.store import Store, new_id, now_ts, to_dt

Tree = dict[str, tuple[str, int]]


def clean_path(path: str) -> str:
    """A repo path in canonical form: leading ``/``, no trailing ``/``, no ``.``/``..`` parts."""
    if not path or path == "/":
        return "/"
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PachletError(f"invalid path {path!r}: '..' is not allowed")
    return "/" + "/".join(parts)


def _prefix_bounds(path: str) -> tuple[str, str]:
    """SQL range (lo, hi) covering every path strictly below directory ``path``."""
    base = "" if path == "/" else path
    return base + "/", base + "0"  # '0' sorts right after '/'


def dirs_of(paths: Iterable[str]) -> set[str]:
    """Every directory implied by a set of file paths (excluding ``/``)."""
    dirs: set[str] = set()
    for p in paths:
        d = posixpath.dirname(p)
        while d != "/" and d not in dirs:
            dirs.add(d)
            d = posixpath.dirname(d)
    return dirs


def find_collision(paths: Iterable[str]) -> str | None:
    """The first path that is both a file and a directory (``/a`` and ``/a/b``), else None."""
    ordered = sorted(paths)
    for prev, cur in zip(ordered, ordered[1:], strict=False):
        if cur.startswith(prev + "/"):
            return cur
    return None


class PFS:
    """Versioned file system operations. Methods taking ``conn`` run inside the caller's transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------------ repos
    def create_repo(
        self,
        name: str,
        description: str = "",
        *,
        update: bool = False,
        pipeline: str | None = None,
        kind: str = "user",
    ) -> RepoInfo:
        """Create a repo (or update its description)."""
        check_name("repo", name)
        with self.store.tx() as c:
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

    def repo_row(self, c: sqlite3.Connection, name: str) -> sqlite3.Row:
        """The repo's row; ``NotFoundError`` if absent."""
        row = c.execute("SELECT * FROM repos WHERE name=?", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"repo {name} not found")
        return row

    def repo_names(self) -> set[str]:
        """Names of every repo."""
        return {r[0] for r in self.store.conn().execute("SELECT name FROM repos")}

    def delete_repo(self, name: str) -> None:
        """Delete a repo and everything in it (objects become orphans for fsck to collect)."""
        with self.store.tx() as c:
            self.repo_row(c, name)
            for table in ("files", "staging", "provenance", "commits", "branches"):
                c.execute(f"DELETE FROM {table} WHERE repo=?", (name,))
            c.execute("DELETE FROM repos WHERE name=?", (name,))

    # ------------------------------------------------------------------ branches
    def _branch_info(self, row: sqlite3.Row) -> BranchInfo:
        prov = tuple(tuple(p) for p in json.loads(row["provenance"] or "[]"))
        return BranchInfo(
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
        """Create or move a branch."""
        check_name("branch", branch)
        with self.store.tx() as c:
            self.repo_row(c, repo)
            head_id = self.resolve(c, repo, head)["id"] if head else None
            self.set_branch(c, repo, branch, head_id, provenance=provenance, move=head is not None)
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

    def delete_branch(self, repo: str, branch: str) -> None:
        """Delete a branch."""
        with self.store.tx() as c:
            if c.execute("DELETE FROM branches WHERE repo=? AND name=?", (repo, branch)).rowcount == 0:
                self.repo_row(c, repo)
                raise NotFoundError(f"branch {branch} not found in repo {repo}")

    # ------------------------------------------------------------------ commit resolution
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
                self.repo_row(c, repo)
                raise NotFoundError(f"commit {repo}@{ref} not found")
            if b[0] is None:
                raise NotFoundError(f"branch {repo}@{base} has no commits")
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

    # ------------------------------------------------------------------ starting and finishing commits
    def insert_commit(
        self,
        c: sqlite3.Connection,
        repo: str,
        branch: str,
        commit_id: str,
        *,
        origin: str,
        description: str = "",
        parent: str | None = None,
        transient: bool = False,
        provenance: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """Record a new open commit and make it the branch head."""
        c.execute(
            "INSERT INTO commits(repo, id, branch, origin, parent, started, description, transient, owner_pid)"
            " VALUES(?,?,?,?,?,?,?,?,?)",
            (repo, commit_id, branch, origin, parent, now_ts(), description, int(transient), os.getpid()),
        )
        c.executemany(
            "INSERT OR REPLACE INTO provenance(repo, commit_id, prov_repo, prov_branch, prov_commit)"
            " VALUES(?,?,?,?,?)",
            [(repo, commit_id, pr, pb, pc) for pr, pb, pc in provenance],
        )
        self.set_branch(c, repo, branch, commit_id)

    def start_commit(
        self,
        repo: str,
        branch: str = "master",
        *,
        description: str = "",
        parent: str | None = None,
        transient: bool = False,
        commit_id: str | None = None,
    ) -> CommitInfo:
        """Open a USER commit on a branch with a new global ID (or ``commit_id``)."""
        check_name("branch", branch)
        with self.store.tx() as c:
            repo_row = self.repo_row(c, repo)
            if repo_row["kind"] == "output":
                raise PachletError(
                    f"cannot start a commit in {repo}: it is the output repo of pipeline {repo_row['pipeline']}"
                )
            b = c.execute("SELECT head FROM branches WHERE repo=? AND name=?", (repo, branch)).fetchone()
            head = b[0] if b else None
            if head is not None:
                hrow = c.execute("SELECT * FROM commits WHERE repo=? AND id=?", (repo, head)).fetchone()
                if hrow is not None and hrow["finished"] is None:
                    if hrow["transient"] and hrow["owner_pid"] != os.getpid():
                        # left by a process that died mid put-file: it can never be finished
                        self._abandon(c, repo, head)
                        head = hrow["parent"]
                    else:
                        raise PachletError(
                            f"{repo}@{branch} already has an open commit {head}; finish it first"
                        )
            if parent is not None:
                head = self.resolve(c, repo, parent)["id"]
            cid = commit_id or new_id()
            self.insert_commit(
                c,
                repo,
                branch,
                cid,
                origin=ORIGIN_USER,
                description=description,
                parent=head,
                transient=transient,
            )
            return self.commit_info(c, self.resolve(c, repo, cid))

    def open_commit_for_write(self, repo: str, ref: str) -> tuple[CommitInfo, bool]:
        """The open commit a write to ``repo@ref`` goes into, and whether it was started for this write
        (then the caller finishes it)."""
        with self.store.tx() as c:
            self.repo_row(c, repo)
            row = c.execute("SELECT * FROM commits WHERE repo=? AND id=?", (repo, ref)).fetchone()
            if row is not None:
                if row["finished"] is not None:
                    raise PachletError(
                        f"commit {repo}@{ref} is finished; write to a branch or an open commit"
                    )
                return self.commit_info(c, row), False
            b = c.execute("SELECT head FROM branches WHERE repo=? AND name=?", (repo, ref)).fetchone()
            if b is not None and b[0] is not None:
                hrow = c.execute("SELECT * FROM commits WHERE repo=? AND id=?", (repo, b[0])).fetchone()
                if (
                    hrow is not None
                    and hrow["finished"] is None
                    and hrow["origin"] == ORIGIN_USER
                    and not hrow["transient"]
                ):
                    return self.commit_info(c, hrow), False
            return self.start_commit(repo, ref, transient=True), True

    def _open_row(self, c: sqlite3.Connection, repo: str, ref: str) -> sqlite3.Row:
        row = self.resolve(c, repo, ref)
        if row["finished"] is not None:
            raise PachletError(f"commit {repo}@{row['id']} is already finished")
        return row

    def finish_commit(self, repo: str, ref: str, *, description: str | None = None) -> CommitInfo:
        """Materialize an open commit's tree and mark it finished (one transaction)."""
        with self.store.tx() as c:
            row = self._open_row(c, repo, ref)
            if row["origin"] == ORIGIN_AUTO:
                raise PachletError(
                    f"commit {repo}@{row['id']} is a pipeline output commit; pachlet finishes it"
                )
            tree = self.tree(c, row)
            clash = find_collision(tree)
            if clash is not None:
                raise PachletError(f"file / directory path collision ({clash}) in commit {repo}@{row['id']}")
            self.write_tree(c, repo, row["id"], tree)
            c.execute("DELETE FROM staging WHERE repo=? AND commit_id=?", (repo, row["id"]))
            c.execute(
                "UPDATE commits SET finished=?, size=?, description=COALESCE(?, description), owner_pid=NULL"
                " WHERE repo=? AND id=?",
                (now_ts(), sum(s for _, s in tree.values()), description, repo, row["id"]),
            )
            return self.commit_info(c, self.resolve(c, repo, row["id"]))

    def write_tree(self, c: sqlite3.Connection, repo: str, commit_id: str, tree: Tree) -> None:
        """Store a commit's whole file tree."""
        c.execute("DELETE FROM files WHERE repo=? AND commit_id=?", (repo, commit_id))
        c.executemany(
            "INSERT INTO files(repo, commit_id, path, hash, size) VALUES(?,?,?,?,?)",
            [(repo, commit_id, p, h, s) for p, (h, s) in tree.items()],
        )

    def finish_output_commit(
        self, c: sqlite3.Connection, repo: str, commit_id: str, tree: Tree, *, error: str = ""
    ) -> None:
        """Finish a pipeline's output commit with the given tree (and error, for failed jobs)."""
        self.write_tree(c, repo, commit_id, tree)
        c.execute(
            "UPDATE commits SET finished=?, size=?, error=?, owner_pid=NULL WHERE repo=? AND id=?",
            (now_ts(), sum(s for _, s in tree.values()), error, repo, commit_id),
        )

    def _abandon(self, c: sqlite3.Connection, repo: str, commit_id: str) -> None:
        row = c.execute("SELECT * FROM commits WHERE repo=? AND id=?", (repo, commit_id)).fetchone()
        if row is None:
            return
        c.execute("DELETE FROM staging WHERE repo=? AND commit_id=?", (repo, commit_id))
        c.execute("DELETE FROM provenance WHERE repo=? AND commit_id=?", (repo, commit_id))
        c.execute("DELETE FROM files WHERE repo=? AND commit_id=?", (repo, commit_id))
        c.execute("DELETE FROM commits WHERE repo=? AND id=?", (repo, commit_id))
        c.execute("UPDATE branches SET head=? WHERE repo=? AND head=?", (row["parent"], repo, commit_id))

    def abandon_commit(self, repo: str, commit_id: str) -> None:
        """Drop an open commit entirely (its branch head goes back to its parent)."""
        with self.store.tx() as c:
            self._abandon(c, repo, commit_id)

    # ------------------------------------------------------------------ trees
    def tree(self, c: sqlite3.Connection, row: sqlite3.Row, prefix: str = "/") -> Tree:
        """The file tree of a commit row (finished or open), restricted to ``prefix`` (a file or dir)."""
        repo, cid = row["repo"], row["id"]
        if row["finished"] is not None:
            return self._finished_tree(c, repo, cid, prefix)
        parent_tree: Tree = {}
        if row["parent"] is not None:
            prow = c.execute("SELECT * FROM commits WHERE repo=? AND id=?", (repo, row["parent"])).fetchone()
            if prow is not None:
                parent_tree = self.tree(c, prow, prefix)
        for s in self._range(c, "staging", "path, hash, size, deleted", repo, cid, prefix):
            if s["deleted"]:
                parent_tree.pop(s["path"], None)
            else:
                parent_tree[s["path"]] = (s["hash"], s["size"])
        return parent_tree

    def _range(
        self, c: sqlite3.Connection, table: str, cols: str, repo: str, cid: str, prefix: str
    ) -> list[sqlite3.Row]:
        if prefix == "/":
            return c.execute(
                f"SELECT {cols} FROM {table} WHERE repo=? AND commit_id=?", (repo, cid)
            ).fetchall()
        lo, hi = _prefix_bounds(prefix)
        # Two key lookups, not one `path=? OR path BETWEEN`: SQLite cannot use the primary key through
        # that OR and would scan every file of the commit on each get/inspect.
        where = f"SELECT {cols} FROM {table} WHERE repo=? AND commit_id=? AND "
        return [
            *c.execute(where + "path=?", (repo, cid, prefix)).fetchall(),
            *c.execute(where + "path>=? AND path<?", (repo, cid, lo, hi)).fetchall(),
        ]

    def _finished_tree(self, c: sqlite3.Connection, repo: str, cid: str, prefix: str = "/") -> Tree:
        return {r[0]: (r[1], r[2]) for r in self._range(c, "files", "path, hash, size", repo, cid, prefix)}

    def commit_tree(self, repo: str, ref: str, prefix: str = "/") -> tuple[CommitInfo, Tree]:
        """(commit, tree) for a ref, read consistently."""
        with self.store.snapshot() as c:
            row = self.resolve(c, repo, ref)
            return self.commit_info(c, row), self.tree(c, row, clean_path(prefix))

    # ------------------------------------------------------------------ writing files
    def _stage(
        self, c: sqlite3.Connection, commit: CommitInfo, rows: Sequence[tuple[str, str, int, int]]
    ) -> None:
        row = c.execute(
            "SELECT finished FROM commits WHERE repo=? AND id=?", (commit.repo, commit.id)
        ).fetchone()
        if row is None or row[0] is not None:
            raise PachletError(f"commit {commit.repo}@{commit.id} is not open")
        c.executemany(
            "INSERT OR REPLACE INTO staging(repo, commit_id, path, hash, size, deleted) VALUES(?,?,?,?,?,?)",
            [(commit.repo, commit.id, p, h, s, d) for p, h, s, d in rows],
        )

    def _store_data(self, data: Any) -> tuple[str, int]:
        if isinstance(data, bytes | bytearray | memoryview):
            return self.store.put_bytes(bytes(data))
        if isinstance(data, os.PathLike):
            p = Path(data)
            if not p.is_file():
                raise NotFoundError(f"local file {p} not found")
            return self.store.put_path(p)
        if isinstance(data, str):
            raise TypeError("put_file data must be bytes, a binary file object or a pathlib.Path, not str")
        if hasattr(data, "read"):
            return self.store.put_stream(data)
        raise TypeError(f"put_file data of type {type(data).__name__} is not supported")

    def put_file(self, commit: CommitInfo, path: str, data: Any, *, append: bool = False) -> None:
        """Write one file into an open commit."""
        path = clean_path(path)
        if path == "/":
            raise PachletError("cannot put a file at the root path /")
        digest, size = self._store_data(data)
        if append:
            with self.store.snapshot() as c:
                existing = self.tree(c, self.resolve(c, commit.repo, commit.id), path).get(path)
            if existing is not None:
                digest, size = self.store.put_bytes(
                    self.store.read_object(existing[0]) + self.store.read_object(digest)
                )
        with self.store.tx() as c:
            self._stage(c, commit, [(path, digest, size, 0)])

    def put_tree(self, commit: CommitInfo, path: str, source: Path) -> None:
        """Write a local file or directory tree into an open commit."""
        if not source.exists():
            raise NotFoundError(f"local path {source} not found")
        rows: list[tuple[str, str, int, int]] = []
        if source.is_file():
            target = path + source.name if path.endswith("/") else path
            digest, size = self.store.put_path(source)
            rows.append((clean_path(target), digest, size, 0))
        else:
            base = clean_path(path)
            for dirpath, dirnames, filenames in os.walk(source):
                dirnames.sort()
                for name in sorted(filenames):
                    full = Path(dirpath) / name
                    rel = full.relative_to(source).as_posix()
                    digest, size = self.store.put_path(full)
                    rows.append((clean_path(f"{base}/{rel}"), digest, size, 0))
        with self.store.tx() as c:
            self._stage(c, commit, rows)

    def delete_path(self, commit: CommitInfo, path: str) -> None:
        """Delete a file or directory tree from an open commit (a missing path is not an error)."""
        path = clean_path(path)
        with self.store.tx() as c:
            row = self.resolve(c, commit.repo, commit.id)
            tree = self.tree(c, row, path)
            self._stage(c, commit, [(p, "", 0, 1) for p in tree])

    def delete_all(self, c: sqlite3.Connection, commit: CommitInfo) -> None:
        """Delete every file of an open commit (inside the caller's transaction)."""
        row = self.resolve(c, commit.repo, commit.id)
        self._stage(c, commit, [(p, "", 0, 1) for p in self.tree(c, row)])

    # ------------------------------------------------------------------ reading files
    def _record(self, commit: CommitInfo, path: str, h: str, s: int, ftype: str = "file") -> FileRecord:
        return FileRecord(
            path=path,
            hash=h,
            size=s,
            committed=commit.finished,
            file_type=ftype,
            repo=commit.repo,
            commit=commit.id,
        )

    def get_file(self, repo: str, ref: str, path: str) -> bytes:
        """A file's bytes."""
        return self.store.read_object(self._file_hash(repo, ref, path))

    def file_object_path(self, repo: str, ref: str, path: str) -> Path:
        """The object path of a file."""
        return self.store.object_path(self._file_hash(repo, ref, path))

    def _file_hash(self, repo: str, ref: str, path: str) -> str:
        path = clean_path(path)
        commit, tree = self.commit_tree(repo, ref, path)
        if path in tree:
            return tree[path][0]
        if tree:
            raise PachletError(f"{repo}@{ref}:{path} is a directory")
        raise NotFoundError(f"file {path} not found in {repo}@{commit.id}")

    def inspect_file(self, repo: str, ref: str, path: str) -> FileRecord:
        """One file or directory."""
        path = clean_path(path)
        commit, tree = self.commit_tree(repo, ref, path)
        if path in tree:
            h, s = tree[path]
            return self._record(commit, path, h, s)
        if not tree and path != "/":
            raise NotFoundError(f"file {path} not found in {repo}@{commit.id}")
        return self._record(commit, path, "", sum(s for _, s in tree.values()), "dir")

    def list_files(self, repo: str, ref: str = "master", path: str = "/") -> list[FileRecord]:
        """Direct children of a directory (or the file itself)."""
        path = clean_path(path)
        commit, tree = self.commit_tree(repo, ref, path)
        if path in tree:
            h, s = tree[path]
            return [self._record(commit, path, h, s)]
        if not tree and path != "/":
            raise NotFoundError(f"file {path} not found in {repo}@{commit.id}")
        base = "" if path == "/" else path
        entries: dict[str, list[Any]] = {}
        for p, (h, s) in tree.items():
            rest = p[len(base) + 1 :]
            head, sep, _ = rest.partition("/")
            child = f"{base}/{head}"
            if sep:
                e = entries.setdefault(child, ["", 0, "dir"])
                e[1] += s
            else:
                entries[child] = [h, s, "file"]
        return [self._record(commit, p, e[0], e[1], e[2]) for p, e in sorted(entries.items())]

    def walk_files(self, repo: str, ref: str = "master", path: str = "/") -> list[FileRecord]:
        """Every file at or below a path."""
        commit, tree = self.commit_tree(repo, ref, path)
        return [self._record(commit, p, h, s) for p, (h, s) in sorted(tree.items())]

    def glob_files(self, repo: str, ref: str, pattern: str) -> list[FileRecord]:
        """Files and directories matching a glob."""
        commit, tree = self.commit_tree(repo, ref)
        try:
            glob = compile_glob(pattern)
        except GlobError as exc:
            raise PachletError(str(exc)) from None
        out: list[FileRecord] = []
        if tree and glob.match("/"):
            out.append(self._record(commit, "/", "", sum(s for _, s in tree.values()), "dir"))
        for p, (h, s) in tree.items():
            if glob.match(p):
                out.append(self._record(commit, p, h, s))
        for d in dirs_of(tree):
            if glob.match(d + "/"):
                lo, hi = _prefix_bounds(d)
                size = sum(s for p, (_, s) in tree.items() if lo <= p < hi)
                out.append(self._record(commit, d, "", size, "dir"))
        return sorted(out, key=lambda f: f.path)
