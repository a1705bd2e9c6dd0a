"""Validate rendered pipeline specs as one pipeline set: every problem is an :class:`Issue` printed as
``<spec file>: <JSON path>: <message>``.

:func:`validate_files` runs, per spec, the checks against Pachyderm's 2.7 proto and 2.8+ JSON schema
(``churn.pachyderm_schema``) and the semantic checks of this module (name, input shape and names, globs,
crons, secrets against the target's policy, image tags, commands), then the checks across the set
(unknown input repos, duplicate pipelines, cycles).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from churn.pachyderm_schema import check_fields, check_proto, check_schema
from churn.specs import json_path, walk_inputs
from pachlet.cronspec import parse_schedule
from pachlet.errors import PachletError
from pachlet.names import NAME_RE
from pachlet.pfs.glob import GlobError, compile_glob

DISTRIBUTION = "churn-pachlet"
FORBIDDEN_INPUT_NAMES = {"out", ".env"}
MAX_PIPELINE_NAME = 63  # pachd puts the name in Kubernetes object names


@dataclass(frozen=True, order=True)
class Issue:
    """One validation problem: the spec file, the JSON path inside it, and what is wrong."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"


@dataclass(frozen=True)
class Policy:
    """What a target allows outside the specs themselves (from pipelines/targets/<target>.libsonnet)."""

    declared_secrets: Mapping[str, frozenset[str]] = field(default_factory=dict)
    source_repos: frozenset[str] = frozenset()
    allow_floating_tags: bool = True
    native_sql_egress: bool = True

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Policy:
        """Build from a resolved target (``declaredSecrets``, ``sourceRepos``, ``allowFloatingTags``)."""
        return cls(
            declared_secrets={
                s["name"]: frozenset(s.get("keys", [])) for s in params.get("declaredSecrets", [])
            },
            source_repos=frozenset(params.get("sourceRepos", [])),
            allow_floating_tags=bool(params.get("allowFloatingTags", True)),
            native_sql_egress=bool(params.get("nativeSqlEgress", True)),
        )


# ---------------------------------------------------------------------------------------------- checks


def _input_shape(node: Any, path: list[Any]) -> list[tuple[str, str]]:
    """Each input node sets exactly one input type."""
    if not isinstance(node, dict):
        return [(json_path(path), "input must be an object")]
    kinds = [k for k in ("pfs", "cron", "cross", "union", "join", "group") if node.get(k)]
    problems: list[tuple[str, str]] = []
    if len(kinds) != 1:
        what = "multiple input types set" if kinds else "no input type set"
        problems.append((json_path(path), f"{what} ({', '.join(kinds) or 'none'})"))
    for kind in ("cross", "union", "join", "group"):
        for i, child in enumerate(node.get(kind) or []):
            problems.extend(_input_shape(child, [*path, kind, i]))
    return problems


def _input_names(node: Any, path: list[Any], problems: list[tuple[str, str]]) -> set[str]:
    """Names an input node exposes; duplicates reported as Pachyderm does (union branches may share)."""
    if not isinstance(node, dict):
        return set()
    for kind in ("pfs", "cron"):
        leaf = node.get(kind)
        if isinstance(leaf, dict):
            name = leaf.get("name") or (leaf.get("repo") if kind == "pfs" else "")
            if name in FORBIDDEN_INPUT_NAMES:
                problems.append((json_path([*path, kind, "name"]), f"input name {name!r} is reserved"))
            return {name} if name else set()
    names: set[str] = set()
    for kind in ("cross", "union", "join", "group"):
        for i, child in enumerate(node.get(kind) or []):
            child_names = _input_names(child, [*path, kind, i], problems)
            if kind != "union":
                for dup in sorted(names & child_names):
                    problems.append((json_path([*path, kind, i]), f"duplicate input name {dup!r}"))
            names |= child_names
    return names


def _glob_error(pattern: Any) -> str | None:
    """Why ``pattern`` is not a valid Pachyderm glob (pachlet's compiler, ohmyglob's rules), or None."""
    if not isinstance(pattern, str) or not pattern:
        return "glob is required"
    try:
        compile_glob(pattern)
    except GlobError as exc:
        return str(exc) if repr(pattern) in str(exc) else f"invalid glob {pattern!r}: {exc}"
    return None


def _cron_error(spec: Any) -> str | None:
    """Why ``spec`` is not a schedule Pachyderm accepts (pachlet's robfig/cron parser), or None."""
    if not isinstance(spec, str) or not spec.strip():
        return "cron spec is required"
    try:
        parse_schedule(spec)
    except (PachletError, ValueError) as exc:
        return str(exc) if repr(spec) in str(exc) else f"invalid cron spec {spec!r}: {exc}"
    return None


