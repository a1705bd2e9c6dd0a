"""``churn deploy``: put a target's pipeline specs on a pachd (a Pachyderm cluster or ``pachlet serve``).

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

import json
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

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


class DeployError(click.ClickException):
    """A deploy failure, reported as one line."""


@dataclass(frozen=True)
class SpecFile:
    """One pipeline spec read from disk: its name, file, raw dict and the parsed request."""

    name: str
    path: Path
    spec: dict[str, Any]
    request: Any  # pps_pb2.CreatePipelineRequest


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
    raise DeployError(
        f"no specs/{target} directory found at or above {here} (render the specs first: churn render)"
    )


def load_specs(specs_dir: Path) -> list[SpecFile]:
    """Every pipeline spec (``*.json``: one object, a list, or a JSON stream) under ``specs_dir``."""
    import python_pachyderm
    from google.protobuf import json_format

    files = sorted(specs_dir.glob("*.json"))
    if not files:
        raise DeployError(f"{specs_dir}: no *.json pipeline specs")
    out: list[SpecFile] = []
    seen: dict[str, Path] = {}
    for path in files:
        for spec in _json_documents(path):
            name = ((spec.get("pipeline") or {}) if isinstance(spec, dict) else {}).get("name")
            if not name:
                raise DeployError(f"{path}: spec without pipeline.name")
            if name in seen:
                raise DeployError(f"{path}: pipeline {name} is also defined in {seen[name]}")
            try:
                request = python_pachyderm.parse_dict_pipeline_spec(json.loads(json.dumps(spec)))
            except json_format.ParseError as exc:
                raise DeployError(f"{path}: pipeline {name}: {exc}") from None
            seen[name] = path
            out.append(SpecFile(name, path, spec, request))
    return out


def _json_documents(path: Path) -> list[dict[str, Any]]:
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
        raise DeployError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    return docs


def _walk_inputs(node: Mapping[str, Any] | None) -> Iterable[tuple[str, Mapping[str, Any]]]:
    if not isinstance(node, Mapping):
        return
    for kind in ("pfs", "cron"):
        if isinstance(node.get(kind), Mapping):
            yield kind, node[kind]
    for kind in ("cross", "union", "join", "group"):
        for child in node.get(kind) or []:
            yield from _walk_inputs(child)


def input_repos(spec: Mapping[str, Any]) -> list[str]:
    """The pfs repos a spec reads (cron repos excluded)."""
    return [
        leaf["repo"] for kind, leaf in _walk_inputs(spec.get("input")) if kind == "pfs" and leaf.get("repo")
    ]


def cron_repos(spec: Mapping[str, Any]) -> list[str]:
    """The repos of a spec's cron inputs (``repo``, else ``<pipeline>_<name>`` as pachd names them)."""
    name = spec["pipeline"]["name"]
    return [
        leaf.get("repo") or f"{name}_{leaf.get('name')}"
        for kind, leaf in _walk_inputs(spec.get("input"))
        if kind == "cron"
    ]


def dependency_order(specs: Sequence[SpecFile]) -> list[SpecFile]:
    """Specs sorted so every pipeline comes after the pipelines it reads (ties by name)."""
    by_name = {s.name: s for s in specs}
    deps = {s.name: sorted({r for r in input_repos(s.spec) if r in by_name and r != s.name}) for s in specs}
    order: list[SpecFile] = []
    done: set[str] = set()
    while len(order) < len(specs):
        ready = sorted(n for n in deps if n not in done and all(d in done for d in deps[n]))
        if not ready:
            stuck = sorted(n for n in deps if n not in done)
            raise DeployError(f"pipelines {', '.join(stuck)} read each other's output (a cycle)")
        for n in ready:
            done.add(n)
            order.append(by_name[n])
    return order


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

    want = {k: v for k, v in json_format.MessageToDict(request).items() if k not in _REQUEST_ONLY}
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


def _rpc_error(exc: Exception) -> str:
    details = getattr(exc, "details", None)
    text = details() if callable(details) else str(exc)
    return " ".join(str(text).split())


def set_secret(client: Any, local: bool, echo: Any) -> str:
    """Create or replace the warehouse secret from the environment; returns what was done. Without the
    variable an existing secret is kept; a missing one is created empty only for ``local`` deployments
    (pachlet, or the local target: the embedded warehouse ignores the password)."""
    import grpc

    password = os.environ.get(SECRET_KEY)
    try:
        client.inspect_secret(SECRET_NAME)
        exists = True
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND and "not found" not in _rpc_error(exc):
            raise DeployError(f"secret {SECRET_NAME}: {_rpc_error(exc)}") from None
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
        if exc.code() != grpc.StatusCode.NOT_FOUND and "not found" not in _rpc_error(exc):
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


# --------------------------------------------------------------------------- output


def _ts(ts: Any) -> datetime | None:
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return ts.ToDatetime().replace(tzinfo=UTC)


