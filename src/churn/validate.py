"""Validate rendered pipeline specs: Pachyderm's 2.7 proto, its 2.8+ JSON schema, and the DAG's semantics.

Every problem is a :class:`Issue` printed as ``<spec file>: <JSON path>: <message>``.

Versions: a spec must stay inside the fields both Pachyderm versions share. :func:`check_fields` walks the
spec alongside python-pachyderm 7.6's ``CreatePipelineRequest`` descriptor (the 2.7 proto) and the 2.8+
schema; a field known to only one of them is reported as such (e.g. ``dryRun``/``update`` exist only in 2.7,
``maximumExpectedUptime`` and ``pfs.reference`` only in 2.8+), a field known to neither as unknown.
Then the spec must parse with ``python_pachyderm.parse_dict_pipeline_spec`` and validate against the schema.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_ENV = "CHURN_PACHYDERM_SCHEMA"
SCHEMA_RELATIVE = Path("..") / "shared" / "reference" / "pachyderm" / "CreatePipelineRequest.schema.json"
DISTRIBUTION = "churn-pachlet"
FORBIDDEN_INPUT_NAMES = {"out", ".env"}
PIPELINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


class SchemaNotFoundError(Exception):
    """Pachyderm's JSON schema could not be located."""


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


# ---------------------------------------------------------------------------------------------- schema


def find_schema(project_root: Path, explicit: Path | None = None) -> Path:
    """Locate CreatePipelineRequest.schema.json: ``explicit``, then $CHURN_PACHYDERM_SCHEMA, then
    ``<project>/../shared/reference/pachyderm/``."""
    candidates: list[tuple[str, Path]] = []
    if explicit is not None:
        candidates.append(("--schema", explicit))
    if os.environ.get(SCHEMA_ENV):
        candidates.append((f"${SCHEMA_ENV}", Path(os.environ[SCHEMA_ENV])))
    candidates.append(("project", project_root / SCHEMA_RELATIVE))
    for origin, path in candidates:
        if path.is_file():
            return path.resolve()
        if origin != "project":
            raise SchemaNotFoundError(f"{path}: Pachyderm schema not found (from {origin})")
    raise SchemaNotFoundError(
        f"{project_root / SCHEMA_RELATIVE}: Pachyderm's CreatePipelineRequest.schema.json not found; "
        f"set ${SCHEMA_ENV} or pass --schema"
    )


def locate_schema(project_root: Path, explicit: Path | None = None) -> Path | None:
    """Like ``find_schema``, but None when nothing was asked for explicitly and the default location
    (the shared reference next to the project) is absent: validation then runs without the 2.8+ schema.
    An explicit ``--schema`` or ``$CHURN_PACHYDERM_SCHEMA`` that does not exist is still an error."""
    try:
        return find_schema(project_root, explicit)
    except SchemaNotFoundError:
        if explicit is not None or os.environ.get(SCHEMA_ENV):
            raise
        return None


@cache
def load_schema(path: Path) -> dict[str, Any]:
    """Parse the JSON schema file (cached)."""
    return json.loads(path.read_text(encoding="utf-8"))


