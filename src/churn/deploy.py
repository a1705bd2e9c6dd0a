"""Putting a target's pipeline specs on a pachd (a Pachyderm cluster or ``pachlet serve``); the
``churn deploy`` command (``churn.cli.deploy``) drives these steps and prints what they did.

Only python-pachyderm's public client calls are used, so the same command deploys to a laptop and to
a Pachyderm 2.7 cluster:

1. the secret ``snowflakesecret`` (key ``PACHYDERM_SQL_PASSWORD``) is set from the environment
   (never printed);
2. every spec of ``specs/<target>/`` is created or updated in dependency order (a pipeline after the
   pipelines whose output repos it reads). A spec that matches the deployed pipeline is left alone, so
   rerunning changes nothing; ``--reprocess`` is passed through to updates;
3. with ``--tick``, every cron pipeline is ticked (``run cron``) and the resulting commit sets are
   waited for; the job table is printed.

The deployed pipeline is compared with the spec field by field on ``inspect_pipeline``'s details:
every field the spec sets must have the same value there; fields only the server set (defaults such
as ``datumTries``, ``salt``, input ``branch``, cron ``start``) are ignored, and a top-level field that
the spec dropped counts as a change.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from churn.errors import DeployError
from churn.specs import SpecFile, cron_repos, dependency_order, find_specs_dir, load_specs

SECRET_NAME = "snowflakesecret"
SECRET_KEY = "PACHYDERM_SQL_PASSWORD"

# Request options, not part of the pipeline (never compared).
_REQUEST_ONLY = {"pipeline", "update", "reprocess", "dryRun", "detailsJson", "specCommit"}
# Top-level Details fields a server fills in by itself; their presence alone is no difference.
_SERVER_FILLED = {
    "salt", "createdAt", "workersRequested", "workersAvailable", "datumTries", "reprocessSpec",
    "outputBranch", "parallelismSpec", "resourceRequests", "resourceLimits", "sidecarResourceLimits",
    "sidecarResourceRequests", "autoscaling", "datumSetSpec", "schedulingSpec", "podSpec", "podPatch",
    "metadata", "description", "tolerations", "recentError", "lastFailedJob",
}  # fmt: skip


# --------------------------------------------------------------------------- the specs


def ordered_specs(target: str, specs_dir: Path | None = None) -> list[SpecFile]:
    """The specs of ``specs_dir`` (default: ``specs/<target>``) in deploy order."""
    return deploy_order(load_specs(specs_dir or find_specs_dir(target)))


def deploy_order(specs: Sequence[SpecFile]) -> list[SpecFile]:
    """``specs`` in dependency order (``churn.specs.dependency_order``), ties by pipeline name."""
    by_name = {sf.name: sf for sf in sorted(specs, key=_name)}
    return [by_name[n] for n in dependency_order({n: sf.spec for n, sf in by_name.items()})]


def _name(sf: SpecFile) -> str:
    return sf.name


# --------------------------------------------------------------------------- comparing


def _subset(want: Any, have: Any) -> bool:
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and _subset(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(map(_subset, want, have))
    return str(want) == str(have)


def spec_differences(request: Any, details: Any) -> list[str]:
    """Top-level fields where a CreatePipelineRequest differs from a deployed PipelineInfo.Details."""
    from google.protobuf import json_format

    from pachlet.spec.inputs import sort_input

    want = {k: v for k, v in json_format.MessageToDict(request).items() if k not in _REQUEST_ONLY}
    sort_input(want.get("input"))  # pachd stores the input sorted (setInputDefaults runs pps.SortInput)
    have = json_format.MessageToDict(details)
    changed = [k for k, v in want.items() if not _subset(v, have.get(k))]
    changed += [k for k in have if k not in want and k not in _SERVER_FILLED and k not in _REQUEST_ONLY]
    return sorted(set(changed))


# --------------------------------------------------------------------------- talking to pachd


def connect(address: str) -> Any:
    """A python-pachyderm client for ``HOST:PORT`` (or ``grpc://`` / ``grpcs://`` URLs)."""
    import python_pachyderm

    try:
        return python_pachyderm.Client.new_from_pachd_address(address)
    except ValueError as exc:
        raise DeployError(f"--pachd {address!r}: {exc}") from None


def rpc_error(exc: Exception) -> str:
    """A gRPC (or connection) error's details as one line."""
    details = getattr(exc, "details", None)
    text = details() if callable(details) else str(exc)
    return " ".join(str(text).split())


def set_secret(client: Any, local: bool, echo: Callable[[str], object]) -> str:
    """Create or replace the warehouse secret from the environment; returns what was done. Without the
    variable an existing secret is kept; a missing one is created empty only for ``local`` deployments
    (pachlet, or the local target: the embedded warehouse ignores the password)."""
    import grpc

    password = os.environ.get(SECRET_KEY)
    try:
        client.inspect_secret(SECRET_NAME)
        exists = True
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND and "not found" not in rpc_error(exc):
            raise DeployError(f"secret {SECRET_NAME}: {rpc_error(exc)}") from None
        exists = False
    if password is None:
        if exists:
            return f"secret {SECRET_NAME}: kept ({SECRET_KEY} not set)"
        if not local:
            raise DeployError(
                f"{SECRET_KEY} is not set and secret {SECRET_NAME} does not exist on the cluster; "
                f"export {SECRET_KEY} (the Snowflake password) and rerun"
            )
        password = ""
        echo(
            f"note: {SECRET_KEY} not set; secret {SECRET_NAME} created empty (the embedded warehouse ignores it)"
        )
    if exists:
        client.delete_secret(SECRET_NAME)
    client.create_secret(SECRET_NAME, {SECRET_KEY: password}, labels={"app": "churn"})
    source = f"from {SECRET_KEY}" if password else "empty"
    return f"secret {SECRET_NAME}: {'replaced' if exists else 'created'} {source}"


def deploy_pipeline(client: Any, sf: SpecFile, *, reprocess: bool) -> tuple[str, list[str]]:
    """Create, update or leave one pipeline; returns (action, changed fields)."""
    import grpc

    try:
        info = next(iter(client.inspect_pipeline(sf.name, details=True)))
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND and "not found" not in rpc_error(exc):
            raise
        info = None
    request = type(sf.request)()
    request.CopyFrom(sf.request)
    if info is None:
        client.create_pipeline_from_request(request)
        return "created", []
    changed = spec_differences(sf.request, info.details)
    if not changed and not reprocess:
        return "unchanged", []
    request.update = True
    request.reprocess = reprocess
    client.create_pipeline_from_request(request)
    return ("updated" if changed else "reprocessed"), changed


def plan_pipeline(client: Any, sf: SpecFile, *, reprocess: bool) -> tuple[str, list[str]]:
    """What ``deploy_pipeline`` would do (``--dry-run``): (action, changed fields), nothing changed."""
    import grpc

    try:
        info = next(iter(client.inspect_pipeline(sf.name, details=True)))
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND and "not found" not in rpc_error(exc):
            raise
        return "would be created", []
    changed = spec_differences(sf.request, info.details)
    if changed:
        return "would be updated", changed
    return ("would be reprocessed" if reprocess else "unchanged"), []


def _head(client: Any, repo: str) -> str | None:
    import grpc

    try:
        info = client.inspect_branch(repo, "master")
    except grpc.RpcError:
        return None
    return info.head.id or None


def tick(client: Any, specs: Sequence[SpecFile], timeout: float) -> list[str]:
    """Run cron on every cron pipeline; returns the global IDs of the resulting commit sets."""
    gids: list[str] = []
    for sf in specs:
        repos = cron_repos(sf.spec)
        if not repos:
            continue
        before = _head(client, repos[0])
        client.run_cron(sf.name)
        deadline = time.monotonic() + timeout
        gid = _head(client, repos[0])
        while gid == before and time.monotonic() < deadline:
            time.sleep(0.1)
            gid = _head(client, repos[0])
        if gid is None or gid == before:
            raise DeployError(f"run cron {sf.name}: no new commit in {repos[0]}")
        gids.append(gid)
    return gids
