"""Repo paths, in one place: pachd's ``pfsfile.CleanPath``, its put-file filename check, and the
path-set helpers PFS and PPS share (implied directories, file/directory collisions, prefix ranges).

pachd v2.7.6 cleans every path it reads, lists or globs with ``CleanPath`` (``path.Clean``, a leading
``/``, no trailing ``/``: ``a/../b`` is ``/b``), and rejects a *written* path whose elements include
``..`` (``ValidateFilename`` in ``src/server/pfs/server/paths.go``: "relative file paths are not
allowed"). pachlet does the same: ``clean_path`` for reads and globs, ``clean_put_path`` for writes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from pachlet.errors import PachletError

Tree = dict[str, tuple[str, int]]
"""A commit's file tree: path -> (object hash, size)."""


def clean_path(path: str) -> str:
    """pachd's ``pfsfile.CleanPath``: ``""`` -> ``/``, ``abc/`` -> ``/abc``, ``a/../b`` -> ``/b``."""
    p = posixpath.normpath(path) if path else "."
    if p == ".":
        return "/"
    return "/" + p.strip("/")


def clean_put_path(path: str) -> str:
    """A path a file is written at: refused when an element is ``..`` (pachd's ``ValidateFilename``),
    else ``clean_path`` of it."""
    if ".." in path.split("/"):
        raise PachletError(f"invalid path {path!r}: '..' is not allowed")
    return clean_path(path)


def prefix_bounds(path: str) -> tuple[str, str]:
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
