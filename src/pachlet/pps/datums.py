"""Inputs -> datums, the way Pachyderm 2.x's worker computes them (src/server/worker/datum/).

Everything here is pure: the caller hands in a ``Resolver`` that returns the files of a branch's head
commit, and gets back the datums in the order ``pachctl list datum`` shows them.

Semantics, read from the Pachyderm 2.7 source:

- **pfs**: PFS ``GlobFile`` (src/server/pfs/server/driver_file.go) matches the glob against every path of
  the commit: each file and each directory (written ``/dir/``, directories are inserted for every file's
  parents by ``fileset.NewDirInserter``). ``/`` matches the root only for the glob ``/``. Each match is a
  datum; a matched directory brings its whole subtree, and a path inside it that also matches is a datum
  of its own (the index filter keeps walking children, and ``globFile`` emits every matching path).
  An empty commit has no paths, so even ``/`` gives no datum.
- **cron**: a pfs input on ``<pipeline>_<name>`` (or its ``repo``), branch ``master``, glob ``/*``.
- **cross**: nested iteration, the first input outermost (``iterate`` in worker.go); an input with no
  datums gives no datums. **union**: each input's datums. **join**: datums grouped by ``joinOn`` of every
  input; for each key the cross product of the inputs that have it; when an input lacks the key, each
  combination keeps only its ``outerJoin`` inputs (``processMergeTask``). **group**: one datum per
  ``groupBy`` key with every matching input of every group member.
- The children of cross/union/join/group are taken in the order of the normalized spec: pachd's
  ``setInputDefaults`` runs ``pps.SortInput`` once, at creation, before it fills in default names
  (``normalize_spec`` does the same), so named inputs come sorted by name and unnamed ones keep their
  spec order; the worker does not sort again.
- Every intermediate datum set is a file set keyed ``/meta/<datum ID>/meta``: datums come out sorted by
  datum ID, and a datum ID produced twice (a union of overlapping inputs) is kept once (the first).
- **datum ID**: exactly ``common.DatumID``: BLAKE2b-256 over, for each input, name, repo, branch and path,
  each followed by its length as a big-endian int64; hex. The path is PFS's (``/dir/`` for directories).
- **datum hash**: as ``common.HashDatum``: BLAKE2b-256 of the ID, each input's content hash, and the
  pipeline salt. A file input's content hash is the file's hash; a directory input's hash covers its
  files' hashes in path order and not their names, as PFS's directory hash does (``index.go``
  ``computeHash`` over the children's hashes), so a rename inside a directory datum with the same content
  is skipped, as on pachd.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pachlet.errors import NotFoundError, SpecError
from pachlet.pfs.glob import Glob, GlobError
from pachlet.pfs.paths import clean_path
from pachlet.spec.inputs import INPUT_KINDS


@dataclass(frozen=True)
class FileInfo:
    """One file of a commit: ``path`` like ``/dir/a.csv``, ``hash`` its content hash, ``size`` in bytes."""

    path: str
    hash: str
    size: int


@dataclass(frozen=True)
class CommitFiles:
    """The files of one commit (the head of ``repo@branch``)."""

    repo: str
    branch: str
    commit_id: str
    files: tuple[FileInfo, ...]


Resolver = Callable[[str, str], CommitFiles | None]
"""``(repo, branch) -> head commit`` (None when the branch has no commit); raises NotFoundError."""


@dataclass(frozen=True)
class DatumInput:
    """One input of a datum: a glob match in ``repo@commit_id``.

    ``path`` is the matched path as PFS reports it: a file ``/a/b.csv``, a directory ``/a/`` (trailing
    slash), the root ``/``. ``files`` are the files the datum sees at ``/pfs/<name><path>`` (the file, or
    every file under the directory), sorted by path.
    """

    name: str
    repo: str
    branch: str
    commit_id: str
    glob: str
    path: str
    files: tuple[FileInfo, ...]
    join_on: str = ""
    group_by: str = ""
    outer_join: bool = False
    lazy: bool = False
    empty_files: bool = False

    @property
    def is_dir(self) -> bool:
        """Whether the matched path is a directory (or the root)."""
        return self.path.endswith("/")

    def content_hash(self) -> bytes:
        """The input's content hash: the file's hash, or a hash over a directory's files' hashes in path
        order (names not included, as PFS's directory hash)."""
        if not self.is_dir and len(self.files) == 1 and self.files[0].path == self.path:
            return self.files[0].hash.encode()
        return directory_hash(self.path, self.files).encode()


@dataclass(frozen=True)
class Datum:
    """A datum: its ID (stable across commits for the same paths) and its inputs in Pachyderm's order."""

    id: str
    inputs: tuple[DatumInput, ...]

    def hash(self, salt: str) -> str:
        """The datum hash: changes iff the content of any input or the pipeline salt changes."""
        h = hashlib.blake2b(digest_size=32)
        h.update(self.id.encode())
        for inp in self.inputs:
            h.update(inp.content_hash())
        h.update(salt.encode())
        return h.hexdigest()


def directory_hash(path: str, files: Sequence[FileInfo]) -> str:
    """A directory's hash as PFS computes it (source.go ``computeFileInfo``): a hash over its direct
    children's hashes in path order, a subdirectory's being its own directory hash. Names are not
    hashed, so renaming a file inside the directory (same content, same position) keeps the hash."""
    prefix = path if path.endswith("/") else path + "/"
    children: dict[str, list[FileInfo]] = {}
    for f in files:
        if not f.path.startswith(prefix):
            continue
        head, sep, _ = f.path[len(prefix) :].partition("/")
        children.setdefault(prefix + head + sep, []).append(f)
    h = hashlib.blake2b(digest_size=32)
    for child in sorted(children):
        members = children[child]
        h.update((directory_hash(child, members) if child.endswith("/") else members[0].hash).encode())
    return h.hexdigest()


def _write_sized(h: Any, s: str) -> None:
    b = s.encode()
    h.update(b)
    h.update(struct.pack(">q", len(b)))


def datum_id(inputs: Iterable[DatumInput]) -> str:
    """Pachyderm's ``common.DatumID`` (BLAKE2b-256 of name, repo, branch, path with their lengths)."""
    h = hashlib.blake2b(digest_size=32)
    for inp in inputs:
        _write_sized(h, inp.name)
        _write_sized(h, inp.repo)
        _write_sized(h, inp.branch)
        _write_sized(h, inp.path)
    return h.hexdigest()


def make_datum(inputs: Sequence[DatumInput]) -> Datum:
    """A Datum from its inputs, with its ID computed."""
    return Datum(id=datum_id(inputs), inputs=tuple(inputs))


# --- glob over a commit ------------------------------------------------------------------------------


def commit_paths(files: Iterable[FileInfo]) -> list[str]:
    """Every path PFS's glob walk sees: the files and all their parent directories (``/d/``), sorted."""
    paths: set[str] = set()
    for f in files:
        p = clean_path(f.path)
        paths.add(p)
        parts = p.strip("/").split("/")[:-1]
        paths.add("/")
        for i in range(1, len(parts) + 1):
            paths.add("/" + "/".join(parts[:i]) + "/")
    return sorted(paths)


def glob_commit(glob: str, files: Sequence[FileInfo]) -> list[tuple[str, tuple[FileInfo, ...]]]:
    """The glob's matches in a commit, in path order: ``(path, files under it)`` for each match."""
    g = Glob(glob)
    by_path = sorted(({clean_path(f.path): f for f in files}).items())
    if not by_path:
        return []
    out: list[tuple[str, tuple[FileInfo, ...]]] = []
    for p in commit_paths(f for _, f in by_path):
        if not g.match(p):
            continue
        if p.endswith("/"):
            sub = tuple(FileInfo(path, f.hash, f.size) for path, f in by_path if path.startswith(p))
        else:
            sub = tuple(FileInfo(path, f.hash, f.size) for path, f in by_path if path == p)
        out.append((p, sub))
    return out


# --- input tree -> datums ---------------------------------------------------------------------------


def _kind(node: dict[str, Any]) -> str:
    kinds = [k for k in INPUT_KINDS if node.get(k) is not None]
    if len(kinds) != 1:
        raise SpecError("multiple input types set" if kinds else "no input set", field="input")
    return kinds[0]


def _pfs_datums(pfs: dict[str, Any], resolve: Resolver) -> list[Datum]:
    repo = pfs.get("repo") or ""
    name = pfs.get("name") or repo
    branch = pfs.get("branch") or "master"
    glob = pfs.get("glob") or ""
    try:
        g = Glob(glob)
    except GlobError as e:
        raise SpecError(str(e), field=f"input.pfs({name}).glob") from e
    commit = resolve(repo, branch)
    if commit is None:
        return []
    join_on = pfs.get("joinOn", pfs.get("join_on", "")) or ""
    group_by = pfs.get("groupBy", pfs.get("group_by", "")) or ""
    out: list[Datum] = []
    for path, files in glob_commit(g.pattern, commit.files):
        inp = DatumInput(
            name=name,
            repo=repo,
            branch=branch,
            commit_id=commit.commit_id,
            glob=g.pattern,
            path=path,
            files=files,
            join_on=g.replace(path, join_on) if join_on else "",
            group_by=g.replace(path, group_by) if group_by else "",
            outer_join=bool(pfs.get("outerJoin", pfs.get("outer_join", False))),
            lazy=bool(pfs.get("lazy", False)),
            empty_files=bool(pfs.get("emptyFiles", pfs.get("empty_files", False))),
        )
        out.append(make_datum([inp]))
    return out


def _as_fileset(datums: Iterable[Datum]) -> list[Datum]:
    """A datum file set: sorted by ID, first datum of a duplicated ID kept (iterateMeta reads the first)."""
    seen: dict[str, Datum] = {}
    for d in datums:
        seen.setdefault(d.id, d)
    return [seen[k] for k in sorted(seen)]


def _keyed(datums: Sequence[Datum], attr: str) -> dict[str, list[DatumInput]]:
    """processKeyTask: every input of every datum, appended under its joinOn / groupBy key."""
    keyed: dict[str, list[DatumInput]] = {}
    for d in datums:
        for inp in d.inputs:
            keyed.setdefault(getattr(inp, attr), []).append(inp)
    return keyed


def _key_order(keys: Iterable[str]) -> list[str]:
    return sorted(keys, key=lambda k: hashlib.blake2b(k.encode(), digest_size=32).hexdigest())


def _node_datums(node: dict[str, Any], pipeline: str, resolve: Resolver) -> list[Datum]:
    kind = _kind(node)
    if kind == "pfs":
        return _as_fileset(_pfs_datums(node["pfs"], resolve))
    if kind == "cron":
        cron = node["cron"]
        name = cron.get("name") or ""
        pfs = {
            "name": name,
            "repo": cron.get("repo") or f"{pipeline}_{name}",
            "branch": "master",
            "glob": "/*",
        }
        return _as_fileset(_pfs_datums(pfs, resolve))
    children = [_node_datums(c, pipeline, resolve) for c in node[kind]]
    if kind == "union":
        return _as_fileset(d for ds in children for d in ds)
    if kind == "cross":
        if not children:
            return []
        return _as_fileset(
            make_datum([inp for d in combo for inp in d.inputs]) for combo in itertools.product(*children)
        )
    attr = "join_on" if kind == "join" else "group_by"
    keyed = [_keyed(ds, attr) for ds in children]
    out: list[Datum] = []
    for key in _key_order({k for kd in keyed for k in kd}):
        present = [kd[key] for kd in keyed if key in kd]
        if kind == "group":
            out.append(make_datum([inp for inputs in present for inp in inputs]))
            continue
        for combo in itertools.product(*present):
            if len(combo) == len(children):
                out.append(make_datum(combo))
                continue
            kept = [inp for inp in combo if inp.outer_join]
            if kept:
                out.append(make_datum(kept))
    return _as_fileset(out)


def compute_datums(input_spec: dict[str, Any] | None, pipeline: str, resolve: Resolver) -> list[Datum]:
    """The datums ``input_spec`` (camelCase or snake_case) produces now, in ``pachctl list datum`` order.

    ``pipeline`` names cron repos (``<pipeline>_<input name>``). A branch with no commit (``resolve``
    returns None) or with no matching path contributes no datum. No input (a spout) gives no datum.
    """
    if not input_spec:
        return []
    return _node_datums(input_spec, pipeline, resolve)


def datums_for_spec(spec: dict[str, Any], resolve: Resolver) -> list[Datum]:
    """``compute_datums`` for a whole pipeline spec (``pachlet list datum -f``)."""
    pipeline = (spec.get("pipeline") or {}).get("name") or ""
    return compute_datums(spec.get("input"), pipeline, resolve)


def resolver_from(commits: dict[tuple[str, str], CommitFiles | None]) -> Resolver:
    """A Resolver over an in-memory ``{(repo, branch): CommitFiles}``; unknown repos raise NotFoundError."""
    repos = {r for r, _ in commits}

    def resolve(repo: str, branch: str) -> CommitFiles | None:
        if repo not in repos:
            raise NotFoundError(f"repo {repo} not found")
        return commits.get((repo, branch))

    return resolve
