"""``put file`` as pachctl 2.7.6 plans it (src/server/pfs/cmds/cmds.go: the ``putFile`` command and
``putFileHelper``), kept apart from the other file verbs because the naming rules are the whole point.

Naming (pachctl's three cases):

- no path in ``repo@branch``: each source lands at its base name (``--full-path``: at its whole path),
  and ``-f -`` is refused ("must specify filename when reading data from stdin");
- a path and one source: the source lands exactly at the path; with ``-r`` the directory's *contents*
  land under it (``repo@master:/ -f dir`` puts ``dir/f1`` at ``/f1``, ``:/x -f dir`` at ``/x/f1``);
- a path and several sources: each lands at ``path/<base name>``.

``--untar`` puts the entries of a ``.tar`` / ``.tar.gz`` / ``.tgz`` source at their own names (pachctl's
``PutFileTAR`` ignores the target path), overwriting unless ``-a``. URL sources are PutFileURL's job on
the server (or the local root): a `url` op names the source, `url-tree` one put recursively.
"""

from __future__ import annotations

import csv
import os
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

from pachlet.errors import PachletError
from pachlet.pfs.urls import is_url

STDIN = "-"


@dataclass(frozen=True)
class PutOp:
    """One write of a ``put file``: ``kind`` is ``file`` (``source`` a local path or ``-``), ``tree`` (a
    local directory whose contents go under ``path``), ``tar`` (a tar stream, entries at their names), ``url``
    or ``url-tree`` (``source`` a URL, fetched by PutFileURL; ``url-tree`` recursively)."""

    kind: str
    path: str
    source: str


def split_sources(values: Iterable[str]) -> list[str]:
    """``-f a,b -f c`` -> ``[a, b, c]``: pachctl's ``-f`` is a cobra StringSlice, read as CSV."""
    out: list[str] = []
    for value in values:
        out.extend(next(csv.reader([value])) if value else [value])
    return out


def refuse_url_list(source: str) -> PachletError:
    """The error for ``-i URL``: pachlet reads the list of sources from a local file or stdin only."""
    return PachletError(f"put file -i {source}: a list of sources is read from a local file or - (stdin)")


def clean(path: str) -> str:
    """pachd's ``CleanPath``: an absolute, ``path.Clean``-ed PFS path."""
    return posixpath.normpath("/" + path.lstrip("/")) if path.strip("/") else "/"


def _base(source: str) -> str:
    """Go's ``filepath.Base``."""
    trimmed = source.rstrip("/")
    if not trimmed:
        return "/" if source else "."
    return trimmed.rsplit("/", 1)[-1]


def read_input_file(input_file: str, stdin: BinaryIO) -> list[str]:
    """The sources of ``-i FILE`` (``-`` is stdin): one per line, blank lines skipped."""
    if input_file == STDIN:
        text = stdin.read().decode()
    elif is_url(input_file):
        raise refuse_url_list(input_file)
    else:
        try:
            text = Path(input_file).read_text()
        except OSError as e:
            raise PachletError(f"put file -i {input_file}: {e.strerror or e}") from None
    return [line for line in text.splitlines() if line != ""]


def plan(path: str, sources: Sequence[str], *, recursive: bool, untar: bool, full_path: bool) -> list[PutOp]:
    """The writes of one ``put file``, in pachctl's order, every local source checked before anything
    is written (``PachletError`` names the source)."""
    ops: list[PutOp] = []
    for source in sources:
        if not path:
            if source == STDIN:
                raise PachletError("must specify filename when reading data from stdin")
            name = urlparse(source).path if is_url(source) else source
            target = clean(name if full_path else _base(name))
        elif len(sources) == 1:
            target = clean(path)
        else:
            target = clean(posixpath.join(path, source if full_path else _base(source)))
        ops.extend(_helper(target, source, recursive, untar))
    return ops


def _helper(path: str, source: str, recursive: bool, untar: bool) -> list[PutOp]:
    """pachctl's ``putFileHelper`` for one source."""
    if is_url(source):  # PutFileURL: the server (or the local root) fetches it
        return [PutOp("url-tree" if recursive else "url", path, source)]
    if source == STDIN:
        if recursive:
            raise PachletError("cannot set -r and read from stdin (must also set -f or -i)")
        return [PutOp("file", path, STDIN)]
    src = os.path.normpath(source)
    if recursive:
        if not os.path.lexists(src):
            raise PachletError(f"{src} doesn't exist")
        if os.path.isdir(src):
            return _walk(path, src, untar)
    if not os.path.exists(src):
        raise PachletError(f"open {src}: no such file or directory")
    if os.path.isdir(src):
        raise PachletError(f"put file -f {source}: is a directory (use -r)")
    if untar and src.endswith((".tar", ".tar.gz", ".tgz")):
        return [PutOp("tar", path, src)]
    return [PutOp("file", path, src)]


def _walk(path: str, src: str, untar: bool) -> list[PutOp]:
    """``filepath.Walk`` of a directory: each file at ``path`` + its name relative to ``src``; a
    directory without tar files to unpack stays one ``tree`` write (the backends put trees fast)."""
    files: list[str] = []
    for root, dirs, names in os.walk(src):
        dirs.sort()
        files.extend(os.path.join(root, n) for n in sorted(names))
    if not (untar and any(f.endswith((".tar", ".tar.gz", ".tgz")) for f in files)):
        return [PutOp("tree", path, src)]
    ops: list[PutOp] = []
    for f in sorted(files):
        dest = clean(posixpath.join(path, Path(os.path.relpath(f, src)).as_posix()))
        ops.extend(_helper(dest, f, False, untar))
    return ops


def tar_entries(source: str) -> Iterable[tuple[str, bytes]]:
    """(name, bytes) of every regular entry of a ``.tar`` / ``.tar.gz`` / ``.tgz`` file, in order
    (directories skipped, as pachctl's ``PutFileTAR`` skips them)."""
    import gzip  # only ``--untar`` pays for these
    import tarfile

    opener = gzip.open if source.endswith((".tar.gz", ".tgz")) else open
    try:
        with opener(source, "rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tf:  # type: ignore[operator]
            for member in tf:
                if member.isdir():
                    continue
                if not member.isfile():
                    raise PachletError(f"put file --untar {source}: entry {member.name!r} is not a file")
                fh = tf.extractfile(member)
                yield clean(member.name), fh.read() if fh is not None else b""
    except (tarfile.TarError, OSError, EOFError) as e:
        raise PachletError(f"put file --untar {source}: not a readable tar file ({e})") from None
