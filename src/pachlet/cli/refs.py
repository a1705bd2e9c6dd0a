"""Argument forms of pachctl: ``REPO[@BRANCH_OR_COMMIT][:PATH]``, ``PIPELINE@JOB_ID`` and ``k=v`` pairs.

Parsing is pure (no backend); ``resolve_ref`` follows a parsed ref's ancestry through a backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pachlet.errors import NotFoundError, PachletError
from pachlet.names import COMMIT_ID_RE, NAME_RE

if TYPE_CHECKING:
    from pachlet.cli.backend import Backend


class RefError(PachletError):
    """A malformed ``repo@ref:path`` (or ``pipeline@job``) argument."""


@dataclass(frozen=True)
class Ref:
    """A parsed ``REPO[@BRANCH_OR_COMMIT][:PATH]`` argument, read as pachctl's ParseFile/ParseCommit do.

    ``branch`` and ``commit_id`` are exclusive unless the ``branch=commit`` form was used; ``ancestry``
    counts generations back (``master^``, ``master^2``, ``master^^``), or with ``from_start`` the n-th
    commit of the branch from its first (``master.1``), as in Pachyderm's ancestry syntax.
    """

    repo: str
    branch: str = ""
    commit_id: str = ""
    path: str = ""
    ancestry: int = 0
    from_start: bool = False
    has_ref: bool = False

    @property
    def ref(self) -> str:
        """The commit ID if one was given, else the branch (default ``master``)."""
        return self.commit_id or self.branch or "master"


def _parse_ancestry(text: str, arg: str) -> tuple[str, int, bool]:
    idx = min((i for i in (text.find("^"), text.find(".")) if i >= 0), default=-1)
    if idx < 0:
        return text, 0, False
    sep, tail = text[idx], text[idx + 1 :]
    base = text[:idx]
    if tail.isdigit():
        return base, int(tail), sep == "."
    if tail.strip(sep) == "":
        return base, len(text) - idx, sep == "."
    raise RefError(f'invalid format "{arg}": invalid ancestry syntax {text!r}, cannot mix ^ and . characters')


def parse_ref(arg: str, *, allow_path: bool = True, require_ref: bool = False) -> Ref:
    """Parse ``repo[@branch-or-commit][:path]`` like pachctl (``RefError`` names the argument).

    A 32-hex-character ref is a commit ID, anything else a branch name; ``branch=commitid`` pins both;
    ``^``/``.`` ancestry suffixes are accepted; a path without a leading ``/`` gets one.
    """
    repo, at, rest = arg.partition("@")
    if repo == "":
        raise RefError(f'invalid format "{arg}": repo cannot be empty')
    if not at and ":" in repo:
        raise RefError(
            f'invalid format "{arg}": expected repo@branch:/path (the branch or commit is missing)'
        )
    if not NAME_RE.match(repo):
        raise RefError(
            f'invalid format "{arg}": repo name {repo!r} may only contain letters, digits, "_" and "-"'
        )
    if not at:
        if require_ref:
            raise RefError(f'invalid format "{arg}": expected repo@branch or repo@commit')
        return Ref(repo=repo)
    ref, colon, path = rest.partition(":")
    if colon and not allow_path:
        raise RefError(f'invalid format "{arg}": a path is not allowed here (expected repo@branch)')
    if ref == "":
        raise RefError(f'invalid format "{arg}": commit cannot be empty')
    if path and not path.startswith("/"):
        path = "/" + path
    base, ancestry, from_start = _parse_ancestry(ref, arg)
    branch, eq, commit_id = base.partition("=")
    if eq:
        if not COMMIT_ID_RE.match(commit_id):
            raise RefError(f'invalid format "{arg}": {commit_id!r} is not a commit ID (32 hex characters)')
    elif COMMIT_ID_RE.match(base):
        branch, commit_id = "", base
    if branch and not NAME_RE.match(branch):
        raise RefError(
            f'invalid format "{arg}": branch name {branch!r} may only contain letters, digits, "_" and "-"'
        )
    if not branch and not commit_id:
        raise RefError(f'invalid format "{arg}": commit cannot be empty')
    return Ref(repo, branch, commit_id, path, ancestry, from_start, True)


def parse_job_ref(arg: str) -> tuple[str, str]:
    """Parse ``pipeline@job_id`` (both required)."""
    pipeline, at, job_id = arg.partition("@")
    if not pipeline:
        raise RefError(f'invalid format "{arg}": pipeline cannot be empty (expected pipeline@job_id)')
    if not at or not job_id:
        raise RefError(f'invalid format "{arg}": job ID cannot be empty (expected pipeline@job_id)')
    if not NAME_RE.match(pipeline):
        raise RefError(f'invalid format "{arg}": pipeline name {pipeline!r} is not valid')
    return pipeline, job_id


def parse_key_values(pairs: Sequence[str], what: str = "--arg") -> dict[str, str]:
    """``k=v`` strings -> dict (``RefError`` naming the bad pair)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise RefError(f"{what} {pair!r}: expected key=value")
        out[key] = value
    return out


def resolve_ref(backend: Backend, ref: Ref) -> str:
    """The commit ID or branch a parsed ref names, following ``^n`` / ``.n`` ancestry."""
    if not ref.ancestry and not ref.from_start:
        return ref.ref
    info = backend.inspect_commit(ref.repo, ref.ref)
    if ref.from_start:
        chain = [info]
        while chain[-1].HasField("parent_commit") and chain[-1].parent_commit.id:
            chain.append(backend.inspect_commit(ref.repo, chain[-1].parent_commit.id))
        chain.reverse()
        if ref.ancestry < 1 or ref.ancestry > len(chain):
            raise NotFoundError(f"{ref.repo}@{ref.ref}.{ref.ancestry}: the branch has {len(chain)} commit(s)")
        return chain[ref.ancestry - 1].commit.id
    for _ in range(ref.ancestry):
        if not (info.HasField("parent_commit") and info.parent_commit.id):
            raise NotFoundError(f"{ref.repo}@{ref.ref}^{ref.ancestry}: commit {info.commit.id} has no parent")
        info = backend.inspect_commit(ref.repo, info.parent_commit.id)
    return info.commit.id