def job_rows(jobs: Iterable[Any]) -> list[tuple[str, ...]]:
    """Rows of the job table: pipeline, job ID, state, started, duration, datums, reason."""
    from python_pachyderm.proto.v2.pps import pps_pb2

    rows = [("PIPELINE", "JOB", "STATE", "STARTED", "DURATION", "DATUMS", "REASON")]
    for j in jobs:
        started, finished = _ts(j.started), _ts(j.finished)
        duration = f"{(finished - started).total_seconds():.1f}s" if started and finished else "-"
        datums = (
            f"{j.data_processed} processed, {j.data_skipped} skipped, {j.data_failed} failed / {j.data_total}"
        )
        rows.append(
            (
                j.job.pipeline.name,
                j.job.id,
                pps_pb2.JobState.Name(j.state).removeprefix("JOB_"),
                started.strftime("%Y-%m-%d %H:%M:%S") if started else "-",
                duration,
                datums,
                j.reason.splitlines()[0] if j.reason else "",
            )
        )
    return rows


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


# --------------------------------------------------------------------------- the command


@click.command("deploy")
@click.option(
    "--pachd",
    envvar="PACHD_ADDRESS",
    default="localhost:30650",
    show_default=True,
    metavar="HOST:PORT",
    help="pachd to deploy to: a Pachyderm cluster (port-forwarded) or `pachlet serve` (env PACHD_ADDRESS).",
)
@click.option(
    "--target", required=True, help="Spec target: local, cluster or cluster-v2.8 (reads specs/<target>/)."
)
@click.option(
    "--specs-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Read specs from this directory instead of specs/<target>/.",
)
@click.option(
    "--reprocess", is_flag=True, help="Pass reprocess to updates (and reprocess unchanged pipelines)."
)
@click.option(
    "--tick", "do_tick", is_flag=True, help="Run cron on every cron pipeline and wait for the results."
)
@click.option("--wait", "do_wait", is_flag=True, help="Wait for the jobs of created or updated pipelines.")
@click.option(
    "--timeout", type=float, default=3600.0, show_default=True, help="Seconds to wait for a tick's commit."
)
@click.option("--dry-run", is_flag=True, help="Only report what would be created or updated.")
def deploy_command(
    pachd: str,
    target: str,
    specs_dir: Path | None,
    reprocess: bool,
    do_tick: bool,
    do_wait: bool,
    timeout: float,
    dry_run: bool,
) -> None:  # fmt: skip
    """Create or update the target's pipelines (and the Snowflake secret) on a pachd, in dependency
    order; rerunning changes nothing. Works against a Pachyderm 2.7 cluster and `pachlet serve`."""
    import grpc

    specs = dependency_order(load_specs(specs_dir or find_specs_dir(target)))
    client = connect(pachd)
    try:
        version = client.get_remote_version()
    except (grpc.RpcError, ConnectionError) as exc:
        raise DeployError(f"cannot reach pachd at {pachd}: {_rpc_error(exc)}") from None
    add = f"-{version.additional}" if version.additional else ""
    local = target == "local" or version.additional.startswith("pachlet")
    click.echo(
        f"deploying {len(specs)} pipelines of target {target} to {pachd} (pachd {version.major}.{version.minor}.{version.micro}{add})"
    )
    try:
        if not dry_run:
            click.echo(set_secret(client, local, lambda m: click.echo(m, err=True)))
        counts: dict[str, int] = {}
        touched: list[SpecFile] = []
        for sf in specs:
            try:
                if dry_run:
                    action, changed = _plan(client, sf, reprocess)
                else:
                    action, changed = deploy_pipeline(client, sf, reprocess=reprocess)
            except grpc.RpcError as exc:
                raise DeployError(f"{sf.path}: pipeline {sf.name}: {_rpc_error(exc)}") from None
            counts[action] = counts.get(action, 0) + 1
            if action != "unchanged":
                touched.append(sf)
            detail = f" ({', '.join(changed)})" if changed else ""
            click.echo(f"pipeline {sf.name}: {action}{detail}")
        summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
        click.echo(f"pipelines: {summary}" + ("; no changes" if not touched else ""))
        if dry_run:
            return
        if do_wait:
            for sf in touched:
                client.wait_commit((sf.name, sf.request.output_branch or "master"))
        jobs: list[Any] = []
        if do_tick:
            gids = tick(client, specs, timeout)
            for gid in gids:
                click.echo(f"cron tick: global ID {gid}; waiting for its commits")
                client.wait_commit(gid)
                jobs.extend(client.inspect_job(gid, wait=True))  # egress runs after the commit
        elif do_wait:
            for sf in touched:
                jobs.extend(client.list_job(sf.name, number=1))
        if jobs:
            click.echo(format_table(job_rows(jobs)))
            from python_pachyderm.proto.v2.pps import pps_pb2

            failed = [j for j in jobs if j.state != pps_pb2.JOB_SUCCESS]
            if failed:
                names = ", ".join(f"{j.job.pipeline.name}@{j.job.id}" for j in failed)
                raise DeployError(f"{len(failed)} job(s) did not succeed: {names}")
    except (grpc.RpcError, ConnectionError) as exc:
        raise DeployError(f"pachd {pachd}: {_rpc_error(exc)}") from None


def _plan(client: Any, sf: SpecFile, reprocess: bool) -> tuple[str, list[str]]:
    import grpc

    try:
        info = next(iter(client.inspect_pipeline(sf.name, details=True)))
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND and "not found" not in _rpc_error(exc):
            raise
        return "would be created", []
    changed = spec_differences(sf.request, info.details)
    if changed:
        return "would be updated", changed
    return ("would be reprocessed" if reprocess else "unchanged"), []


def main() -> None:  # pragma: no cover - convenience for `python -m churn.deploy`
    """Run the command standalone."""
    deploy_command(prog_name="churn deploy")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
