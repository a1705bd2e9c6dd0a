"""Validating pipeline specs the way pachd does.

Validation follows Pachyderm 2.7's ``src/server/pps/server/api_server.go`` (``validatePipelineRequest``,
``validatePipeline``, ``validateInput``, ``validateNames``, ``validateName``, ``validateSecret``) and reuses
its error texts; pachlet adds checks Pachyderm only trips over later (a malformed glob fails Pachyderm's
job, an unknown repo fails its branch creation with ``repo X not found``, a cycle fails it with
``repo X cannot be in the provenance of its own branch``), each with the same words where one exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pachlet.cronspec import CronSpecError, parse_schedule
from pachlet.errors import SpecError
from pachlet.names import NAME_RE
from pachlet.pfs.glob import Glob, GlobError
from pachlet.projects import bare, project_name_error, spec_project, split
from pachlet.spec.inputs import INPUT_KINDS, cron_inputs, input_repos, visit_inputs
from pachlet.spec.normalize import normalize_spec, pipeline_name
from pachlet.spec.order import find_cycle

MAX_PIPELINE_NAME_LENGTH = 51  # api_server.go maxPipelineNameLength (also the k8s RC name limit)


def _kinds(node: Mapping[str, Any]) -> list[str]:
    return [k for k in INPUT_KINDS if node.get(k) is not None]


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


def _ancestry_error(value: str) -> str | None:
    """ancestry.ValidateName's message when ``value`` is not a valid name, else None."""
    if NAME_RE.match(value):
        return None
    return f"name ({value}) invalid: only alphanumeric characters, underscores, and dashes are allowed"


def _validate_branch_and_repo_names(spec: Mapping[str, Any], pipeline: str, err: Any) -> None:
    """The names pachd's PFS checks with ``ancestry.ValidateName`` when it creates the pipeline's
    branches and repos (driver.go ``createBranch``: the output branch and every provenance branch;
    ``createRepo``: each cron repo, ``<pipeline>_<name>``)."""
    message = _ancestry_error(spec.get("outputBranch") or "")
    if message:
        raise err(message, "outputBranch")
    for item in visit_inputs(spec.get("input"), root_last=True):
        pfs, cron = item.node.get("pfs"), item.node.get("cron")
        if isinstance(pfs, Mapping):
            message = _ancestry_error(pfs.get("branch") or "master")
            if message:
                raise err(message, f"{item.field}.pfs.branch")
        elif isinstance(cron, Mapping):
            repo = cron.get("repo") or f"{pipeline}_{cron.get('name') or ''}"
            message = _ancestry_error(bare(repo))
            if message:
                own = repo == f"{pipeline}_{cron.get('name') or ''}"
                raise err(message, f"{item.field}.cron.{'name' if own else 'repo'}")


def validate_input(input_spec: Any, pipeline: str, err: Any) -> None:
    """api_server.go validateInput (names, one type per node, repo/branch/glob, cron spec) plus glob
    compilation."""
    _validate_names(set(), input_spec, "input", err)
    parents: dict[int, str] = {}
    for item in visit_inputs(input_spec, root_last=True):
        for kind in ("cross", "union", "join", "group"):
            for child in item.node.get(kind) or []:
                if isinstance(child, dict):
                    parents[id(child)] = kind
    for item in visit_inputs(input_spec, root_last=True):
        node, path = item.node, item.field
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
            # A joinOn / groupBy naming a capture group the glob lacks is accepted, as pachd accepts it:
            # ohmyglob's Replace expands it to "" (an empty key).
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
    name = pipeline_name(spec) or ""
    if isinstance(pipeline_obj, Mapping) and "project" in pipeline_obj:  # a client's spec
        project, bare_name = spec_project(spec), name
    else:  # a stored spec: the name is qualified (pachlet.projects)
        project, bare_name = split(name)

    def err(message: str, field: str | None = None) -> SpecError:
        return SpecError(message, pipeline=name or None, field=field, source=source)

    if not isinstance(pipeline_obj, Mapping):
        raise err("invalid pipeline spec: request.Pipeline cannot be nil", "pipeline")
    if not name:
        raise err("invalid pipeline spec: request.Pipeline.Name cannot be empty", "pipeline.name")
    project_error = project_name_error(project)
    if project_error:
        raise err(f"invalid project name: {project_error}", "pipeline.project.name")
    if not NAME_RE.match(bare_name):
        raise err(
            f"invalid pipeline name: name ({bare_name}) invalid: only alphanumeric characters, underscores, "
            "and dashes are allowed",
            "pipeline.name",
        )
    if len(bare_name) > MAX_PIPELINE_NAME_LENGTH:
        raise err(
            f'pipeline name "{bare_name}" is {len(bare_name) - MAX_PIPELINE_NAME_LENGTH} characters longer than the '
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
    if not (bare_name[0].isalnum() and bare_name[0].isascii()):
        raise err("pipeline names must start with an alphanumeric character", "pipeline.name")
    if not (spec.get("transform") or {}).get("image"):
        raise err("invalid transform: pipeline transform must contain an image", "transform.image")
    inp = spec.get("input")
    # a pipeline without an input is accepted (pachyderm_test.go TestPipelineEmptyInput); a spout without
    # a service must have none (api_server.go validatePipeline)
    spout = spec.get("spout")
    if spout is not None and not spout.get("service") and inp is not None:
        raise err("spout pipelines (without a service) must not have an input", "input")
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
    _validate_branch_and_repo_names(spec, name, err)
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
