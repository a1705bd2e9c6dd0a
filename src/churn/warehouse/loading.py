"""Moving data in and out: ``bulk_load`` (write_pandas, never row INSERTs) and ``iter_arrow_batches``."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa


def bulk_load(conn: Any, table: str, df: pd.DataFrame) -> int:
    """Append ``df`` (columns named as the table's) to ``table`` in the connection's current schema with
    ``write_pandas``; returns the rows loaded. On the embedded warehouse this is fakesnow's write_pandas
    (a DuckDB insert of the frame); on Snowflake, the connector's PUT + COPY INTO."""
    if df.empty:
        return 0
    # attribute access at call time: fakesnow patches this name while an embedded connection is open
    import snowflake.connector.pandas_tools

    success, _chunks, rows, _output = snowflake.connector.pandas_tools.write_pandas(
        conn, df, table_name=table.upper(), quote_identifiers=False, auto_create_table=False
    )[:4]
    if not success:
        raise RuntimeError(f"write_pandas into {table} reported failure")
    return int(rows)


def _is_fake(cursor: Any) -> bool:
    return type(cursor).__module__.startswith("fakesnow")


def iter_arrow_batches(cursor: Any, batch_rows: int = 100_000) -> Iterator[pa.Table]:
    """The executed cursor's result as Arrow tables of at most ~``batch_rows`` rows.

    Real connector: ``fetch_arrow_batches`` (the result streams in server-side chunks, re-sliced to
    ``batch_rows``). Embedded (fakesnow): fakesnow materializes the whole result as one Arrow table when
    the query runs, so memory holds the full result once; the batches are zero-copy slices of it. Keep
    embedded results modest (push aggregation into SQL). An empty result yields nothing."""
    if batch_rows <= 0:
        raise ValueError("batch_rows must be positive")
    if _is_fake(cursor):
        hook = getattr(cursor, "_prefetch_hook", None)
        if hook is not None:  # fakesnow defers some results until the first fetch
            hook()
        table = getattr(cursor, "_arrow_table", None)
        if table is None:
            return
        for offset in range(0, table.num_rows, batch_rows):
            yield table.slice(offset, batch_rows)
        return
    pending: list[pa.Table] = []
    pending_rows = 0
    for batch in cursor.fetch_arrow_batches():
        pending.append(batch)
        pending_rows += batch.num_rows
        while pending_rows >= batch_rows:
            merged = pa.concat_tables(pending)
            yield merged.slice(0, batch_rows)
            rest = merged.slice(batch_rows)
            pending, pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
    if pending_rows:
        yield pa.concat_tables(pending)


def fetch_frame(cursor: Any) -> pd.DataFrame:
    """The executed cursor's whole result as a DataFrame (columns named as the result's)."""
    names = [d[0] for d in cursor.description or []]
    if _is_fake(cursor):
        frame = cursor.fetch_pandas_all()
        frame.columns = names
        return frame
    rows = cursor.fetchall()
    return pd.DataFrame.from_records(rows, columns=names)


def jsonable(value: Any) -> Any:
    """A warehouse value as JSON can hold it: None/bool/int/str as they are, NaN as None, the rest
    (dates, decimals, timestamps) as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    return str(value)
