"""Pipeline specs: load (JSON / YAML / Jsonnet), normalize (the real proto, Pachyderm's defaults), validate.

Validation follows Pachyderm 2.7's ``src/server/pps/server/api_server.go`` (``validatePipelineRequest``,
``validatePipeline``, ``validateInput``, ``validateNames``, ``validateName``, ``validateSecret``) and reuses
its error texts; pachlet adds checks Pachyderm only trips over later (a malformed glob fails Pachyderm's
job, an unknown repo fails its branch creation with ``repo X not found``, a cycle fails it with
``repo X cannot be in the provenance of its own branch``), each with the same words where one exists.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor

from pachlet.cronspec import CronSpecError, parse_schedule
from pachlet.datums import input_name
from pachlet.errors import SpecError
from pachlet.glob import Glob, GlobError, clean_path, max_group_ref

DEFAULT_IMAGE = "ubuntu:20.04"  # api_server.go DefaultUserImage
DEFAULT_DATUM_TRIES = 3
DEFAULT_REPROCESS_SPEC = "until_success"
MAX_PIPELINE_NAME_LENGTH = 51  # api_server.go maxPipelineNameLength (also the k8s RC name limit)
_VALID_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")  # ancestry.ValidateName
_INPUT_KINDS = ("pfs", "cron", "cross", "union", "join", "group")

# --- loading ---------------------------------------------------------------------------------------


def _json_stream(text: str, source: str) -> Iterator[Any]:
    dec = json.JSONDecoder()
    i = 0
    n = len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return
        try:
            obj, i = dec.raw_decode(text, i)
        except json.JSONDecodeError as e:
            raise SpecError(
                f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", source=source
            ) from e
        yield obj


def _flatten(docs: Sequence[Any], source: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for doc in docs:
        if doc is None:
            continue
        items = doc if isinstance(doc, list) else [doc]
        for item in items:
            if not isinstance(item, dict):
                raise SpecError(
                    f"expected a pipeline spec object, found {type(item).__name__}", source=source
                )
            out.append(item)
    if not out:
        raise SpecError("no pipeline spec found", source=source)
    return out


def _jsonnet_args(jsonnet_args: Mapping[str, str] | Sequence[str] | None, source: str) -> dict[str, str]:
    if jsonnet_args is None:
        return {}
    if isinstance(jsonnet_args, Mapping):
        return {str(k): str(v) for k, v in jsonnet_args.items()}
    out: dict[str, str] = {}
    for arg in jsonnet_args:
        if "=" not in arg:
            raise SpecError(f"invalid --arg {arg!r}: expected key=value", source=source)
        k, v = arg.split("=", 1)
        out[k] = v
    return out


def render_jsonnet(
    path: str | os.PathLike[str], jsonnet_args: Mapping[str, str] | Sequence[str] | None = None
) -> Any:
    """Evaluate a Jsonnet file with ``--arg k=v`` passed as top-level string arguments (as pachctl does)."""
    import _jsonnet

    source = str(path)
    try:
        text = _jsonnet.evaluate_file(source, tla_vars=_jsonnet_args(jsonnet_args, source))
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "evaluation failed"
        raise SpecError(f"jsonnet: {first}", source=source) from e
    return json.loads(text)


def load_spec_file(
    path: str | os.PathLike[str], jsonnet_args: Mapping[str, str] | Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Read the pipeline specs in a file: JSON (an object, a list, or a stream of objects), YAML (one or
    several documents, each an object or a list) or Jsonnet (``.jsonnet``, or any file when
    ``jsonnet_args`` is given). Returns the raw spec dicts, in file order."""
    p = Path(path)
    source = str(path)
    if not p.is_file():
        raise SpecError("no such file", source=source)
    if p.suffix in (".jsonnet", ".libsonnet") or jsonnet_args:
        return _flatten([render_jsonnet(p, jsonnet_args)], source)
    text = p.read_text(encoding="utf-8")
    if p.suffix in (".yaml", ".yml"):
        return _flatten(_yaml_docs(text, source), source)
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")) or p.suffix == ".json":
        try:
            return _flatten(list(_json_stream(text, source)), source)
        except SpecError:
            if p.suffix == ".json":
                raise
    return _flatten(_yaml_docs(text, source), source)


def _yaml_docs(text: str, source: str) -> list[Any]:
    import yaml

    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecError(f"invalid YAML{where}: {problem}", source=source) from e


# --- normalizing -----------------------------------------------------------------------------------


def _pipeline_name(spec: Mapping[str, Any]) -> str | None:
    p = spec.get("pipeline")
    return p.get("name") if isinstance(p, Mapping) else None


_NO_FIELD = re.compile(r'Message type "([\w.]+)" has no field named "(\w+)"')
_PARSE_FIELD = re.compile(r"Failed to parse (\w+) field")


