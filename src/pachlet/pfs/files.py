"""PFS files: a commit's tree (finished: the ``files`` rows; open: the parent's tree overlaid with
``staging``), writing files into open commits, reading, listing and globbing them."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pachlet.errors import NotFoundError, PachletError
from pachlet.pfs.glob import GlobError, compile_glob
from pachlet.pfs.paths import Tree, clean_path, clean_put_path, dirs_of, prefix_bounds
from pachlet.records import CommitInfo, FileRecord
from pachlet.store import Store


class FileOps:
    """File operations of ``PFS``."""

    store: Store

    def tree(self, c: sqlite3.Connection, row: sqlite3.Row, prefix: str = "/") -> Tree:
        """The file tree of a commit row (finished or open), restricted to ``prefix`` (a file or dir)."""
        repo, cid = row["repo"], row["id"]
        if row["finished"] is not None:
            return self.finished_tree(c, repo, cid, prefix)
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
        lo, hi = prefix_bounds(prefix)
        # Two key lookups, not one `path=? OR path BETWEEN`: SQLite cannot use the primary key through
        # that OR and would scan every file of the commit on each get/inspect.
        where = f"SELECT {cols} FROM {table} WHERE repo=? AND commit_id=? AND "
        return [
            *c.execute(where + "path=?", (repo, cid, prefix)).fetchall(),
            *c.execute(where + "path>=? AND path<?", (repo, cid, lo, hi)).fetchall(),
        ]

    def finished_tree(self, c: sqlite3.Connection, repo: str, cid: str, prefix: str = "/") -> Tree:
        """The stored tree of a finished commit (restricted to ``prefix``), read in ``c``."""
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
        """Record changes ``(path, hash, size, deleted)`` of an open commit, in ``c``."""
        row = c.execute(
            "SELECT finished FROM commits WHERE repo=? AND id=?", (commit.repo, commit.id)
        ).fetchone()
        if row is None or row[0] is not None:
            raise PachletError(f"commit {commit.repo}@{commit.id} is not open")
        for p, h, _s, d in rows:
            # under the write lock: a delete's garbage collection cannot remove it before this commits
            if not d and not self.store.has_object(h):
                raise PachletError(f"the content of {p} was removed by a concurrent delete; put it again")
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
        path = clean_put_path(path)
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
            rows.append((clean_put_path(target), digest, size, 0))
        else:
            base = clean_put_path(path)
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
        path = clean_put_path(path)
        with self.store.tx() as c:
            row = self.resolve(c, commit.repo, commit.id)
            tree = self.tree(c, row, path)
            self._stage(c, commit, [(p, "", 0, 1) for p in tree])

    def delete_all(self, commit: CommitInfo) -> None:
        """Delete every file of an open commit (joins the caller's transaction)."""
        with self.store.tx() as c:
            row = self.resolve(c, commit.repo, commit.id)
            self._stage(c, commit, [(p, "", 0, 1) for p in self.tree(c, row)])

    def commit_file_tree(self, repo: str, commit_id: str) -> Tree:
        """The whole stored tree of a finished commit (empty for an unknown or open commit)."""
        with self.store.snapshot() as c:
            return self.finished_tree(c, repo, commit_id)

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
                lo, hi = prefix_bounds(d)
                size = sum(s for p, (_, s) in tree.items() if lo <= p < hi)
                out.append(self._record(commit, d, "", size, "dir"))
        return sorted(out, key=lambda f: f.path)
