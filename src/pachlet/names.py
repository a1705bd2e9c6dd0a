"""Pachyderm's naming rules, in one place: repo, pipeline, branch and commit-ID forms.

Read from pachd v2.7.6: ``ancestry.ValidateName`` allows ``[a-zA-Z0-9_-]`` in repo and pipeline names;
branch names also take dots; a commit (global) ID is a dash-less UUID4, 32 lower-case hex digits.
"""

from __future__ import annotations

import re

from pachlet.errors import PachletError

NAME_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
"""A repo, pipeline, project or secret name (pachd's ``ancestry.ValidateName``)."""

BRANCH_RE = re.compile(r"^[a-zA-Z0-9_.-]+$")
"""A branch name."""

COMMIT_ID_RE = re.compile(r"^[0-9a-f]{32}$")
"""A commit / global ID: ``uuid4().hex``."""

ANCESTRY_RE = re.compile(r"^(?P<base>.+?)(?P<ops>(?:\^+|~\d+|\.\d+)*)$")
"""A ref with optional ancestry suffixes: ``master^``, ``master~2``, ``master.1``."""


def is_commit_id(ref: str) -> bool:
    """Whether ``ref`` has the form of a commit ID rather than a branch name."""
    return bool(COMMIT_ID_RE.match(ref or ""))


def check_name(kind: str, name: str) -> None:
    """Raise pachd's error when ``name`` is not a valid ``kind`` (``repo``, ``branch``, ...) name."""
    rx = BRANCH_RE if kind == "branch" else NAME_RE
    if not rx.match(name or ""):
        allowed = "alphanumeric characters, underscores, and dashes" + (
            ", and dots" if kind == "branch" else ""
        )
        raise PachletError(f"{kind} name ({name!r}) invalid: only {allowed} are allowed")