def _field_from_parse_error(msg: str) -> str | None:
    path = _PARSE_FIELD.findall(msg)
    m = _NO_FIELD.search(msg)
    if m:
        path.append(m.group(2))
    return ".".join(path) if path else None


def _clean_parse_message(msg: str) -> str:
    m = _NO_FIELD.search(msg)
    if m:
        return f'unknown field "{m.group(2)}" in {m.group(1).split(".")[-1]}'
    return _PARSE_FIELD.sub("", msg).strip(" :.") or msg


def to_proto(spec: Mapping[str, Any], source: str | None = None) -> Any:
    """The spec as python-pachyderm 7.6's CreatePipelineRequest (camelCase or snake_case keys)."""
    import python_pachyderm

    try:
        return python_pachyderm.parse_dict_pipeline_spec(copy.deepcopy(dict(spec)))
    except json_format.ParseError as e:
        msg = str(e)
        raise SpecError(
            _clean_parse_message(msg),
            pipeline=_pipeline_name(spec) if isinstance(spec.get("pipeline"), Mapping) else None,
            field=_field_from_parse_error(msg),
            source=source,
        ) from e


def _input_defaults(node: dict[str, Any], pipeline: str) -> None:
    """api_server.go setInputDefaults (without the sort and the cron start time)."""
    if not isinstance(node, dict):
        return
    pfs = node.get("pfs")
    if isinstance(pfs, dict):
        pfs.setdefault("branch", "master")
        if not pfs.get("branch"):
            pfs["branch"] = "master"
        if not pfs.get("name") and pfs.get("repo"):
            pfs["name"] = pfs["repo"]
        if pfs.get("glob"):
            pfs["glob"] = clean_path(pfs["glob"])
    cron = node.get("cron")
    if isinstance(cron, dict) and not cron.get("repo") and pipeline and cron.get("name"):
        cron["repo"] = f"{pipeline}_{cron['name']}"
    for kind in ("cross", "union", "join", "group"):
        for child in node.get(kind) or []:
            _input_defaults(child, pipeline)


_INT64_TYPES = (
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
)


def _int64_to_int(d: dict[str, Any], descriptor: Any) -> None:
    """MessageToDict writes 64-bit integers as strings (proto3 JSON); make them ints again."""
    for field in descriptor.fields:
        if field.json_name not in d:
            continue
        value = d[field.json_name]
        if field.type in _INT64_TYPES:
            if isinstance(value, list):
                d[field.json_name] = [int(v) for v in value]
            else:
                d[field.json_name] = int(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and not field.message_type.GetOptions().map_entry:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict):
                    _int64_to_int(item, field.message_type)


def normalize_spec(spec: Mapping[str, Any], source: str | None = None) -> dict[str, Any]:
    """The canonical camelCase spec: parsed by the real proto (unknown fields rejected), rendered by
    ``MessageToDict``, with Pachyderm's defaults: image ``ubuntu:20.04``, ``datumTries`` 3,
    ``reprocessSpec`` ``until_success``, ``outputBranch`` ``master``, ``parallelismSpec.constant`` 1,
    pfs ``name`` = repo, ``branch`` master, cleaned globs, cron ``repo`` ``<pipeline>_<name>``."""
    if not isinstance(spec, Mapping):
        raise SpecError(f"expected a pipeline spec object, found {type(spec).__name__}", source=source)
    msg = to_proto(spec, source)
    out: dict[str, Any] = json_format.MessageToDict(msg)
    name = (out.get("pipeline") or {}).get("name") or ""
    transform = out.get("transform")
    if isinstance(transform, dict) and not transform.get("image"):
        transform["image"] = DEFAULT_IMAGE
    _int64_to_int(out, msg.DESCRIPTOR)
    if not out.get("datumTries"):
        out["datumTries"] = DEFAULT_DATUM_TRIES
    if not out.get("reprocessSpec"):
        out["reprocessSpec"] = DEFAULT_REPROCESS_SPEC
    if not out.get("outputBranch"):
        out["outputBranch"] = "master"
    if not (out.get("parallelismSpec") or {}).get("constant"):
        out.setdefault("parallelismSpec", {})["constant"] = 1
    if out.get("input"):
        _input_defaults(out["input"], name)
    return out


# --- validation ------------------------------------------------------------------------------------


