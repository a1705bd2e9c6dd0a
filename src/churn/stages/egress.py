"""``churn-egress``: container SQL egress for Pachyderm 2.8+, which no longer ships the Snowflake driver.

Runs as a pipeline over the predict output (glob ``/``) and loads ``/pfs/<input>/<TABLE>/*`` into the
warehouse with the semantics of Pachyderm's native ``egress.sqlDatabase``: one transaction, each table
emptied then bulk-loaded, header rules per ``--columns``. It is the same code pachlet runs for its own
SQL egress (``pachlet.egress.load_tables``); the password comes from ``PACHYDERM_SQL_PASSWORD``.

    churn-egress --input /pfs/predict --url URL --format CSV --columns MSNO,CHURN_PROBABILITY,...
"""

from __future__ import annotations

import os
import sys

import click

from pachlet.egress import PASSWORD_ENV, EgressError, files_from_dir, load_tables, resolve_driver


def _split_columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--input", "input_dir", required=True, help="Input directory, e.g. /pfs/predict (holds <TABLE>/ dirs)."
)
@click.option(
    "--url", required=True, help="Warehouse URL, e.g. snowflake://USER@ACCOUNT/DB/SCHEMA?warehouse=WH."
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["CSV", "JSON"], case_sensitive=False),
    default="CSV",
    show_default=True,
    help="File format of the table files.",
)
@click.option(
    "--columns",
    default="",
    help="Comma-separated table columns: CSV files then start with a header naming them (any order). "
    "Empty: CSV files have no header and list the table's columns in table order.",
)
def cli(input_dir: str, url: str, file_format: str, columns: str) -> None:
    """Load every <TABLE>/ directory of the input into the warehouse table of that name (one transaction;
    each table fully replaced)."""
    spec = {"url": url, "fileFormat": {"type": file_format.upper(), "columns": _split_columns(columns)}}
    password = os.environ.get(PASSWORD_ENV)
    try:
        files = files_from_dir(input_dir)
        if not files:
            click.echo(f"churn-egress: {input_dir} is empty; nothing to load")
            return
        written = load_tables(resolve_driver(url), spec, files, password)
    except EgressError as exc:
        click.echo(f"churn-egress: error: {exc}", err=True)
        sys.exit(1)
    for table, rows in written.items():
        click.echo(f"churn-egress: {table}: {rows} rows loaded")


def main() -> None:
    """Console-script entry point."""
    cli()
