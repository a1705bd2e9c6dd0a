"""ListFile / WalkFile pagination as pachd 2.7.6 does it (driver_file.go ``listFile`` / ``walkFile``).

Entries are in PFS order: by path, a directory's path ending in ``/``. A ``pagination_marker`` is a path
range bound: forward, entries from the marker on (the marker itself left out); in reverse, entries
before it. ``number`` caps the page (0: no cap); in reverse the page is the *last* ``number`` entries,
newest first, and ``number`` must then be given. A client pages by sending the last path it got as
the next marker, so a directory of any size is listed in bounded pages.
"""

from __future__ import annotations

import posixpath

from python_pachyderm.proto.v2.pfs import pfs_pb2

MAX_PAGE = 100_000
"""pachd's cap on ``number`` (``cannot return more than 100000 files at a time``)."""


def clean_path(path: str) -> str:
    """pachd's ``CleanPath``: absolute, no trailing slash, ``.`` and ``..`` resolved."""
    cleaned = posixpath.normpath("/" + path.strip("/"))
    return "/" if cleaned in ("", "//") else cleaned


def validate(number: int, reverse: bool) -> None:
    """pachd's ``validatePagination``: ValueError (INVALID_ARGUMENT) for a reverse page without a
    size, or a page over ``MAX_PAGE``."""
    if number == 0 and reverse:
        raise ValueError("number must be > 0 when reverse is true")
    if number > MAX_PAGE:
        raise ValueError(f"cannot return more than {MAX_PAGE} files at a time")


def paginate(
    infos: list[pfs_pb2.FileInfo], marker: pfs_pb2.File | None, number: int, reverse: bool
) -> list[pfs_pb2.FileInfo]:
    """One page of ``infos`` (any order; sorted here by PFS path) for ``marker``/``number``/``reverse``."""
    validate(number, reverse)
    ordered = sorted(infos, key=lambda fi: fi.file.path)
    if marker is not None:
        bound, skip = marker.path, clean_path(marker.path)
        if reverse:
            ordered = [fi for fi in ordered if fi.file.path < bound]
        else:
            ordered = [fi for fi in ordered if fi.file.path >= bound]
        ordered = [fi for fi in ordered if clean_path(fi.file.path) != skip]
    if reverse:
        return list(reversed(ordered[-number:]))
    return ordered[:number] if number > 0 else ordered
