"""A set of rendered pipeline specs: reading it from disk, walking inputs, dependency order.

Used by render, validate, deploy and demo; the input walk and the order are ``pachlet.spec``'s (one
visitor, one order), in the shapes churn's callers use. Nothing else in churn walks an input tree or
orders pipelines.

Cycle rule (as pachd v2.7.6 defines it: ``CreateBranch`` in src/server/pfs/server/driver.go refuses a
branch whose provenance holds its own repo): a set whose pipelines read each other's output, or a
pipeline reading its own output, has no dependency order and is an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churn.errors import SpecError
from pachlet.errors import SpecError as PachletSpecError
from pachlet.spec import dependency_order as pachlet_dependency_order
from pachlet.spec import load_spec_file, visit_inputs

LEAF_KINDS = ("pfs", "cron")


@dataclass(frozen=True)
class SpecFile:
    """One pipeline spec read from disk: its name, file, raw dict and the parsed request."""

    name: str
    path: Path
    spec: dict[str, Any]
    request: Any  # pps_pb2.CreatePipelineRequest


# --------------------------------------------------------------------------- inputs


def json_path(parts: Iterable[Any]) -> str:
    """``["input", "cross", 0]`` as ``$.input.cross[0]`` (how validation names a place in a spec)."""
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def walk_inputs(node: Any, path: Sequence[Any] = ()) -> Iterator[tuple[str, Mapping[str, Any], list[Any]]]:
    """``(kind, leaf, path)`` for every leaf input (``pfs`` / ``cron``) below an input node, in spec
    order (``pachlet.spec.visit_inputs``); ``path`` is the leaf's place below ``path`` (e.g.
    ``["input", "cross", 1, "pfs"]``)."""
    for item in visit_inputs(node, path=tuple(path)):
        if item.kind in LEAF_KINDS and isinstance(item.node.get(item.kind), Mapping):
            yield item.kind, item.node[item.kind], [*item.path, item.kind]


def input_repos(node: Any) -> list[str]:
    """Repos of every pfs input below an input node (cron inputs excluded), in walk order."""
    return [leaf["repo"] for kind, leaf, _ in walk_inputs(node) if kind == "pfs" and leaf.get("repo")]


def cron_repos(spec: Mapping[str, Any]) -> list[str]:
    """The repos of a spec's cron inputs (``repo``, else ``<pipeline>_<name>`` as pachd names them)."""
    name = spec["pipeline"]["name"]
    return [
        leaf.get("repo") or f"{name}_{leaf.get('name')}"
        for kind, leaf, _ in walk_inputs(spec.get("input"))
        if kind == "cron"
    ]


def dependency_order(specs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Pipeline names, each after the pipelines it reads (``pachlet.spec.dependency_order``: ties by
    name). A cycle (a self-read included) raises SpecError naming it."""
    try:
        return pachlet_dependency_order(specs)
    except PachletSpecError as exc:
        raise SpecError(str(exc)) from None


# --------------------------------------------------------------------------- reading specs


def find_specs_dir(target: str, start: Path | None = None) -> Path:
    """``specs/<target>`` in the first directory at or above ``start`` (default: cwd) that has it, else
    next to the installed package's project."""
    here = (start or Path.cwd()).absolute()
    for d in (here, *here.parents):
        if (d / "specs" / target).is_dir():
            return d / "specs" / target
    project = Path(__file__).resolve().parents[2] / "specs" / target
    if project.is_dir():
        return project
    raise SpecError(
        f"no specs/{target} directory found at or above {here} (render the specs first: churn render)"
    )


def load_specs(specs_dir: Path) -> list[SpecFile]:
    """Every pipeline spec (``*.json``: one object, a list, or a JSON stream) under ``specs_dir``, each
    parsed by python-pachyderm; names must be unique."""
    import python_pachyderm
    from google.protobuf import json_format

    files = sorted(specs_dir.glob("*.json"))
    if not files:
        raise SpecError(f"{specs_dir}: no *.json pipeline specs")
    out: list[SpecFile] = []
    seen: dict[str, Path] = {}
    for path in files:
        for spec in _spec_documents(path):
            name = (spec.get("pipeline") or {}).get("name")
            if not name:
                raise SpecError(f"{path}: spec without pipeline.name")
            if name in seen:
                raise SpecError(f"{path}: pipeline {name} is also defined in {seen[name]}")
            try:
                request = python_pachyderm.parse_dict_pipeline_spec(json.loads(json.dumps(spec)))
            except json_format.ParseError as exc:
                raise SpecError(f"{path}: pipeline {name}: {exc}") from None
            seen[name] = path
            out.append(SpecFile(name, path, spec, request))
    return out


def _spec_documents(path: Path) -> list[dict[str, Any]]:
    """The spec objects of one file, read by ``pachlet.spec.load_spec_file`` (an object, a list, or a
    JSON stream, as pachctl's ``-f`` reads them)."""
    try:
        return load_spec_file(path)
    except PachletSpecError as exc:
        raise SpecError(str(exc)) from None