def _image_error(image: Any) -> str | None:
    """Why ``image`` floats (no tag, or ``latest``), or None if pinned by tag or digest."""
    if not isinstance(image, str) or not image:
        return "no image (Pachyderm would run ubuntu:20.04)"
    if "@" in image:
        return None if re.search(r"@sha256:[0-9a-f]{64}$", image) else f"invalid digest in {image!r}"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"floating tag: {image!r} has no tag"
    tag = last.rsplit(":", 1)[1]
    return f"floating tag {tag!r}" if tag == "latest" else None


@cache
def _console_scripts() -> dict[str, importlib.metadata.EntryPoint]:
    dist = importlib.metadata.distribution(DISTRIBUTION)
    return {ep.name: ep for ep in dist.entry_points if ep.group == "console_scripts"}


@cache
def _entry_point_error(cmd0: str, module: str | None) -> str | None:
    """Why the command would not exist in the image built from images/ (which installs this project)."""
    if module is not None:
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError) as exc:
            return f"module {module!r} does not import: {exc}"
        return None if found else f"module {module!r} not found"
    scripts = _console_scripts()
    ep = scripts.get(Path(cmd0).name)
    if ep is None:
        return f"{cmd0!r} is not a console script of {DISTRIBUTION} (pyproject [project.scripts])"
    try:
        ep.load()
    except Exception as exc:  # any import failure of the stage module
        return f"{cmd0!r} -> {ep.value} does not import: {type(exc).__name__}: {exc}"
    return None


def _machine_paths(transform: Mapping[str, Any]) -> Iterator[tuple[list[Any], str]]:
    """Absolute paths outside /pfs in cmd, stdin and env (machine-specific, not portable)."""
    for key in ("cmd", "stdin"):
        for i, arg in enumerate(transform.get(key) or []):
            if (
                isinstance(arg, str)
                and arg.startswith("/")
                and not (arg == "/pfs" or arg.startswith("/pfs/"))
            ):
                yield ["transform", key, i], arg
    for var, value in (transform.get("env") or {}).items():
        if isinstance(value, str) and value.startswith("/") and not value.startswith("/pfs"):
            yield ["transform", "env", var], value


def _pipeline_name_ok(name: Any) -> bool:
    """pachd's name rule (``pachlet.names.NAME_RE``), alphanumeric first, at most 63 characters."""
    return (
        isinstance(name, str)
        and bool(NAME_RE.match(name))
        and name[0].isalnum()
        and len(name) <= MAX_PIPELINE_NAME
    )


def check_spec(spec: Mapping[str, Any], stem: str, policy: Policy) -> list[tuple[str, str]]:
    """Checks of one spec on its own: name, input shape and names, globs, crons, secrets, image, commands."""
    problems: list[tuple[str, str]] = []
    name = (spec.get("pipeline") or {}).get("name")
    if not _pipeline_name_ok(name):
        problems.append(
            ("$.pipeline.name", f"invalid pipeline name {name!r} (1-63 chars, alphanumeric first)")
        )
    elif name != stem:
        problems.append(("$.pipeline.name", f"pipeline {name!r} in a file named {stem}.json"))

    node = spec.get("input")
    if node is None:
        problems.append(("$.input", "no input"))
    else:
        problems.extend(_input_shape(node, ["input"]))
        _input_names(node, ["input"], problems)
        for kind, leaf, path in walk_inputs(node, ["input"]):
            if kind == "pfs":
                if not leaf.get("repo"):
                    problems.append((json_path([*path, "repo"]), "pfs input without repo"))
                if err := _glob_error(leaf.get("glob")):
                    problems.append((json_path([*path, "glob"]), err))
            elif err := _cron_error(leaf.get("spec")):
                problems.append((json_path([*path, "spec"]), err))

    transform = spec.get("transform") or {}
    cmd = transform.get("cmd") or []
    if not cmd:
        problems.append(("$.transform.cmd", "no command"))
    else:
        module = (
            cmd[2]
            if len(cmd) > 2 and Path(str(cmd[0])).name.startswith("python") and cmd[1] == "-m"
            else None
        )
        if err := _entry_point_error(str(cmd[0]), module):
            problems.append(("$.transform.cmd[2]" if module else "$.transform.cmd[0]", err))
    for path, value in _machine_paths(transform):
        problems.append(
            (json_path(path), f"machine-specific absolute path {value!r} (only /pfs/... is portable)")
        )
    if not policy.allow_floating_tags and (err := _image_error(transform.get("image"))):
        problems.append(("$.transform.image", err))

    for i, secret in enumerate(transform.get("secrets") or []):
        problems.extend(_secret_problems(secret, ["transform", "secrets", i], policy, env=True))
    sql = ((spec.get("egress") or {}).get("sqlDatabase")) if isinstance(spec.get("egress"), dict) else None
    if isinstance(sql, dict):
        if not policy.native_sql_egress:
            problems.append(
                (
                    "$.egress.sqlDatabase",
                    "this target's pachd has no Snowflake egress driver; use a churn_egress pipeline",
                )
            )
        if not sql.get("secret"):
            problems.append(("$.egress.sqlDatabase.secret", "SQL egress requires a secret (name, key)"))
        else:
            problems.extend(_secret_problems(sql["secret"], ["egress", "sqlDatabase", "secret"], policy))
        if str(sql.get("url", "")).split(":", 1)[0] not in ("snowflake", "postgres", "postgresql", "mysql"):
            problems.append(("$.egress.sqlDatabase.url", f"unsupported SQL egress URL {sql.get('url')!r}"))
    return problems


