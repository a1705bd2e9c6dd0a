"""``churn-ingest``: the second pipeline of the Snowflake import template.

Runs each query file of ``--queries`` (normally one, ``0000``, written by churn-queries) in the warehouse
and streams the result, in Arrow batches of bounded size, into ``--shards`` CSV files
``<out>/shard-NN.csv``. A row goes to shard ``md5(MSNO)[:8] (big-endian) mod N``, so a user stays in its
shard from run to run; the query sorts by MSNO and rows keep their order, so an unchanged shard is
byte-identical and downstream datums are skipped. Every shard is written, with the header (unless
``--no-header``) even when it gets no row. The password comes from ``PACHYDERM_SQL_PASSWORD``.

    churn-ingest --queries /pfs/queries --url URL --shards 8 [--no-header] --out /pfs/out
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import IO, Any

import click
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from churn.stages.common import StageError, log, require_dir, run_stage, stage_main
from churn.stages.sharding import shard_name, shard_of

STAGE = "churn-ingest"
ID_COLUMN = "MSNO"
BATCH_ROWS = 50_000


class ShardWriters:
    """Append-only CSV writers, one per shard, opened up front so every shard file exists."""

    def __init__(self, out_dir: Path, shards: int, header: bool) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.shards = shards
        self.header = header
        self.paths = [out_dir / f"{shard_name(i)}.csv" for i in range(shards)]
        self.files: list[IO[bytes]] = [p.open("wb") for p in self.paths]
        self.columns: list[str] | None = None
        self.rows = [0] * shards
        self._options = pacsv.WriteOptions(include_header=False, quoting_style="needed")

    def start(self, columns: list[str], source: str) -> None:
        """Declare the result columns (the header); every query must return the same columns."""
        if self.columns is None:
            if ID_COLUMN not in [c.upper() for c in columns]:
                raise StageError(f"{source}: the query result has no {ID_COLUMN} column to shard by")
            self.columns = columns
            if self.header:
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerow(columns)
                line = buf.getvalue().encode("utf-8")
                for f in self.files:
                    f.write(line)
        elif columns != self.columns:
            raise StageError(
                f"{source}: the query returns columns {columns}, an earlier query {self.columns}"
            )

    def write(self, table: pa.Table) -> None:
        """Split ``table`` by the shard of its MSNO and append each part to its shard, in row order."""
        assert self.columns is not None
        key = [c.upper() for c in self.columns].index(ID_COLUMN)
        msnos = table.column(key).to_pylist()
        idx = np.fromiter(
            (0 if m is None else shard_of(str(m), self.shards) for m in msnos),
            dtype=np.int64,
            count=len(msnos),
        )
        for s in np.unique(idx):
            part = table.take(pa.array(np.flatnonzero(idx == s)))
            buf = io.BytesIO()
            pacsv.write_csv(part, buf, write_options=self._options)
            self.files[int(s)].write(buf.getvalue())
            self.rows[int(s)] += part.num_rows

    def close(self) -> None:
        """Close every shard file."""
        for f in self.files:
            f.close()


def query_files(queries_dir: Path) -> list[Path]:
    """The query files under ``queries_dir`` (recursively), sorted by path; hidden files are skipped."""
    return sorted(
        p
        for p in queries_dir.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(queries_dir).parts)
    )


def sql_text(path: Path) -> str:
    """The statement in a query file (the leading tick comment kept, a trailing ``;`` removed)."""
    text = path.read_text(encoding="utf-8").strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    if not text or all(line.strip().startswith("--") or not line.strip() for line in text.splitlines()):
        raise StageError(f"query file {path} holds no SQL statement")
    return text


def run_query(conn: Any, path: Path, writers: ShardWriters, batch_rows: int = BATCH_ROWS) -> int:
    """Run the query of ``path`` and stream its rows into ``writers``; returns the row count."""
    from churn.warehouse import WarehouseError, describe_error, iter_arrow_batches

    sql = sql_text(path)
    cur = conn.cursor()
    try:
        cur.execute(sql)
        writers.start([d[0] for d in cur.description or []], str(path))
        rows = 0
        for table in iter_arrow_batches(cur, batch_rows=batch_rows):
            writers.write(table)
            rows += table.num_rows
        return rows
    except StageError:
        raise
    except WarehouseError as exc:
        raise StageError(f"query file {path}: {exc}") from exc
    except Exception as exc:
        raise StageError(f"query file {path}: {describe_error('query', exc)}") from exc
    finally:
        cur.close()


def ingest(queries_dir: Path, url: str, shards: int, header: bool, out_dir: Path) -> list[int]:
    """Run every query file into ``shards`` CSV shards under ``out_dir``; returns the rows per shard."""
    from churn.warehouse import WarehouseError, connect

    files = query_files(queries_dir)
    if not files:
        raise StageError(f"no query file under {queries_dir}")
    writers = ShardWriters(out_dir, shards, header)
    try:
        with connect(url) as conn:
            for path in files:
                rows = run_query(conn, path, writers)
                log(STAGE, f"{path.name}: {rows} rows")
    except WarehouseError as exc:
        raise StageError(str(exc)) from exc
    finally:
        writers.close()
    return writers.rows


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--queries", "queries_dir", required=True, help="Directory of query files, e.g. /pfs/queries.")
@click.option(
    "--url", required=True, help="Warehouse URL, e.g. snowflake://USER@ACCOUNT/DB/SCHEMA?warehouse=WH."
)
@click.option("--shards", type=click.IntRange(1, 100), required=True, help="Number of CSV shards.")
@click.option("--header/--no-header", default=True, show_default=True, help="Write a header row.")
@click.option("--out", "out_dir", required=True, help="Output directory, e.g. /pfs/out.")
def cli(queries_dir: str, url: str, shards: int, header: bool, out_dir: str) -> None:
    """Run the warehouse query and write its rows as CSV shards split by a stable hash of MSNO."""

    def body() -> None:
        rows = ingest(require_dir(queries_dir, "queries"), url, shards, header, Path(out_dir))
        log(STAGE, f"wrote {shards} shards, {sum(rows)} rows (min {min(rows)}, max {max(rows)} per shard)")

    run_stage(STAGE, body)


def main() -> None:
    """Console-script entry point (once per datum under ``datumBatching``)."""
    stage_main(cli, STAGE)
