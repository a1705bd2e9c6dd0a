"""File previews (CSV/TSV as a table, JSON pretty-printed, text, images) and safe repo paths.

Previews read at most ``PREVIEW_BYTES`` of a file from the object store; nothing is ever executed or
interpreted as markup: the templates escape every cell and line.
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

PREVIEW_BYTES = 1 << 20
CSV_ROWS = 200
CSV_COLUMNS = 60
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}


class UnsafePathError(ValueError):
    """A repo path in a URL that tries to leave its directory (``..``), or holds NUL or backslashes."""


def safe_repo_path(path: str) -> str:
    """``path`` from a URL as a repo path (``/a/b``); raises ``UnsafePathError`` for ``..``, ``.``
    segments, backslashes, NUL or other control characters. Empty means the root ``/``."""
    if any(ch in path for ch in ("\\", "\x00")) or any(ord(ch) < 32 for ch in path):
        raise UnsafePathError(f"invalid path {path!r}")
    parts = [x for x in path.split("/") if x != ""]
    if any(x in (".", "..") for x in parts):
        raise UnsafePathError(f"invalid path {path!r}: '.' and '..' are not allowed")
    return "/" + "/".join(parts)


@dataclass
class Preview:
    """What a file page shows: ``kind`` is csv, json, text, image or binary."""

    kind: str
    size: int
    truncated: bool = False
    text: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    mime: str = ""


def content_type(path: str) -> str:
    """The type a raw download is served with: images (for ``<img>``) as themselves, everything else
    as ``application/octet-stream`` (never HTML or SVG that could run script on the console's origin)."""
    return IMAGE_TYPES.get(PurePosixPath(path).suffix.lower(), "application/octet-stream")


def _decode(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3:  # cut in the middle of a character at the preview limit
            return data[: exc.start].decode("utf-8", errors="replace")
        return None


def preview_file(object_path: Path, repo_path: str) -> Preview:
    """A preview of the file at ``object_path`` (its name in the repo is ``repo_path``)."""
    size = object_path.stat().st_size
    suffix = PurePosixPath(repo_path).suffix.lower()
    if suffix in IMAGE_TYPES:
        return Preview(kind="image", size=size, mime=IMAGE_TYPES[suffix])
    with object_path.open("rb") as fh:
        data = fh.read(PREVIEW_BYTES + 1)
    truncated = len(data) > PREVIEW_BYTES
    data = data[:PREVIEW_BYTES]
    text = _decode(data)
    if text is None:
        guessed = mimetypes.guess_type(repo_path)[0] or "application/octet-stream"
        return Preview(kind="binary", size=size, mime=guessed)
    if suffix in (".csv", ".tsv"):
        rows = _csv_rows(text, "\t" if suffix == ".tsv" else ",")
        if rows:
            header, body = rows[0], rows[1:]
            return Preview(
                kind="csv",
                size=size,
                truncated=truncated or len(body) > CSV_ROWS or len(header) > CSV_COLUMNS,
                header=header[:CSV_COLUMNS],
                rows=[r[:CSV_COLUMNS] for r in body[:CSV_ROWS]],
            )
    looks_json = suffix == ".json" or (suffix == "" and text.lstrip()[:1] in ("{", "["))
    if looks_json and not truncated:
        try:
            pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            return Preview(kind="json", size=size, text=pretty)
        except ValueError:
            pass
    return Preview(kind="text", size=size, truncated=truncated, text=text)


def _csv_rows(text: str, delimiter: str) -> list[list[str]]:
    try:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        out: list[list[str]] = []
        for row in reader:
            out.append(row)
            if len(out) > CSV_ROWS + 1:
                break
        return out
    except csv.Error:
        return []
