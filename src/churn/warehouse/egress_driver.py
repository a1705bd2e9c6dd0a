"""The ``snowflake`` driver of pachlet's SQL egress (entry point ``pachlet.sql_drivers``).

``connect`` is ``churn.warehouse.connect_url`` (embedded fakesnow or real Snowflake by URL). ``bulk_load``
loads a DataFrame with PUT + COPY INTO through the table's own stage (``@SCHEMA.%TABLE``), never row
INSERTs. It issues no DDL, so it stays inside the caller's open transaction on real Snowflake too (where
``write_pandas`` would not: its ``CREATE TEMPORARY STAGE`` is DDL, and DDL implicitly commits the open
transaction). On the embedded warehouse the same statements run on fakesnow's DuckDB connection, inside
the same transaction (measured: a ROLLBACK after PUT + COPY leaves the table unchanged); fakesnow cannot
address the stage of a quoted mixed-case table, so there (only) fakesnow's own ``write_pandas`` is used.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

_PLAIN = re.compile(r"^[A-Z_][A-Z0-9_$]*$")


def connect(url: str, password: str | None) -> AbstractContextManager[Any]:
    """A DB-API connection to ``url`` (context manager); the egress runs BEGIN/COMMIT/ROLLBACK."""
    from churn.warehouse import connect_url

    return connect_url(url, password)


def prepare(url: str) -> None:
    """Import what ``connect(url)`` needs (the connector; fakesnow for the embedded warehouse), ahead of
    it."""
    import snowflake.connector  # noqa: F401

    from churn.warehouse.connection import import_fakesnow
    from churn.warehouse.url import parse_url

    if parse_url(url).embedded:
        import_fakesnow()


def _stage_part(name: str) -> str:
    return name if _PLAIN.match(name) else '"' + name.replace('"', '""') + '"'


def bulk_load(conn: Any, schema: str, table: str, frame: pd.DataFrame) -> int:
    """Load ``frame`` (columns named exactly as the table's) into ``schema.table`` inside the open
    transaction: write it as Parquet, PUT it under a unique prefix of the table stage, COPY INTO the table
    matching columns by name, purging the staged file. Returns the rows loaded."""
    if frame.empty:
        return 0
    if type(conn).__module__.startswith("fakesnow") and not (_PLAIN.match(schema) and _PLAIN.match(table)):
        # fakesnow cannot address the stage of a quoted (mixed-case) table; its write_pandas is a plain
        # INSERT on the same DuckDB connection, inside the open transaction (measured)
        import snowflake.connector.pandas_tools

        result = snowflake.connector.pandas_tools.write_pandas(
            conn, frame, table_name=table, schema=schema, quote_identifiers=True
        )
        return int(result[2])
    prefix = f"pachlet_egress_{uuid.uuid4().hex}"
    stage = f"@{_stage_part(schema)}.%{_stage_part(table)}/{prefix}/"
    target = f'"{schema.replace(chr(34), chr(34) * 2)}"."{table.replace(chr(34), chr(34) * 2)}"'
    with tempfile.TemporaryDirectory(prefix="churn-egress-") as tmp:
        path = Path(tmp) / "part.parquet"
        pq.write_table(
            pa.Table.from_pandas(frame, preserve_index=False),
            path,
            coerce_timestamps="us",
            allow_truncated_timestamps=True,
        )
        cur = conn.cursor()
        try:
            cur.execute(f"PUT 'file://{path.as_posix()}' {stage} AUTO_COMPRESS=FALSE OVERWRITE=TRUE")
            cur.execute(
                f"COPY INTO {target} FROM {stage} FILE_FORMAT=(TYPE=PARQUET) "
                "MATCH_BY_COLUMN_NAME=CASE_SENSITIVE PURGE=TRUE"
            )
            results = cur.fetchall()
        finally:
            cur.close()
    loaded = 0
    for row in results:
        status = str(row[1]).upper() if len(row) > 1 else "LOADED"
        if status != "LOADED":
            first_error = row[6] if len(row) > 6 else None
            raise RuntimeError(f"COPY INTO {schema}.{table}: {status}: {first_error}")
        loaded += int(row[3])
    return loaded
