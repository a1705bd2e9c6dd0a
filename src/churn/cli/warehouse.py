"""``churn warehouse``: init, seed, sql, tables, advance, fsck — against the embedded or a real warehouse."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from churn.cli.errors import one_line_errors
from churn.warehouse.connection import URL_ENV, connect
from churn.warehouse.schema import table_counts

OUTPUTS = ("table", "json", "csv")


def _connection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--lock-timeout",
        type=float,
        default=None,
        envvar="PACHLET_LOCK_TIMEOUT",
        help="Seconds to wait for the embedded warehouse when another process holds it "
        "(env PACHLET_LOCK_TIMEOUT, the setting pachlet uses too; default 30).",
    )(fn)
    fn = click.option("--profile", default=None, help="Named connection from snowflake's connections.toml.")(
        fn
    )
    fn = click.option(
        "--url",
        default=None,
        envvar=URL_ENV,
        help="snowflake://USER@ACCOUNT/DB/SCHEMA?warehouse=WH (password from PACHYDERM_SQL_PASSWORD); "
        f"default ${URL_ENV}, else the embedded warehouse.",
    )(fn)
    return fn


@contextmanager
def _open(url: str | None, profile: str | None, lock_timeout: float | None) -> Iterator[Any]:
    with connect(url, profile=profile, lock_timeout=lock_timeout) as conn:
        yield conn


@click.group("warehouse")
def warehouse() -> None:
    """The Snowflake warehouse (embedded fakesnow by default): create, seed, query, count."""


@warehouse.command("fsck")
@click.option("--fix", is_flag=True, help="Remove what is found.")
@click.option(
    "--lock-timeout",
    type=float,
    default=None,
    envvar="PACHLET_LOCK_TIMEOUT",
    help="Seconds to wait for the embedded warehouse (env PACHLET_LOCK_TIMEOUT; default 30).",
)
@one_line_errors
def fsck_command(fix: bool, lock_timeout: float | None) -> None:
    """Check the embedded warehouse for stage directories a crashed process left (staged table data);
    exit 1 while some remain (remove them with --fix)."""
    from churn.warehouse.connection import warehouse_dir
    from churn.warehouse.staging import fsck

    found = fsck(warehouse_dir(), fix=fix, lock_timeout=lock_timeout)
    for line in found:
        click.echo(line)
    if not found:
        click.echo("embedded warehouse: no leftover stage directory")
    elif not fix:
        sys.exit(1)


@warehouse.command("init")
@_connection_options
@one_line_errors
def init_command(url: str | None, profile: str | None, lock_timeout: float | None) -> None:
    """Create the database, schema and tables (incl. CHURN_SCORES with lineage columns); idempotent."""
    from churn.warehouse.schema import current_location, init

    with _open(url, profile, lock_timeout) as conn:
        tables = init(conn)
        db, schema = current_location(conn)
    click.echo(f"initialised {db}.{schema}: {', '.join(tables)}")


@warehouse.command("seed")
@click.option("--members", type=click.IntRange(min=0), default=20_000, show_default=True)
@click.option(
    "--seed", "seed_", type=int, default=42, show_default=True, help="Random seed (same seed, same data)."
)
@click.option("--chunk-members", type=click.IntRange(min=1), default=50_000, show_default=True)
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal)."
)
@click.option(
    "--outcomes/--no-outcomes",
    default=False,
    show_default=True,
    help="Also load CHURN_OUTCOMES: what happened to the SCORE members after the snapshot (for "
    "churn_monitor; the other tables are identical either way).",
)
@_connection_options
@one_line_errors
def seed_command(
    members: int,
    seed_: int,
    chunk_members: int,
    progress: bool | None,
    outcomes: bool,
    url: str | None,
    profile: str | None,
    lock_timeout: float | None,
) -> None:
    """Generate the synthetic KKBox data set and load it (replacing MEMBERS, TRANSACTIONS, USER_LOGS,
    TRAIN, SCORE; CHURN_OUTCOMES with --outcomes, else emptied)."""
    from churn.warehouse.generate import seed_warehouse

    show = sys.stderr.isatty() if progress is None else progress
    with (
        _open(url, profile, lock_timeout) as conn,
        click.progressbar(
            length=members, label=f"seeding {members:,} members", file=sys.stderr, hidden=not show
        ) as bar,
    ):
        stats = seed_warehouse(
            conn, members, seed_, chunk_members=chunk_members, progress=bar.update, outcomes=outcomes
        )
    rates = stats.rows_per_second()
    width = max(len(t) for t in stats.rows)
    for table, rows in stats.rows.items():
        click.echo(f"{table:<{width}}  {rows:>12,} rows  {rates[table]:>12,.0f} rows/s (load)")
    total = stats.total_rows()
    click.echo(
        f"seeded {members:,} members (seed {seed_}): {total:,} rows in {stats.wall_seconds:.1f}s "
        f"({total / max(stats.wall_seconds, 1e-9):,.0f} rows/s overall; generation {stats.generate_seconds:.1f}s); "
        f"TRAIN churn rate {stats.churn_rate:.1%}"
    )


def _format_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _print_table(names: list[str], rows: list[tuple[Any, ...]]) -> None:
    cells = [[_format_value(v) for v in row] for row in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows) for i in range(len(names))
    ]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)
        )

    click.echo(line(names).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for row in cells:
        click.echo(line(row).rstrip())


@warehouse.command("sql")
@click.argument("query")
@click.option("-o", "--output", type=click.Choice(OUTPUTS), default="table", show_default=True)
@_connection_options
@one_line_errors
def sql_command(
    query: str, output: str, url: str | None, profile: str | None, lock_timeout: float | None
) -> None:
    """Run QUERY (Snowflake SQL) and print its result."""
    from churn.warehouse.loading import iter_arrow_batches, jsonable

    with _open(url, profile, lock_timeout) as conn:
        cur = conn.cursor()
        cur.execute(query)
        if not cur.description:
            click.echo(f"ok ({cur.rowcount if cur.rowcount is not None else 0} rows affected)")
            return
        names = [d[0] for d in cur.description]
        if output == "table":
            _print_table(names, [tuple(r) for r in cur.fetchall()])
        elif output == "csv":
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(names)
            for batch in iter_arrow_batches(cur, 50_000):
                cols = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
                writer.writerows(zip(*cols, strict=True))
        else:
            first = True
            click.echo("[", nl=False)
            for batch in iter_arrow_batches(cur, 50_000):
                for record in batch.to_pylist():
                    text = json.dumps({n: jsonable(record[k]) for n, k in zip(names, record, strict=True)})
                    click.echo(("\n" if first else ",\n") + text, nl=False)
                    first = False
            click.echo("\n]" if not first else "]")


@warehouse.command("tables")
@click.option("-o", "--output", type=click.Choice(("table", "json")), default="table", show_default=True)
@_connection_options
@one_line_errors
def tables_command(output: str, url: str | None, profile: str | None, lock_timeout: float | None) -> None:
    """Row counts of MEMBERS, TRANSACTIONS, USER_LOGS, TRAIN, SCORE and CHURN_SCORES."""
    from churn.warehouse.schema import current_location

    with _open(url, profile, lock_timeout) as conn:
        counts = table_counts(conn)
        db, schema = current_location(conn)
    if output == "json":
        click.echo(json.dumps({"database": db, "schema": schema, "tables": counts}, indent=2))
        return
    width = max(len(t) for t in counts)
    click.echo(f"{'TABLE':<{width}}  {'ROWS':>12}")
    for table, count in counts.items():
        click.echo(f"{table:<{width}}  {('missing' if count is None else f'{count:,}'):>12}")
    if all(c is None for c in counts.values()):
        click.echo(f"(no tables in {db}.{schema}: run `churn warehouse init`)")


@warehouse.command("advance")
@click.option("--members", "msnos", default=None, help="Comma-separated MSNOs to advance.")
@click.option(
    "--count", type=click.IntRange(min=1), default=None, help="Advance N members of SCORE, chosen by --seed."
)
@click.option("--seed", "seed_", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Choice(("table", "json")), default="table", show_default=True)
@_connection_options
@one_line_errors
def advance_command(
    msnos: str | None,
    count: int | None,
    seed_: int,
    output: str,
    url: str | None,
    profile: str | None,
    lock_timeout: float | None,
) -> None:
    """Simulate a new day (20170331) of listening and a transaction for some members, so their scoring
    features change."""
    from churn.warehouse.advance import advance, choose_members

    if (msnos is None) == (count is None):
        raise click.UsageError("give exactly one of --members MSNO,... or --count N")
    with _open(url, profile, lock_timeout) as conn:
        chosen = (
            [m.strip() for m in msnos.split(",") if m.strip()]
            if msnos
            else choose_members(conn, count or 0, seed_)
        )
        added = advance(conn, chosen, seed=seed_)
    if output == "json":
        click.echo(
            json.dumps(
                [{"MSNO": m, "IS_CANCEL": int(c)} for m, c in zip(added.MSNO, added.IS_CANCEL, strict=True)]
            )
        )
        return
    for m, c in zip(added.MSNO, added.IS_CANCEL, strict=True):
        click.echo(f"{m}  {'cancelled' if c else 'auto-renew on'}")
    click.echo(f"advanced {len(added)} member(s) to 20170331")
