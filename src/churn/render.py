"""Render the Jsonnet pipeline definitions (pipelines/*.jsonnet) into Pachyderm pipeline specs.

A spec file is canonical JSON: camelCase keys (as the Jsonnet writes them), keys sorted, 2-space
indent, trailing newline, one file per pipeline under ``specs/<target>/<pipeline>.json``. Writing is
idempotent: a file is rewritten only when its content changes, and specs of pipelines that no longer
exist are removed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _jsonnet

from churn.errors import RenderError

TARGETS_LIBSONNET = Path("pipelines") / "targets" / "targets.libsonnet"


@dataclass(frozen=True)
class Project:
    """A churn checkout: the directory holding jsonnet/, pipelines/ and specs/."""

    root: Path

    @property
    def jsonnet_dir(self) -> Path:
        """The reusable Jsonnet library."""
        return self.root / "jsonnet"

    @property
    def pipelines_dir(self) -> Path:
        """Entry points, SQL and per-target parameters."""
        return self.root / "pipelines"

    @property
    def specs_dir(self) -> Path:
        """Committed rendered specs."""
        return self.root / "specs"

    def entry_points(self) -> list[Path]:
        """Every ``pipelines/*.jsonnet`` (each a function of ``target`` returning a list of specs)."""
        return sorted(self.pipelines_dir.glob("*.jsonnet"))


def _is_project(path: Path) -> bool:
    return (path / TARGETS_LIBSONNET).is_file() and (path / "jsonnet").is_dir()


def find_project(start: Path | None = None) -> Project:
    """The project enclosing ``start`` (default: cwd), else the checkout this package was installed from."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if _is_project(candidate):
            return Project(candidate)
    installed = Path(__file__).resolve().parents[2]
    if _is_project(installed):
        return Project(installed)
    raise RenderError(f"{here}: not inside a churn project (no {TARGETS_LIBSONNET} and jsonnet/ above it)")


def _evaluate(project: Project, *, file: Path | None = None, snippet: str | None = None, **kw: Any) -> Any:
    jpath = [str(project.jsonnet_dir), str(project.pipelines_dir)]
    try:
        if file is not None:
            text = _jsonnet.evaluate_file(str(file), jpathdir=jpath, **kw)
        else:
            text = _jsonnet.evaluate_snippet("<snippet>", snippet or "", jpathdir=jpath, **kw)
    except RuntimeError as exc:
        where = display_path(file) if file is not None else "pipelines/targets"
        first = " ".join(str(exc).strip().splitlines()[:2])
        raise RenderError(f"{where}: jsonnet error: {first}") from exc
    return json.loads(text)


def target_names(project: Project) -> list[str]:
    """Targets declared in ``pipelines/targets/targets.libsonnet``."""
    return list(_evaluate(project, snippet="(import 'targets/targets.libsonnet').names"))


def target_params(project: Project, target: str, tla: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The resolved parameters of a target (declared secrets, source repos, image policy, URL, ...)."""
    overrides = json.dumps(dict(tla or {}))
    return dict(
        _evaluate(
            project,
            snippet=f"(import 'targets/targets.libsonnet').resolve({json.dumps(target)}, {overrides})",
        )
    )


def render_target(project: Project, target: str, tla: Mapping[str, str] | None = None) -> dict[str, dict]:
    """Evaluate every entry point for ``target``; returns ``{pipeline name: spec}`` (entry-point order)."""
    if target not in target_names(project):
        raise RenderError(f"unknown target {target!r} (known: {', '.join(target_names(project))})")
    entry_points = project.entry_points()
    if not entry_points:
        raise RenderError(f"{display_path(project.pipelines_dir)}: no *.jsonnet entry points")
    specs: dict[str, dict] = {}
    for file in entry_points:
        rendered = _evaluate(project, file=file, tla_vars={"target": target, **dict(tla or {})})
        if not isinstance(rendered, list):
            rendered = [rendered]
        for spec in rendered:
            name = (spec.get("pipeline") or {}).get("name") if isinstance(spec, dict) else None
            if not name:
                raise RenderError(f"{display_path(file)}: a rendered spec has no pipeline.name")
            if name in specs:
                raise RenderError(f"{display_path(file)}: pipeline {name!r} is defined twice")
            specs[name] = spec
    return specs


def dump_spec(spec: Mapping[str, Any]) -> str:
    """Canonical text of a spec: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(spec, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_specs(specs: Mapping[str, Mapping[str, Any]], out_dir: Path) -> list[Path]:
    """Write one file per spec into ``out_dir`` and prune stale ``*.json``; returns the files changed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    changed: list[Path] = []
    for name, spec in specs.items():
        path = out_dir / f"{name}.json"
        text = dump_spec(spec)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    for stale in sorted(out_dir.glob("*.json")):
        if stale.stem not in specs:
            stale.unlink()
            changed.append(stale)
    return changed


def drift(specs: Mapping[str, Mapping[str, Any]], out_dir: Path) -> list[str]:
    """Differences between freshly rendered specs and the files in ``out_dir`` (empty: no drift)."""
    problems: list[str] = []
    for name, spec in specs.items():
        path = out_dir / f"{name}.json"
        if not path.is_file():
            problems.append(f"{display_path(path)}: missing (run `make specs`)")
        elif path.read_text(encoding="utf-8") != dump_spec(spec):
            problems.append(f"{display_path(path)}: differs from the Jsonnet (run `make specs`)")
    problems.extend(
        f"{display_path(p)}: no pipeline of that name in the Jsonnet (run `make specs`)"
        for p in sorted(out_dir.glob("*.json"))
        if p.stem not in specs
    )
    return problems


def display_path(path: Path) -> str:
    """``path`` relative to cwd when below it (error messages name ``specs/...``), else as is."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