def _json_path(parts: Iterator[Any] | list[Any]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _schema_ref(prop: Mapping[str, Any]) -> str | None:
    ref = prop.get("$ref") or (prop.get("items") or {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def check_fields(spec: Any, schema: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(JSON path, message) for every field outside what both the 2.7 proto and the 2.8+ schema know.
    Without the schema (None) the 2.8+ side is taken to know exactly the proto's camelCase fields:
    unknown and snake_case fields are still reported, fields of only one version cannot be."""
    from python_pachyderm.proto.v2.pps import pps_pb2

    defs = schema.get("definitions", {}) if schema is not None else None
    problems: list[tuple[str, str]] = []

    def walk(value: Any, descriptor: Any, def_name: str | None, path: list[Any]) -> None:
        if not isinstance(value, dict):
            return
        props = None if defs is None else (defs.get(def_name) or {}).get("properties", {}) if def_name else {}
        by_json = {f.json_name: f for f in descriptor.fields}
        by_name = {f.name: f for f in descriptor.fields}
        for key, child in value.items():
            here = [*path, key]
            proto_field = by_json.get(key) or by_name.get(key)
            camel = proto_field.json_name if proto_field is not None else None
            in_schema = key in props if props is not None else key == camel
            if proto_field is None and not in_schema:
                problems.append((_json_path(here), f"unknown field {key!r}"))
                continue
            if proto_field is not None and not in_schema:
                if key != camel and (props is None or camel in props):
                    message = f"snake_case field {key!r}: use {camel!r} (camelCase)"
                else:
                    message = f"field {key!r} exists only in Pachyderm 2.7, not in 2.8+"
                problems.append((_json_path(here), message))
                continue
            if proto_field is None:
                problems.append(
                    (_json_path(here), f"field {key!r} exists only in Pachyderm 2.8+, not in 2.7")
                )
                continue
            message_type = proto_field.message_type
            if message_type is None or message_type.GetOptions().map_entry:
                continue
            sub_def = _schema_ref(props[key]) if props is not None else None
            items = enumerate(child) if isinstance(child, list) else [(None, child)]
            for i, item in items:
                walk(item, message_type, sub_def, here if i is None else [*here, i])

    root = (_schema_ref(schema) if schema is not None else None) or "CreatePipelineRequest"
    walk(spec, pps_pb2.CreatePipelineRequest.DESCRIPTOR, root, [])
    return problems


def check_proto(spec: Mapping[str, Any]) -> str | None:
    """None if python-pachyderm 7.6 parses the spec, else its error."""
    from google.protobuf import json_format
    from python_pachyderm import parse_dict_pipeline_spec

    try:
        parse_dict_pipeline_spec(dict(spec))
    except (json_format.ParseError, TypeError, ValueError) as exc:
        return str(exc).splitlines()[0]
    return None


def check_schema(spec: Mapping[str, Any], schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(JSON path, message) for each violation of Pachyderm's JSON schema (the most specific cause)."""
    from jsonschema import Draft4Validator
    from jsonschema.exceptions import best_match

    problems: list[tuple[str, str]] = []
    for error in Draft4Validator(schema).iter_errors(spec):
        cause = best_match(error.context) if error.context else error
        cause = cause or error
        problems.append((_json_path(list(cause.absolute_path)), f"schema: {cause.message}"))
    return sorted(set(problems))


# ---------------------------------------------------------------------------------------------- checks


def _walk_inputs(node: Any, path: list[Any]) -> Iterator[tuple[str, Mapping[str, Any], list[Any]]]:
    """(kind, input, path) for every leaf input (pfs / cron) below ``node``."""
    if not isinstance(node, dict):
        return
    for kind in ("pfs", "cron"):
        if isinstance(node.get(kind), dict):
            yield kind, node[kind], [*path, kind]
    for kind in ("cross", "union", "join", "group"):
        for i, child in enumerate(node.get(kind) or []):
            yield from _walk_inputs(child, [*path, kind, i])


def _input_shape(node: Any, path: list[Any]) -> list[tuple[str, str]]:
    """Each input node sets exactly one input type."""
    if not isinstance(node, dict):
        return [(_json_path(path), "input must be an object")]
    kinds = [k for k in ("pfs", "cron", "cross", "union", "join", "group") if node.get(k)]
    problems: list[tuple[str, str]] = []
    if len(kinds) != 1:
        what = "multiple input types set" if kinds else "no input type set"
        problems.append((_json_path(path), f"{what} ({', '.join(kinds) or 'none'})"))
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
                problems.append((_json_path([*path, kind, "name"]), f"input name {name!r} is reserved"))
            return {name} if name else set()
    names: set[str] = set()
    for kind in ("cross", "union", "join", "group"):
        for i, child in enumerate(node.get(kind) or []):
            child_names = _input_names(child, [*path, kind, i], problems)
            if kind != "union":
                for dup in sorted(names & child_names):
                    problems.append((_json_path([*path, kind, i]), f"duplicate input name {dup!r}"))
            names |= child_names
    return names


def _glob_error(pattern: Any) -> str | None:
    """Why ``pattern`` is not a valid Pachyderm glob, or None."""
    if not isinstance(pattern, str) or not pattern:
        return "glob is required"
    checker = _pachlet_glob_checker()
    if checker is not None:
        return checker(pattern)
    return _tiny_glob_error(pattern)


def _tiny_glob_error(pattern: str) -> str | None:
    """Fallback glob check (pachlet.glob absent): balanced classes and alternations, no empty class."""
    depth_brace = 0
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^", "]") else i + 1)
            if end < 0:
                return f"invalid glob {pattern!r}: unclosed '['"
            if end == i + 1:
                return f"invalid glob {pattern!r}: empty character class"
            i = end + 1
            continue
        if ch == "{":
            depth_brace += 1
        elif ch == "}":
            depth_brace -= 1
            if depth_brace < 0:
                return f"invalid glob {pattern!r}: unmatched '}}'"
        elif ch == "]":
            return f"invalid glob {pattern!r}: unmatched ']'"
        i += 1
    if depth_brace:
        return f"invalid glob {pattern!r}: unclosed '{{'"
    return None


@cache
def _pachlet_glob_checker() -> Callable[[str], str | None] | None:
    """pachlet's own glob compiler (``pachlet.glob.compile_glob``, Pachyderm's ohmyglob rules), if installed."""
    try:
        from pachlet.pfs.glob import GlobError, compile_glob
    except ImportError:
        return None

    def check(pattern: str) -> str | None:
        try:
            compile_glob(pattern)
        except GlobError as exc:
            return str(exc) if repr(pattern) in str(exc) else f"invalid glob {pattern!r}: {exc}"
        return None

    return check


def _cron_error(spec: Any) -> str | None:
    """Why ``spec`` is not a schedule Pachyderm accepts, or None."""
    if not isinstance(spec, str) or not spec.strip():
        return "cron spec is required"
    try:
        from pachlet.cronspec import parse_schedule
        from pachlet.errors import PachletError
    except ImportError:
        return _croniter_error(spec)
    try:
        parse_schedule(spec)
    except (PachletError, ValueError) as exc:
        return str(exc) if repr(spec) in str(exc) else f"invalid cron spec {spec!r}: {exc}"
    return None


_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly", "@never"}
_EVERY = re.compile(r"^@every\s+((\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$")


def _croniter_error(spec: str) -> str | None:
    """Fallback schedule check (pachlet.cronspec absent): robfig/cron ParseStandard forms via croniter."""
    text = spec.strip()
    if text in _DESCRIPTORS or _EVERY.match(text):
        return None
    from croniter import croniter

    if len(text.split()) != 5 or not croniter.is_valid(text):
        return f"invalid cron spec {spec!r}"
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


def check_spec(spec: Mapping[str, Any], stem: str, policy: Policy) -> list[tuple[str, str]]:
    """Checks of one spec on its own: name, input shape and names, globs, crons, secrets, image, commands."""
    problems: list[tuple[str, str]] = []
    name = (spec.get("pipeline") or {}).get("name")
    if not isinstance(name, str) or not PIPELINE_NAME.match(name):
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
        for kind, leaf, path in _walk_inputs(node, ["input"]):
            if kind == "pfs":
                if not leaf.get("repo"):
                    problems.append((_json_path([*path, "repo"]), "pfs input without repo"))
                if err := _glob_error(leaf.get("glob")):
                    problems.append((_json_path([*path, "glob"]), err))
            elif err := _cron_error(leaf.get("spec")):
                problems.append((_json_path([*path, "spec"]), err))

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
            (_json_path(path), f"machine-specific absolute path {value!r} (only /pfs/... is portable)")
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
        return [(_json_path([*path, "key"]), "a secret with envVar needs a key")]
    if name not in policy.declared_secrets:
        declared = ", ".join(sorted(policy.declared_secrets)) or "none"
        return [
            (
                _json_path([*path, "name"]),
                f"secret {name!r} is not declared for this target (declared: {declared})",
            )
        ]
    if key and key not in policy.declared_secrets[name]:
        return [(_json_path([*path, "key"]), f"secret {name!r} has no declared key {key!r}")]
    return []


def check_dag(specs: Mapping[str, Mapping[str, Any]], policy: Policy) -> dict[str, list[tuple[str, str]]]:
    """Checks across the set: unknown input repos, duplicate pipelines, cycles. Keyed by pipeline name."""
    problems: dict[str, list[tuple[str, str]]] = {}
    produced = set(specs)
    cron_repos = {
        f"{name}_{leaf.get('name')}"
        for name, spec in specs.items()
        for kind, leaf, _ in _walk_inputs(spec.get("input"), ["input"])
        if kind == "cron"
    }
    edges: dict[str, list[tuple[str, list[Any]]]] = {}
    for name, spec in specs.items():
        edges[name] = []
        for kind, leaf, path in _walk_inputs(spec.get("input"), ["input"]):
            repo = leaf.get("repo")
            if kind != "pfs" or not repo:
                continue
            if repo in produced:
                edges[name].append((repo, [*path, "repo"]))
            elif repo not in policy.source_repos and repo not in cron_repos:
                problems.setdefault(name, []).append(
                    (
                        _json_path([*path, "repo"]),
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
                            (_json_path(path), "cycle in the DAG: " + " -> ".join(reversed(cycle)))
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
