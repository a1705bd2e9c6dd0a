"""Datum commands: ``list|inspect datum`` (of a job, or of a spec with ``-f``) and ``restart datum``."""

from __future__ import annotations

import click

from pachlet import tables
from pachlet.cli import details
from pachlet.cli.output import emit, output_option
from pachlet.cli.pipeline import load_specs, naming_source
from pachlet.cli.refs import parse_job_ref
from pachlet.cli.session import open_backend
from pachlet.cli.verbs import inspect, list_, restart
from pachlet.errors import PachletError


@list_.command("datum")
@click.argument("job_ref", required=False, metavar="PIPELINE@JOB_ID")
@click.option("-f", "--file", "file", default=None, help="A spec: list the datums its input gives now.")
@output_option
@click.pass_context
def list_datum(
    ctx: click.Context, job_ref: str | None, file: str | None, output: str, raw: bool, full_timestamps: bool
) -> None:
    """List the datums of a job, or (-f SPEC) the datums a spec's input would produce now."""
    if bool(job_ref) == bool(file):
        raise PachletError("give exactly one of PIPELINE@JOB_ID or -f SPEC")
    if file:
        specs, _ = load_specs(file, None, ())
        with open_backend(ctx, write=False) as b, naming_source(file):
            infos = [d for spec in specs for d in b.datums_for_spec(spec)]
    else:
        pipeline, job_id = parse_job_ref(job_ref or "")
        with open_backend(ctx, write=False) as b:
            infos = b.list_datums(pipeline, job_id)
    emit(infos, output, raw, lambda: tables.datum_table(infos))


@inspect.command("datum")
@click.argument("job_ref", metavar="PIPELINE@JOB_ID")
@click.argument("datum_id")
@output_option
@click.pass_context
def inspect_datum(
    ctx: click.Context, job_ref: str, datum_id: str, output: str, raw: bool, full_timestamps: bool
) -> None:
    """Return info about one datum of a job."""
    pipeline, job_id = parse_job_ref(job_ref)
    with open_backend(ctx, write=False) as b:
        info = b.inspect_datum(pipeline, job_id, datum_id)
    emit([info], output, raw, lambda: details.datum_details(info))


@restart.command("datum")
@click.argument("job_ref", metavar="PIPELINE@JOB_ID")
@click.argument("datum_filter", metavar="DATUM_PATH1,DATUM_PATH2,...")
@click.pass_context
def restart_datum(ctx: click.Context, job_ref: str, datum_filter: str) -> None:
    """Restart a stuck datum of a running job: its current attempt ends and it is retried (matched by
    its input paths or hashes, comma-separated)."""
    pipeline, job_id = parse_job_ref(job_ref)
    filters = [f for f in datum_filter.split(",") if f]
    with open_backend(ctx, write=True) as b:
        b.restart_datum(pipeline, job_id, filters)