def _visit(node: Any, path: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Every input node with a readable field path (``input.cross[1].pfs``), children first like
    pps.VisitInput."""
    if not isinstance(node, dict):
        return
    for kind in ("cross", "union", "join", "group"):
        for i, child in enumerate(node.get(kind) or []):
            yield from _visit(child, f"{path}.{kind}[{i}]")
    yield node, path


def _kinds(node: Mapping[str, Any]) -> list[str]:
    return [k for k in _INPUT_KINDS if node.get(k) is not None]


def _leaf_name(node: Mapping[str, Any]) -> tuple[str, str] | None:
    if isinstance(node.get("pfs"), Mapping):
        return node["pfs"].get("name") or "", "pfs"
    if isinstance(node.get("cron"), Mapping):
        return node["cron"].get("name") or "", "cron"
    return None


def _validate_names(names: set[str], node: Any, path: str, err: Any) -> None:
    """api_server.go validateNames: union branches may reuse names, nothing else may."""
    if not isinstance(node, Mapping):
        return
    leaf = _leaf_name(node)
    if leaf is not None:
        name, kind = leaf
        field = f"{path}.{kind}.name"
        if name == "":
            raise err("input must specify a name", field)
        if name in ("out", ".env"):
            raise err(f"input cannot be named {name}", field)
        if name in names:
            raise err(f'name "{name}" was used more than once', field)
        names.add(name)
        return
    if node.get("union") is not None:
        collected: list[set[str]] = []
        for i, child in enumerate(node["union"] or []):
            copy_ = set(names)
            _validate_names(copy_, child, f"{path}.union[{i}]", err)
            collected.append(copy_)
        for c in collected:
            names |= c
        return
    for kind in ("cross", "join", "group"):
        for i, child in enumerate(node.get(kind) or []):
            _validate_names(names, child, f"{path}.{kind}[{i}]", err)


def _check_glob_template(pfs: Mapping[str, Any], key: str, field: str, err: Any) -> None:
    template = pfs.get(key) or ""
    if not template:
        return
    glob = Glob(pfs["glob"])
    ref = max_group_ref(template)
    if ref > glob.groups:
        raise err(
            f'{key} "{template}" refers to capture group ${ref} but glob "{pfs["glob"]}" has '
            f"{glob.groups} capture group{'s' if glob.groups != 1 else ''}",
            field,
        )


def validate_input(input_spec: Any, pipeline: str, err: Any) -> None:
    """api_server.go validateInput (names, one type per node, repo/branch/glob, cron spec) plus glob
    compilation and joinOn/groupBy capture-group references."""
    _validate_names(set(), input_spec, "input", err)
    parents: dict[int, str] = {}
    for node, _path in _visit(input_spec, "input"):
        for kind in ("cross", "union", "join", "group"):
            for child in node.get(kind) or []:
                if isinstance(child, dict):
                    parents[id(child)] = kind
    for node, path in _visit(input_spec, "input"):
        kinds = _kinds(node)
        if len(kinds) > 1:
            raise err("multiple input types set", path)
        if not kinds:
            raise err("no input set", path)
        kind = kinds[0]
        if kind == "pfs":
            pfs = node["pfs"]
            field = f"{path}.pfs"
            if not pfs.get("repo"):
                raise err("input must specify a repo", f"{field}.repo")
            if not pfs.get("branch"):
                raise err("input must specify a branch", f"{field}.branch")
            if not pfs.get("glob"):
                raise err("input must specify a glob", f"{field}.glob")
            if pfs.get("commit"):
                raise err(
                    "input cannot come from a commit; use a branch with head pointing to the commit",
                    f"{field}.commit",
                )
            try:
                Glob(pfs["glob"])
            except GlobError as e:
                raise err(str(e), f"{field}.glob") from e
            _check_glob_template(pfs, "joinOn", f"{field}.joinOn", err)
            _check_glob_template(pfs, "groupBy", f"{field}.groupBy", err)
            parent = parents.get(id(node))
            if pfs.get("outerJoin") and parent != "join":
                raise err("outerJoin is only meaningful on an input of a join", f"{field}.outerJoin")
        elif kind == "cron":
            try:
                parse_schedule(node["cron"].get("spec") or "")
            except CronSpecError as e:
                raise err(f"error parsing cron-spec: {e}", f"{path}.cron.spec") from e
        elif not node.get(kind):
            raise err(f"{kind} input must have at least one input", f"{path}.{kind}")


def input_repos(input_spec: Any, pipeline: str) -> list[tuple[str, str, str]]:
    """``(input name, repo, branch)`` of every pfs and cron input (cron: ``<pipeline>_<name>``, master),
    in pps.VisitInput order, each once."""
    out: list[tuple[str, str, str]] = []
    for node, _ in _visit(input_spec, "input"):
        if isinstance(node.get("pfs"), Mapping):
            pfs = node["pfs"]
            repo = pfs.get("repo") or ""
            item = (pfs.get("name") or repo, repo, pfs.get("branch") or "master")
        elif isinstance(node.get("cron"), Mapping):
            cron = node["cron"]
            name = cron.get("name") or ""
            item = (name, cron.get("repo") or f"{pipeline}_{name}", "master")
        else:
            continue
        if item not in out:
            out.append(item)
    return out


def cron_inputs(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The cron inputs of a spec, each a copy with ``repo`` filled in (``<pipeline>_<name>``) and
    ``overwrite`` defaulted to False."""
    pipeline = _pipeline_name(spec) or ""
    out: list[dict[str, Any]] = []
    for node, _ in _visit(spec.get("input"), "input"):
        if isinstance(node.get("cron"), Mapping):
            cron = dict(node["cron"])
            cron["repo"] = cron.get("repo") or f"{pipeline}_{cron.get('name') or ''}"
            cron["overwrite"] = bool(cron.get("overwrite", False))
            out.append(cron)
    return out


def _upstream(spec: Mapping[str, Any]) -> list[str]:
    """Repos a pipeline reads (pfs only; cron repos belong to the pipeline itself)."""
    pipeline = _pipeline_name(spec) or ""
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


def validate_spec(
    spec: Mapping[str, Any],
    *,
    known_repos: set[str] | frozenset[str],
    pipelines: Mapping[str, Mapping[str, Any]],
    source: str | None = None,
) -> None:
    """Raise SpecError (naming the pipeline and the field) unless Pachyderm would accept ``spec``.

    ``spec`` is a normalized spec (``normalize_spec``; a raw one is normalized first). ``known_repos``:
    repos that exist now; ``pipelines``: the other pipelines' specs by name (their output repos count as
    known, and together with ``spec`` they must not form a cycle; an entry for ``spec``'s own name is
    replaced by ``spec``, as ``update pipeline`` does)."""
    if "datumTries" not in spec or "outputBranch" not in spec:
        spec = normalize_spec(spec, source)
    pipeline_obj = spec.get("pipeline")
    name = _pipeline_name(spec) or ""

    def err(message: str, field: str | None = None) -> SpecError:
        return SpecError(message, pipeline=name or None, field=field, source=source)

    if not isinstance(pipeline_obj, Mapping):
        raise err("invalid pipeline spec: request.Pipeline cannot be nil", "pipeline")
    if not name:
        raise err("invalid pipeline spec: request.Pipeline.Name cannot be empty", "pipeline.name")
    if not _VALID_NAME.match(name):
        raise err(
            f"invalid pipeline name: name ({name}) invalid: only alphanumeric characters, underscores, "
            "and dashes are allowed",
            "pipeline.name",
        )
    if len(name) > MAX_PIPELINE_NAME_LENGTH:
        raise err(
            f'pipeline name "{name}" is {len(name) - MAX_PIPELINE_NAME_LENGTH} characters longer than the '
            f"{MAX_PIPELINE_NAME_LENGTH} max",
            "pipeline.name",
        )
    if not spec.get("transform"):
        raise err("pipeline must specify a transform", "transform")
    reprocess = spec.get("reprocessSpec")
    if reprocess and reprocess not in ("until_success", "every_job"):
        raise err(
            "invalid pipeline spec: ReprocessSpec must be one of 'until_success' or 'every_job'",
            "reprocessSpec",
        )
    if not (name[0].isalnum() and name[0].isascii()):
        raise err("pipeline names must start with an alphanumeric character", "pipeline.name")
    if not (spec.get("transform") or {}).get("image"):
        raise err("invalid transform: pipeline transform must contain an image", "transform.image")
    inp = spec.get("input")
    if inp is None and not spec.get("spout"):
        raise err("no input set", "input")
    if inp is not None:
        validate_input(inp, name, err)
    for i, secret in enumerate((spec.get("transform") or {}).get("secrets") or []):
        if secret.get("envVar") and not secret.get("key"):
            raise err(
                f"secret {secret.get('name', '')} has env_var set but is missing key",
                f"transform.secrets[{i}].key",
            )
    if not spec.get("outputBranch"):
        raise err("pipeline needs to specify an output branch", "outputBranch")
    # Input repos must exist (or be the output of a pipeline); cron repos are the pipeline's own.
    others = {p: s for p, s in pipelines.items() if p != name}
    available = set(known_repos) | set(others)
    cron_repos = {c["repo"] for c in cron_inputs(spec)}
    for _, repo, _ in input_repos(inp, name) if inp is not None else []:
        if repo in cron_repos:
            continue
        if repo == name:
            raise err(
                f"repo {repo} cannot be in the provenance of its own branch (cycle: {name} -> {name})",
                "input",
            )
        if repo not in available:
            raise err(f"repo {repo} not found", "input")
    cycle = find_cycle(name, spec, others)
    if cycle:
        raise err(
            f"repo {name} cannot be in the provenance of its own branch (cycle: {' -> '.join(cycle)})",
            "input",
        )


def spec_input_name(node: Mapping[str, Any]) -> str:
    """pps.InputName of an input node (re-exported for callers that sort inputs like Pachyderm)."""
    return input_name(dict(node))