def _secret_problems(
    secret: Mapping[str, Any], path: list[Any], policy: Policy, *, env: bool = False
) -> list[tuple[str, str]]:
    name, key = secret.get("name"), secret.get("key")
    if env and secret.get("envVar") and not key:
        return [(json_path([*path, "key"]), "a secret with envVar needs a key")]
    if name not in policy.declared_secrets:
        declared = ", ".join(sorted(policy.declared_secrets)) or "none"
        return [
            (
                json_path([*path, "name"]),
                f"secret {name!r} is not declared for this target (declared: {declared})",
            )
        ]
    if key and key not in policy.declared_secrets[name]:
        return [(json_path([*path, "key"]), f"secret {name!r} has no declared key {key!r}")]
    return []


def check_dag(specs: Mapping[str, Mapping[str, Any]], policy: Policy) -> dict[str, list[tuple[str, str]]]:
    """Checks across the set: unknown input repos, duplicate pipelines, cycles. Keyed by pipeline name."""
    problems: dict[str, list[tuple[str, str]]] = {}
    produced = set(specs)
    cron_repos = {
        f"{name}_{leaf.get('name')}"
        for name, spec in specs.items()
        for kind, leaf, _ in walk_inputs(spec.get("input"), ["input"])
        if kind == "cron"
    }
    edges: dict[str, list[tuple[str, list[Any]]]] = {}
    for name, spec in specs.items():
        edges[name] = []
        for kind, leaf, path in walk_inputs(spec.get("input"), ["input"]):
            repo = leaf.get("repo")
            if kind != "pfs" or not repo:
                continue
            if repo in produced:
                edges[name].append((repo, [*path, "repo"]))
            elif repo not in policy.source_repos and repo not in cron_repos:
                problems.setdefault(name, []).append(
                    (
                        json_path([*path, "repo"]),
                        f"unknown repo {repo!r}: no pipeline of this set and no declared source",
                    )
                )
    # cycles (iterative DFS, reported once per cycle at the pipeline closing it)
    state: dict[str, int] = {}
    seen_cycles: set[frozenset[str]] = set()

    def visit(start: str) -> None:
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = [start]
        state[start] = 1
        while stack:
            node, idx = stack[-1]
            if idx < len(edges[node]):
                stack[-1] = (node, idx + 1)
                repo, path = edges[node][idx]
                if state.get(repo) == 1:
                    cycle = [*trail[trail.index(repo) :], repo]
                    key = frozenset(cycle)
                    if key not in seen_cycles:
                        seen_cycles.add(key)
                        problems.setdefault(node, []).append(
                            (json_path(path), "cycle in the DAG: " + " -> ".join(reversed(cycle)))
                        )
                elif state.get(repo) is None:
                    state[repo] = 1
                    trail.append(repo)
                    stack.append((repo, 0))
            else:
                state[node] = 2
                trail.pop()
                stack.pop()

    for name in specs:
        if name not in state:
            visit(name)
    return problems


# ---------------------------------------------------------------------------------------------- driver


def validate_files(
    files: Mapping[str, Path], policy: Policy, schema: Mapping[str, Any] | None
) -> list[Issue]:
    """Validate spec files (``{display name: path}``) as one pipeline set; returns every issue found.
    ``schema`` None skips the 2.8+ JSON schema checks (see ``locate_schema``)."""
    issues: list[Issue] = []
    specs: dict[str, dict[str, Any]] = {}
    shown: dict[str, str] = {}
    for display, path in files.items():
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            issues.append(Issue(display, "$", f"not valid JSON: {exc}"))
            continue
        if not isinstance(spec, dict):
            issues.append(Issue(display, "$", "a spec must be a JSON object"))
            continue
        field_problems = check_fields(spec, schema)
        issues.extend(Issue(display, p, m) for p, m in field_problems)
        if not field_problems:
            if err := check_proto(spec):
                issues.append(Issue(display, "$", f"python-pachyderm 7.6: {err}"))
            if schema is not None:
                issues.extend(Issue(display, p, m) for p, m in check_schema(spec, schema))
        issues.extend(Issue(display, p, m) for p, m in check_spec(spec, path.stem, policy))
        name = (spec.get("pipeline") or {}).get("name")
        if isinstance(name, str):
            if name in specs:
                issues.append(
                    Issue(display, "$.pipeline.name", f"pipeline {name!r} also defined in {shown[name]}")
                )
            else:
                specs[name], shown[name] = spec, display
    for name, problems in check_dag(specs, policy).items():
        issues.extend(Issue(shown[name], p, m) for p, m in problems)
    return sorted(set(issues))
