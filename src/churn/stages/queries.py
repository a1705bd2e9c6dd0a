"""``churn-queries``: the first pipeline of the Snowflake import template.

Reads the cron tick of its input (a file named by the tick time, e.g. ``2026-11-24T04:00:00Z``; with
``overwrite: true`` there is one) and writes ``/pfs/out/0000`` = ``-- <tick time>`` + the query, so every
tick is a new datum for the ingest pipeline, exactly like Pachyderm's ``sql_ingest_cron`` template.

    churn-queries --tick-dir /pfs/in --query "SELECT ..." --out /pfs/out
    churn-queries --tick-dir /pfs/in --query-file pipelines/sql/train.sql --out /pfs/out
"""

from __future__ import annotations

from pathlib import Path

import click

from churn.stages.common import StageError, log, require_dir, run_stage, stage_main

STAGE = "churn-queries"
OUTPUT_NAME = "0000"


def latest_tick(tick_dir: Path) -> str:
    """The name of the newest tick file under ``tick_dir`` (RFC 3339 names sort by time)."""
    ticks = sorted(p.name for p in tick_dir.iterdir() if not p.name.startswith("."))
    if not ticks:
        raise StageError(f"tick directory {tick_dir} holds no cron tick file")
    return ticks[-1]


def render_query(tick: str, query: str) -> str:
    """The query file: a ``-- <tick>`` comment line, then the query with one trailing newline."""
    body = query.strip()
    if not body:
        raise StageError("the query is empty")
    return f"-- {tick}\n{body}\n"


def write_query(tick_dir: Path, query: str, out_dir: Path) -> Path:
    """Write ``<out_dir>/0000`` for the newest tick of ``tick_dir``; returns the path written."""
    text = render_query(latest_tick(tick_dir), query)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / OUTPUT_NAME
    path.write_text(text, encoding="utf-8")
    return path


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--tick-dir", required=True, help="The cron input directory, e.g. /pfs/in.")
@click.option("--query", default=None, help="The SQL text.")
@click.option("--query-file", default=None, help="A file holding the SQL (instead of --query).")
@click.option("--out", "out_dir", required=True, help="Output directory, e.g. /pfs/out.")
def cli(tick_dir: str, query: str | None, query_file: str | None, out_dir: str) -> None:
    """Write the query to run, stamped with the cron tick time."""

    def body() -> None:
        if (query is None) == (query_file is None):
            raise StageError("give exactly one of --query and --query-file")
        if query_file is not None:
            qpath = Path(query_file)
            if not qpath.is_file():
                raise StageError(f"missing query file {qpath}")
            text = qpath.read_text(encoding="utf-8")
        else:
            text = query or ""
        path = write_query(require_dir(tick_dir, "tick"), text, Path(out_dir))
        log(STAGE, f"wrote {path}")

    run_stage(STAGE, body)


def main() -> None:
    """Console-script entry point (once per datum under ``datumBatching``)."""
    stage_main(cli, STAGE)
