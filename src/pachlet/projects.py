"""Projects (pachd 2.5+): the one rule for naming an object of a project, and the pipeline spec's
project fields.

Every repo, branch, commit, pipeline and job lives in a project. pachlet names an object of the
``default`` project by its bare name (``images``), as every root made before projects did, and an
object of another project by the qualified name ``project/name`` (``audio/images``): ``/`` cannot occur
in a valid name (``pachlet.names``), so the form is unambiguous, and it is what pachd's
``Repo.String()`` prints for a user repo of a project (src/pfs/pfs.go). Only this module builds or
splits qualified names.

A stored pipeline spec is *internal*: ``pipeline.name`` and each input's ``pfs.repo`` / ``cron.repo``
are qualified and the ``project`` fields are gone (``internal_spec``); ``external_spec`` gives back the
spec a client reads, with pachd's project fields (api_server.go ``validateInput`` defaults each input's
project to the pipeline's).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from pachlet.errors import PachletError

DEFAULT_PROJECT = "default"
"""pachd's ``pfs.DefaultProjectName``."""

PROJECT_NAME_LIMIT = 63 - 8 - len("-v99")
"""pachd's ``projectNameLimit`` (src/pfs/pfs.go): 51 characters."""

_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
SEP = "/"


def qualify(project: str | None, name: str) -> str:
    """The internal name of ``name`` in ``project`` (empty or ``default``: the bare name)."""
    if not project or project == DEFAULT_PROJECT:
        return name
    return f"{project}{SEP}{name}"


def split(qualified: str) -> tuple[str, str]:
    """``(project, name)`` of an internal name (``default`` when it is bare)."""
    project, sep, name = qualified.partition(SEP)
    return (project, name) if sep else (DEFAULT_PROJECT, qualified)


def project_of(qualified: str) -> str:
    """The project of an internal name."""
    return split(qualified)[0]


def bare(qualified: str) -> str:
    """The name without its project."""
    return split(qualified)[1]


def in_project(qualified: str, project: str) -> bool:
    """Whether an internal name belongs to ``project``."""
    return project_of(qualified) == (project or DEFAULT_PROJECT)


def path_segment(qualified: str) -> str:
    """One safe path component for an internal name (log and scratch directories): the bare name in
    the default project, ``project@name`` elsewhere (``@`` occurs in no valid name, so a project's
    directories never meet a default-project pipeline's)."""
    project, name = split(qualified)
    return name if project == DEFAULT_PROJECT else f"{project}@{name}"


def project_name_error(name: str) -> str | None:
    """pachd's ``Project.ValidateName`` message for an invalid project name, else None."""
    if name == DEFAULT_PROJECT:
        return None
    if len(name) > PROJECT_NAME_LIMIT:
        return (
            f'project name "{name}" is {len(name) - PROJECT_NAME_LIMIT} characters longer than the '
            f"{PROJECT_NAME_LIMIT} max"
        )
    if not _NAME.match(name or ""):
        return f"name ({name}) invalid: only alphanumeric characters, underscores, and dashes are allowed"
    if not (name[0].isascii() and name[0].isalnum()):
        return "project names must start with an alphanumeric character"
    return None


def check_project_name(name: str) -> None:
    """Raise pachd's ``invalid project name: ...`` error unless ``name`` is a valid project name."""
    message = project_name_error(name)
    if message:
        raise PachletError(f"invalid project name: {message}")


def _inputs(node: Any) -> list[dict[str, Any]]:
    """Every input node of an input tree (composites included)."""
    if not isinstance(node, dict):
        return []
    out = [node]
    for kind in ("cross", "union", "join", "group"):
        for child in node.get(kind) or []:
            out.extend(_inputs(child))
    return out


def spec_project(spec: Mapping[str, Any]) -> str:
    """The project a (client's, external) spec names for its pipeline (``default`` when none)."""
    pipeline = spec.get("pipeline")
    project = (pipeline.get("project") or {}) if isinstance(pipeline, Mapping) else {}
    return (project.get("name") if isinstance(project, Mapping) else None) or DEFAULT_PROJECT


def internal_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of a normalized spec: qualified pipeline, input and cron repo names, no
    ``project`` fields. A default-project spec comes back unchanged but for empty project fields."""
    out = copy.deepcopy(dict(spec))
    pipeline = out.get("pipeline")
    if not isinstance(pipeline, dict):  # an input alone (``list datum -f``): read in the default project
        pipeline = {}
    project = spec_project(out)
    pipeline.pop("project", None)
    if pipeline.get("name"):
        pipeline["name"] = qualify(project, pipeline["name"])
    for node in _inputs(out.get("input")):
        for kind in ("pfs", "cron"):
            leaf = node.get(kind)
            if not isinstance(leaf, dict):
                continue
            own = (leaf.pop("project", None) or project) if kind == "pfs" else project
            leaf.pop("project", None)
            if kind == "cron" and not leaf.get("repo") and leaf.get("name"):
                leaf["repo"] = f"{bare(pipeline.get('name') or '')}_{leaf['name']}"
            if leaf.get("repo"):
                leaf["repo"] = qualify(own, leaf["repo"])
    return out


def external_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec as a client reads it back: bare names with pachd's ``project`` fields for a pipeline
    outside the default project (a default-project spec is returned as stored, without them)."""
    out = copy.deepcopy(dict(spec))
    pipeline = out.get("pipeline")
    if not isinstance(pipeline, dict) or not pipeline.get("name"):
        return out
    project, name = split(pipeline["name"])
    if project == DEFAULT_PROJECT and not any(
        SEP in str((node.get("pfs") or {}).get("repo") or "") for node in _inputs(out.get("input"))
    ):
        return out
    pipeline["name"] = name
    pipeline["project"] = {"name": project}
    for node in _inputs(out.get("input")):
        for kind in ("pfs", "cron"):
            leaf = node.get(kind)
            if isinstance(leaf, dict) and leaf.get("repo"):
                leaf_project, leaf["repo"] = split(leaf["repo"])
                leaf["project"] = leaf_project
    return out
