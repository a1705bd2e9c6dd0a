"""`churn deploy`: create or update a target's pipelines on a pachd and print what changed (and, with
--tick or --wait, the job table)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from churn.cli.errors import one_line_errors
from churn.deploy import connect, deploy_pipeline, ordered_specs, plan_pipeline, rpc_error, set_secret, tick
from churn.errors import DeployError
from churn.specs import SpecFile


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
@one_line_errors
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

    specs = ordered_specs(target, specs_dir)
    client = connect(pachd)
    try:
        version = client.get_remote_version()
    except (grpc.RpcError, ConnectionError) as exc:
        raise DeployError(f"cannot reach pachd at {pachd}: {rpc_error(exc)}") from None
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
                    action, changed = plan_pipeline(client, sf, reprocess=reprocess)
                else:
                    action, changed = deploy_pipeline(client, sf, reprocess=reprocess)
            except grpc.RpcError as exc:
                raise DeployError(f"{sf.path}: pipeline {sf.name}: {rpc_error(exc)}") from None
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
        raise DeployError(f"pachd {pachd}: {rpc_error(exc)}") from None
