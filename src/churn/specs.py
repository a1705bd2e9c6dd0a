"""A set of rendered pipeline specs: reading it from disk, walking inputs, dependency order.

churn's one copy of these rules, used by render, validate, deploy and demo. It is the seam where churn
will switch to ``pachlet.spec``'s input visitor and dependency order: nothing else in churn walks an
input tree or orders pipelines.

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

LEAF_KINDS = ("pfs", "cron")
COMPOSITE_KINDS = ("cross", "union", "join", "group")


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
    """``(kind, leaf, path)`` for every leaf input (``pfs`` / ``cron``) below an input node, depth first;
    ``path`` is the leaf's place below ``path`` (e.g. ``["input", "cross", 1, "pfs"]``)."""
    if not isinstance(node, Mapping):
        return
    for kind in LEAF_KINDS:
        if isinstance(node.get(kind), Mapping):
            yield kind, node[kind], [*path, kind]
    for kind in COMPOSITE_KINDS:
        for i, child in enumerate(node.get(kind) or []):
            yield from walk_inputs(child, [*path, kind, i])


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
    """Pipeline names ordered so every pipeline follows the pipelines it reads; among pipelines ready at
    the same time the order of ``specs`` is kept. A cycle (a self-read included) raises SpecError."""
    deps = {name: {r for r in input_repos(spec.get("input")) if r in specs} for name, spec in specs.items()}
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(specs):
        ready = [n for n in specs if n not in placed and deps[n] <= placed]
        if not ready:
            stuck = sorted(n for n in specs if n not in placed)
            raise SpecError(f"pipelines {', '.join(stuck)} read each other's output (a cycle)")
        order.extend(ready)
        placed.update(ready)
    return order


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
        for spec in json_documents(path):
            name = ((spec.get("pipeline") or {}) if isinstance(spec, dict) else {}).get("name")
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


def json_documents(path: Path) -> list[Any]:
    """The JSON values of a file holding one value, a list of them, or a stream (pachctl's ``-f``)."""
    text = path.read_text()
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    pos = 0
    try:
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            doc, pos = decoder.raw_decode(text, pos)
            docs.extend(doc if isinstance(doc, list) else [doc])
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    return docs
