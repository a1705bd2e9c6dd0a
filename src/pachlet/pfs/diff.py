"""Diff file and copy file (pachd v2.7.6 ``driver_file.go`` ``diffFile`` with ``diff.go``'s ``Differ``,
and ``ModifyFile``'s ``CopyFile``).

``diff_files`` walks two sources in path order, as pachd's ``Differ.Iterate`` does: every file **and
directory** at or below the path (a directory's path ends in ``/``; the root is ``/``), and yields
``(old, new)`` for each path only one side has (the other None) and for each path both have with
different hashes. A directory's hash is derived from its direct children's hashes in path order (names
not included), so an unchanged subtree is no difference, as with PFS's directory hashes. Without an old
file the old side is the new commit's parent at the same path (none: nothing is old). ``shallow`` is
accepted and, as in pachd 2.7.6, has no effect.
"""

from __future__ import annotations

import hashlib

from pachlet.pfs.paths import Tree, clean_path
from pachlet.pfs.urls import open_url
from pachlet.records import CommitInfo, FileRecord
from pachlet.store import Store


def _entries(tree: Tree, prefix: str) -> dict[str, tuple[str, int, str]]:
    """Every file and directory of ``tree`` (already restricted to ``prefix``), pachd's way: directory
    paths end in ``/``; ``(hash, size, type)`` by path."""
    if not tree:
        return {}
    if prefix in tree:
        h, s = tree[prefix]
        return {prefix: (h, s, "file")}
    base = "/" if prefix == "/" else prefix.rstrip("/") + "/"
    out: dict[str, tuple[str, int, str]] = {p: (h, s, "file") for p, (h, s) in tree.items()}
    kids: dict[str, set[str]] = {base: set()}
    for path in tree:
        parent = base
        for part in path[len(base) :].split("/")[:-1]:
            d = parent + part + "/"
            kids.setdefault(parent, set()).add(d)
            kids.setdefault(d, set())
            parent = d
        kids[parent].add(path)
    for d in sorted(kids, key=lambda x: x.count("/"), reverse=True):
        h = hashlib.sha256()
        for child in sorted(kids[d]):
            h.update(out[child][0].encode())
        out[d] = (h.hexdigest(), sum(out[child][1] for child in kids[d]), "dir")
    return out


class DiffOps:
    """Diff and copy of ``PFS``."""

    store: Store

    def diff_files(
        self,
        new_repo: str,
        new_ref: str,
        new_path: str,
        old_repo: str | None = None,
        old_ref: str | None = None,
        old_path: str | None = None,
    ) -> list[tuple[FileRecord | None, FileRecord | None]]:
        """pachd's DiffFile: ``(old, new)`` records of every path that differs, in path order."""
        new_path = clean_path(new_path or "/")
        new_commit, new_tree = self.commit_tree(new_repo, new_ref, new_path)  # type: ignore[attr-defined]
        old_commit: CommitInfo | None = None
        old_tree: Tree = {}
        if old_ref is None:
            old_path = new_path
            if new_commit.parent is not None:
                old_repo = new_repo
                old_commit, old_tree = self.commit_tree(new_repo, new_commit.parent, new_path)  # type: ignore[attr-defined]
        else:
            old_repo = old_repo or new_repo
            old_path = clean_path(old_path or "/")
            old_commit, old_tree = self.commit_tree(old_repo, old_ref, old_path)  # type: ignore[attr-defined]
        new_entries = _entries(new_tree, new_path)
        old_entries = _entries(old_tree, old_path or "/")

        def record(commit: CommitInfo, path: str, e: tuple[str, int, str]) -> FileRecord:
            return FileRecord(
                path=path,
                hash=e[0],
                size=e[1],
                committed=commit.finished,
                file_type=e[2],
                repo=commit.repo,
                commit=commit.id,
            )

        out: list[tuple[FileRecord | None, FileRecord | None]] = []
        for path in sorted(set(new_entries) | set(old_entries)):
            o, n = old_entries.get(path), new_entries.get(path)
            if o is not None and n is not None and o[0] == n[0]:
                continue
            out.append(
                (
                    record(old_commit, path, o) if o is not None and old_commit is not None else None,
                    record(new_commit, path, n) if n is not None else None,
                )
            )
        return out

    def put_url(
        self, commit: CommitInfo, path: str, url: str, *, recursive: bool = False, append: bool = False
    ) -> None:
        """Write the file(s) a URL names into an open commit (``pachlet.pfs.urls``)."""
        for dst, stream in open_url(url, path, recursive=recursive):
            self.put_file(commit, dst, stream, append=append)  # type: ignore[attr-defined]

    def copy_path(
        self, commit: CommitInfo, src: tuple[str, str, str], dst: str, *, append: bool = False
    ) -> None:
        """Copy the file or directory ``src`` = (repo, ref, path) to ``dst`` in an open commit."""
        info = self.inspect_file(*src)  # type: ignore[attr-defined]
        if info.file_type != "dir":
            self.put_file(commit, dst, self.file_object_path(*src), append=append)  # type: ignore[attr-defined]
            return
        base = info.path.rstrip("/")
        for f in self.walk_files(src[0], src[1], src[2]):  # type: ignore[attr-defined]
            obj = self.file_object_path(src[0], src[1], f.path)  # type: ignore[attr-defined]
            self.put_file(commit, dst.rstrip("/") + f.path[len(base) :], obj, append=append)  # type: ignore[attr-defined]
