"""Pipeline dependency order: which pipelines read which pipelines' output repos, cycles, and a
topological order (upstream first)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pachlet.errors import SpecError
from pachlet.spec.inputs import cron_inputs, input_repos
from pachlet.spec.normalize import pipeline_name


def _upstream(spec: Mapping[str, Any]) -> list[str]:
    """Repos a pipeline reads (pfs only; cron repos belong to the pipeline itself)."""
    pipeline = pipeline_name(spec) or ""
    return [repo for _, repo, _ in input_repos(spec.get("input"), pipeline) if not _is_cron_repo(spec, repo)]


def _is_cron_repo(spec: Mapping[str, Any], repo: str) -> bool:
    return any(c["repo"] == repo for c in cron_inputs(spec))


def find_cycle(
    name: str, spec: Mapping[str, Any], pipelines: Mapping[str, Mapping[str, Any]]
) -> list[str] | None:
    """The cycle ``[name, ..., name]`` that ``spec`` closes with ``pipelines`` (repo == pipeline name)."""
    graph: dict[str, list[str]] = {p: _upstream(s) for p, s in pipelines.items()}
    graph[name] = _upstream(spec)

    # Walk upstream from ``name``: a path back to ``name`` is a cycle.
    stack: list[tuple[str, list[str]]] = [(name, [name])]
    seen: set[str] = set()
    while stack:
        node, trail = stack.pop()
        for up in graph.get(node, []):
            if up == name:
                return [*trail, name][::-1]
            if up in graph and up not in seen:
                seen.add(up)
                stack.append((up, [*trail, up]))
    return None


def dependency_order(specs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The pipelines of ``specs`` (name -> spec), each after the pipelines whose output repos it reads
    (ties by name). Input repos that are not in ``specs`` are external. A cycle raises ``SpecError``
    naming the pipelines on it."""
    graph = {
        name: sorted({r for r in _upstream(spec) if r in specs and r != name}) for name, spec in specs.items()
    }
    for name, spec in specs.items():
        if name in _upstream(spec):
            raise SpecError(f"pipeline dependency cycle: {name} -> {name}", pipeline=name)
    order: list[str] = []
    done: set[str] = set()
    pending = set(graph)
    while pending:
        ready = sorted(n for n in pending if all(u in done for u in graph[n]))
        if not ready:
            start = min(pending)
            cycle = find_cycle(start, specs[start], {n: specs[n] for n in pending if n != start}) or sorted(
                pending
            )
            raise SpecError(f"pipeline dependency cycle: {' -> '.join(cycle)}", pipeline=start)
        for n in ready:
            order.append(n)
            done.add(n)
            pending.discard(n)
    return order
