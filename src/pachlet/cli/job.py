"""Job commands: ``list|inspect|stop|delete job`` and ``logs``."""

from __future__ import annotations

import click

from pachlet import tables
from pachlet.cli import details
from pachlet.cli.output import OUTPUT_FORMATS, emit, emit_json, output_option, want_json
from pachlet.cli.refs import parse_job_ref
from pachlet.cli.session import open_backend
from pachlet.cli.verbs import delete, inspect, list_, stop
from pachlet.errors import NotFoundError


@list_.command("job")
@click.argument("global_id", required=False)
@click.option("-p", "--pipeline", default=None, help="Only jobs of this pipeline.")
@click.option("-x", "--expand", is_flag=True, help="One line per job instead of per global ID.")
@output_option
@click.pass_context
def list_job(
    ctx: click.Context, global_id: str | None, pipeline: str | None, expand: bool, output: str, raw: bool,
    full_timestamps: bool,
) -> None:  # fmt: skip
    """List jobs: per global ID (no arguments), of one pipeline (-p) and/or one global ID."""
    as_json = want_json(output, raw)
    with open_backend(ctx, write=False) as b:
        if global_id is None and pipeline is None and not expand:
            sets = b.job_sets()
            if as_json:
                emit_json(sets)
            else:
                click.echo(tables.job_set_table(sets, full_timestamps), nl=False)
            return
        infos = b.list_jobs(pipeline, global_id)
    if as_json:
        emit_json(infos)
    else:
        click.echo(tables.job_table(infos, full_timestamps), nl=False)


@inspect.command("job")
@click.argument("job_ref", metavar="PIPELINE@JOB_ID")
@output_option
@click.pass_context
def inspect_job(ctx: click.Context, job_ref: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return info about a job."""
    pipeline, job_id = parse_job_ref(job_ref)
    with open_backend(ctx, write=False) as b:
        info = b.inspect_job(pipeline, job_id)
    emit([info], output, raw, lambda: details.job_details(info, full_timestamps))


@click.command("logs")
@click.option("-p", "--pipeline", required=True, help="The pipeline.")
@click.option("-j", "--job", "job_id", default=None, help="A job ID (default: the pipeline's latest job).")
@click.option("--datum", "datum_id", default=None, help="Only this datum's lines.")
@click.option("--master", is_flag=True, help="The master's lines (the pipeline's job transitions).")
@click.option(
    "-f", "--follow", is_flag=True, help="Keep returning lines: a job's until it ends, else until ^C."
)
@click.option("-o", "--output", "output", type=click.Choice(OUTPUT_FORMATS), default="table")
@click.option("--raw", is_flag=True, help="Same as -o json (one LogMessage per line).")
@click.pass_context
def logs(
    ctx: click.Context, pipeline: str, job_id: str | None, datum_id: str | None, master: bool, follow: bool,
    output: str, raw: bool,
) -> None:  # fmt: skip
    """Return the output lines of a pipeline's datums (--master: of its master)."""
    as_json = want_json(output, raw)
    if not follow and not master:
        with open_backend(ctx, write=False) as b:
            lines = b.logs(pipeline, job_id, datum_id)
        if as_json:
            emit_json(lines)
            return
        for line in lines:
            click.echo(line.message.rstrip("\n"))
        return
    with open_backend(ctx, write=False) as b:
        try:
            for line in b.stream_logs(pipeline, job_id, datum_id, master, follow):
                if as_json:
                    emit_json([line])
                else:
                    click.echo(line.message.rstrip("\n"))
        except KeyboardInterrupt:  # the way to end a followed pipeline's logs
            return


@stop.command("job")
@click.argument("job_ref", metavar="PIPELINE@JOB_ID|JOB_ID")
@click.pass_context
def stop_job(ctx: click.Context, job_ref: str) -> None:
    """Stop a job immediately (a global ID alone: every job of it)."""
    with open_backend(ctx, write=True) as b:
        if "@" in job_ref:
            b.stop_job(*parse_job_ref(job_ref))
            return
        jobs = b.list_jobs(None, job_ref)
        if not jobs:
            raise NotFoundError(f"job set {job_ref} not found")
        for info in jobs:
            b.stop_job(info.job.pipeline.name, info.job.id)


@delete.command("job")
@click.argument("job_ref", metavar="PIPELINE@JOB_ID")
@click.pass_context
def delete_job(ctx: click.Context, job_ref: str) -> None:
    """Delete a job (it is stopped first; its output commit stays)."""
    with open_backend(ctx, write=True) as b:
        b.delete_job(*parse_job_ref(job_ref))
