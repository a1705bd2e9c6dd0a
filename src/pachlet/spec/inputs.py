"""The input tree of a pipeline spec, walked in one place (like Pachyderm's ``pps.VisitInput``), and
what it names: input names, the repos and branches read, the cron inputs.

Node kinds: ``pfs`` and ``cron`` leaves; ``cross``, ``union``, ``join`` and ``group`` composites.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

INPUT_KINDS = ("pfs", "cron", "cross", "union", "join", "group")
COMPOSITE_KINDS = ("cross", "union", "join", "group")


@dataclass(frozen=True)
class InputNode:
    """One node of an input tree: its kind (``""`` when it sets none, the first one when it sets
    several), the node's dict, and its JSON path from the spec (``("input", "cross", 1, "pfs")`` minus
    the leaf key: ``("input", "cross", 1)``)."""

    kind: str
    node: dict[str, Any]
    path: tuple[str | int, ...]

    @property
    def field(self) -> str:
        """The path as a field name for error messages: ``input.cross[1]``."""
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out


def input_kind(node: Mapping[str, Any]) -> str:
    """The kind of an input node (the first one set), ``""`` when none is set."""
    return next((k for k in INPUT_KINDS if node.get(k) is not None), "")


def visit_inputs(
    input_spec: Any, *, root_last: bool = False, path: tuple[str | int, ...] = ("input",)
) -> Iterator[InputNode]:
    """Every node of an input tree, pre-order (a composite before its children), children in spec
    order. ``root_last=True`` gives pachd's ``pps.VisitInput`` order (children first, root last),
    which validation uses so the first error reported is pachd's. Leaves come in the same order
    either way. Non-dict nodes are skipped."""
    if not isinstance(input_spec, dict):
        return
    item = InputNode(input_kind(input_spec), input_spec, path)
    if not root_last:
        yield item
    for kind in COMPOSITE_KINDS:
        for i, child in enumerate(input_spec.get(kind) or []):
            yield from visit_inputs(child, root_last=root_last, path=(*path, kind, i))
    if root_last:
        yield item


def input_name(node: Mapping[str, Any]) -> str:
    """Pachyderm's ``pps.InputName``: pfs name (defaults to repo), cron ``""``, else first child's name."""
    if node.get("pfs") is not None:
        pfs = node["pfs"]
        return pfs.get("name") or pfs.get("repo") or ""
    for kind in ("cross", "join", "group", "union"):
        children = node.get(kind)
        if children is not None:
            return input_name(children[0]) if children else ""
    return ""


def sorted_children(children: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``pps.SortInput``: children in stable order of their input names."""
    return sorted(children, key=input_name)


def sort_by_filled_names(input_spec: Any) -> None:
    """The order pachlet used before it sorted at creation: every composite's children, bottom-up, by
    ``input_name`` (a pfs input's name or repo). Only for specs stored by an older pachlet."""
    if not isinstance(input_spec, dict):
        return
    for kind in COMPOSITE_KINDS:
        children = input_spec.get(kind)
        if isinstance(children, list):
            for child in children:
                sort_by_filled_names(child)
            input_spec[kind] = sorted_children(children)


def _given_name(node: Mapping[str, Any]) -> str:
    """``pps.InputName`` before defaults: a pfs input's own ``name`` only (``""`` when unset)."""
    if isinstance(node.get("pfs"), Mapping):
        return node["pfs"].get("name") or ""
    for kind in ("cross", "join", "group", "union"):
        children = node.get(kind)
        if children is not None:
            return _given_name(children[0]) if children and isinstance(children[0], Mapping) else ""
    return ""


def sort_input(input_spec: Any) -> None:
    """``pps.SortInput`` as ``setInputDefaults`` runs it, before default names are filled in: the
    children of every composite, bottom-up, in stable order of the names the spec gives them, so
    unnamed inputs keep their spec order (``cross: [zeta, alpha]`` stays ``[zeta, alpha]``)."""
    if not isinstance(input_spec, dict):
        return
    for kind in COMPOSITE_KINDS:
        children = input_spec.get(kind)
        if isinstance(children, list):
            for child in children:
                sort_input(child)
            input_spec[kind] = sorted(
                children, key=lambda c: _given_name(c) if isinstance(c, Mapping) else ""
            )


def input_repos(input_spec: Any, pipeline: str) -> list[tuple[str, str, str]]:
    """``(input name, repo, branch)`` of every pfs and cron input (cron: ``<pipeline>_<name>``, master),
    in pps.VisitInput order, each once."""
    out: list[tuple[str, str, str]] = []
    for item in visit_inputs(input_spec):
        node = item.node
        if isinstance(node.get("pfs"), Mapping):
            pfs = node["pfs"]
            repo = pfs.get("repo") or ""
            entry = (pfs.get("name") or repo, repo, pfs.get("branch") or "master")
        elif isinstance(node.get("cron"), Mapping):
            cron = node["cron"]
            name = cron.get("name") or ""
            entry = (name, cron.get("repo") or f"{pipeline}_{name}", "master")
        else:
            continue
        if entry not in out:
            out.append(entry)
    return out


def cron_inputs(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The cron inputs of a spec, each a copy with ``repo`` filled in (``<pipeline>_<name>``) and
    ``overwrite`` defaulted to False."""
    p = spec.get("pipeline")
    pipeline = (p.get("name") if isinstance(p, Mapping) else None) or ""
    out: list[dict[str, Any]] = []
    for item in visit_inputs(spec.get("input")):
        if isinstance(item.node.get("cron"), Mapping):
            cron = dict(item.node["cron"])
            cron["repo"] = cron.get("repo") or f"{pipeline}_{cron.get('name') or ''}"
            cron["overwrite"] = bool(cron.get("overwrite", False))
            out.append(cron)
    return out
