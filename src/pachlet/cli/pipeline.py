"""Pipeline commands: ``create|update|list|inspect|delete pipeline`` and ``run cron``, and loading
specs from ``-f FILE`` or ``--jsonnet FILE --arg k=v``."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from pachlet import tables
from pachlet.cli import details
from pachlet.cli.output import emit, output_option, run_jobs, wait_option
from pachlet.cli.refs import parse_key_values
from pachlet.cli.session import open_backend
from pachlet.cli.verbs import create, delete, inspect, list_, run, start, stop, update
from pachlet.errors import PachletError, SpecError


def _read_stdin_to_temp() -> Path:
    data = sys.stdin.read()
    suffix = ".json" if data.lstrip()[:1] in ("{", "[") else ".yaml"
    fd, name = tempfile.mkstemp(prefix="pachlet-spec-", suffix=suffix)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)
    return Path(name)


def load_specs(
    file: str | None, jsonnet: str | None, args: Sequence[str]
) -> tuple[list[dict[str, Any]], str]:
    """The specs of ``-f FILE`` (``-`` = stdin) or ``--jsonnet FILE --arg k=v``, and the source name."""
    from pachlet.spec import load_spec_file

    if bool(file) == bool(jsonnet):
        raise PachletError("give exactly one of -f SPEC or --jsonnet FILE")
    if args and not jsonnet:
        raise PachletError("--arg is only valid with --jsonnet")
    source = jsonnet or file or ""
    tmp: Path | None = None
    try:
        if file == "-":
            tmp = _read_stdin_to_temp()
            path, source = tmp, "<stdin>"
        else:
            path = Path(source)
            if not path.exists():
                raise PachletError(f"{source}: no such file")
        try:
            specs = load_spec_file(path, jsonnet_args=parse_key_values(args) if jsonnet else None)
        except PachletError:
            raise
        except (ValueError, RuntimeError, TypeError) as exc:  # JSON/YAML/Jsonnet syntax errors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SpecError(first, source=source) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return specs, source


def _spec_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--arg", "args", multiple=True, help="Jsonnet top-level argument k=v (repeatable).")(f)
    f = click.option("--jsonnet", default=None, help="A Jsonnet template rendering the spec(s).")(f)
    return click.option("-f", "--file", "file", default=None, help="Pipeline spec (JSON/YAML; - is stdin).")(
        f
    )


def _create_or_update(
    ctx: click.Context, file: str | None, jsonnet: str | None, args: Sequence[str], update: bool,
    reprocess: bool, no_wait: bool,
) -> None:  # fmt: skip
    specs, source = load_specs(file, jsonnet, args)
    with open_backend(ctx, write=True) as b:
        for spec in specs:
            with naming_source(source):
                b.create_pipeline(spec, update, reprocess, source)
        run_jobs(b, no_wait)


@contextmanager
def naming_source(source: str) -> Iterator[None]:
    """Make sure a spec error names the file it came from."""
    try:
        yield
    except SpecError as exc:
        if source and source not in str(exc):
            raise SpecError(str(exc), source=source) from None
        raise


@create.command("pipeline")
@_spec_options
@wait_option
@click.pass_context
def create_pipeline(
    ctx: click.Context, file: str | None, jsonnet: str | None, args: tuple[str, ...], no_wait: bool
) -> None:
    """Create pipelines from a spec file (one spec or a list) and run their first jobs."""
    _create_or_update(ctx, file, jsonnet, args, False, False, no_wait)


@update.command("pipeline")
@_spec_options
@click.option("--reprocess", is_flag=True, help="Reprocess datums that were already processed.")
@wait_option
@click.pass_context
def update_pipeline(
    ctx: click.Context, file: str | None, jsonnet: str | None, args: tuple[str, ...], reprocess: bool,
    no_wait: bool,
) -> None:  # fmt: skip
    """Update pipelines (create them if absent); unchanged datums are skipped unless --reprocess."""
    _create_or_update(ctx, file, jsonnet, args, True, reprocess, no_wait)


@list_.command("pipeline")
@click.argument("name", required=False)
@output_option
@click.pass_context
def list_pipeline(
    ctx: click.Context, name: str | None, output: str, raw: bool, full_timestamps: bool
) -> None:
    """Return info about all pipelines (or one)."""
    with open_backend(ctx, write=False) as b:
        infos = [b.inspect_pipeline(name)] if name else b.list_pipelines()
    emit(infos, output, raw, lambda: tables.pipeline_table(infos, full_timestamps))


@inspect.command("pipeline")
@click.argument("name")
@output_option
@click.pass_context
def inspect_pipeline(ctx: click.Context, name: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return info about a pipeline."""
    with open_backend(ctx, write=False) as b:
        info = b.inspect_pipeline(name)
    emit([info], output, raw, lambda: details.pipeline_details(info, full_timestamps))


@delete.command("pipeline")
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Delete even if other pipelines read its output.")
@click.option("--keep-repo", is_flag=True, help="Keep the output repo.")
@click.pass_context
def delete_pipeline(ctx: click.Context, name: str, force: bool, keep_repo: bool) -> None:
    """Delete a pipeline (and its output repo unless --keep-repo)."""
    with open_backend(ctx, write=True) as b:
        b.delete_pipeline(name, force, keep_repo)


@run.command("cron")
@click.argument("pipeline")
@wait_option
@click.pass_context
def run_cron(ctx: click.Context, pipeline: str, no_wait: bool) -> None:
    """Tick every cron input of a pipeline now; prints the global ID."""
    with open_backend(ctx, write=True) as b:
        gid = b.run_cron(pipeline)
        if gid:  # a remote pachd does not return it
            click.echo(gid)
        run_jobs(b, no_wait)


@stop.command("pipeline")
@click.argument("pipeline")
@click.pass_context
def stop_pipeline(ctx: click.Context, pipeline: str) -> None:
    """Stop a running pipeline: it starts no job until started again; its unfinished jobs are killed."""
    with open_backend(ctx, write=True) as b:
        b.stop_pipeline(pipeline)


@start.command("pipeline")
@click.argument("pipeline")
@wait_option
@click.pass_context
def start_pipeline(ctx: click.Context, pipeline: str, no_wait: bool) -> None:
    """Restart a stopped pipeline: a job reads its inputs' latest commits."""
    with open_backend(ctx, write=True) as b:
        b.start_pipeline(pipeline)
        run_jobs(b, no_wait)
