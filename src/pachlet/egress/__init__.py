"""SQL egress (``egress.sqlDatabase``) with Pachyderm 2.x semantics, for any DB-API driver.

After a job's output commit is finished, every file under ``/<TABLE>/...`` (``/<SCHEMA>.<TABLE>/...``) of
the commit is loaded into that existing table. All tables are written in ONE transaction: on the first
touch of a table its rows are deleted, then every file of the table is bulk-loaded; any error rolls the
whole transaction back, so no table changes. Files at the root of the commit are an error, and an empty
commit is a no-op (no connection is even opened).

File formats (``fileFormat``):

- ``CSV`` with ``columns`` empty: no header; each row has exactly the table's columns, in table order.
- ``CSV`` with ``columns`` set: the first row is a header naming exactly those columns, in any order;
  values are mapped to table columns by name (case-insensitive).
- ``JSON``: one object per line; keys are ``columns`` (or the table's columns when empty); a missing key
  is NULL, extra keys are ignored.

Values are converted to the column types read from ``information_schema.columns``; as in Pachyderm, an
empty field (or ``nil``) is NULL for non-text columns and an empty string for text columns.

Drivers are found by URL scheme in the entry-point group ``pachlet.sql_drivers`` (see ``SQLDriver``), so
pachlet knows nothing about any particular database. The core is ``load_tables`` (pure: a driver, the
egress spec, the files, the password); ``run_egress`` feeds it a pachlet commit and the container egress
stage feeds it a ``/pfs`` directory.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pachlet.errors import PachletError

ENTRY_POINT_GROUP = "pachlet.sql_drivers"
PASSWORD_ENV = "PACHYDERM_SQL_PASSWORD"
CHUNK_ROWS = 250_000
"""Rows per bulk-load call (bounds memory whatever the file size)."""
CONNECT_ATTEMPTS = 3
CONNECT_RETRY_SECONDS = 1.0
"""``run_egress`` tries to connect this many times, waiting 1 s, then 2 s, between attempts."""

_IDENT = r"[A-Za-z_][A-Za-z0-9_$]*"
_TABLE_PATH_RE = re.compile(rf"^({_IDENT})(?:\.({_IDENT}))?$")
_URL_USERINFO_RE = re.compile(r"(://[^/@:\s]*:)[^/@\s]*@")
_NULL_STRINGS = ("", "nil")
_TRUE = frozenset({"1", "t", "true"})
_FALSE = frozenset({"0", "f", "false"})

FileOpener = Callable[[], BinaryIO]
"""Opens one file of the commit for reading (binary)."""


class EgressError(PachletError):
    """SQL egress failed; the message names the URL, table, file and row, with the password redacted.
    ``connect_failed`` is True when the warehouse could not be reached at all (worth retrying)."""

    def __init__(self, message: str, *, connect_failed: bool = False) -> None:
        super().__init__(message)
        self.connect_failed = connect_failed


@runtime_checkable
class SQLDriver(Protocol):
    """What an entry point in ``pachlet.sql_drivers`` provides (a module or an object).

    ``connect(url, password)`` returns a context manager yielding a DB-API connection in autocommit mode;
    the egress itself runs ``BEGIN`` / ``COMMIT`` / ``ROLLBACK`` on it. Optionally the driver also has
    ``bulk_load(conn, schema, table, frame) -> int``, which loads a pandas DataFrame (columns named
    exactly as the table's columns, already typed) into ``schema.table`` *inside the caller's open
    transaction* (no DDL, no commit) and returns the rows loaded. Without it, rows go through
    ``cursor().executemany`` (correct but slow), using the driver's ``paramstyle`` (default ``pyformat``).
    An entry point may also name a bare ``connect`` function.
    """

    def connect(self, url: str, password: str | None) -> AbstractContextManager[Any]:
        """Open a connection to ``url`` with ``password``."""
        ...


@dataclass(frozen=True)
class _FunctionDriver:
    """A driver given as a bare ``connect`` function (no bulk path)."""

    connect: Callable[[str, str | None], AbstractContextManager[Any]]


@dataclass(frozen=True)
class Column:
    """A table column from ``information_schema.columns``."""

    name: str
    data_type: str
    scale: int | None = None
    nullable: bool = True


@dataclass(frozen=True)
class TableInfo:
    """An existing table: schema and name as stored, and its columns in table order."""

    schema: str
    name: str
    columns: tuple[Column, ...]

    @property
    def qualified(self) -> str:
        """``"SCHEMA"."TABLE"``, quoted exactly as stored."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    @property
    def label(self) -> str:
        """``SCHEMA.TABLE`` for messages."""
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class EgressSpec:
    """``egress.sqlDatabase`` of a pipeline spec, checked."""

    url: str
    file_format: str  # "CSV" or "JSON"
    columns: tuple[str, ...]
    secret_name: str | None = None
    secret_key: str | None = None


class _RowError(Exception):
    """A bad value or row inside one file (becomes part of an EgressError message)."""


# --------------------------------------------------------------------------- small helpers


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def redact(text: str, password: str | None) -> str:
    """``text`` with the password (and any ``user:secret@`` in a URL) replaced by ``********``."""
    if password:
        text = text.replace(password, "********")
    return _URL_USERINFO_RE.sub(r"\1********@", text)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def parse_egress_spec(egress: Mapping[str, Any]) -> EgressSpec:
    """Check an ``egress.sqlDatabase`` dict (camelCase or snake_case) and return it as ``EgressSpec``."""
    if not isinstance(egress, Mapping):
        raise EgressError("egress.sqlDatabase must be an object")
    url = egress.get("url")
    if not isinstance(url, str) or "://" not in url:
        raise EgressError(
            f"egress.sqlDatabase.url must be a URL like scheme://user@host/db/schema, got {url!r}"
        )
    fmt = egress.get("fileFormat", egress.get("file_format")) or {}
    ftype = fmt.get("type", "CSV")
    if isinstance(ftype, int):
        ftype = {1: "CSV", 2: "JSON", 3: "PARQUET"}.get(ftype, "UNKNOWN")
    ftype = str(ftype).upper()
    if ftype not in ("CSV", "JSON"):
        raise EgressError(
            f"egress.sqlDatabase.fileFormat.type {ftype} is not supported by SQL egress (CSV or JSON)"
        )
    columns = fmt.get("columns") or []
    if not isinstance(columns, list | tuple) or not all(isinstance(c, str) and c for c in columns):
        raise EgressError("egress.sqlDatabase.fileFormat.columns must be a list of column names")
    lowered = [c.lower() for c in columns]
    if len(set(lowered)) != len(lowered):
        raise EgressError(f"egress.sqlDatabase.fileFormat.columns has a duplicate name: {list(columns)}")
    secret = egress.get("secret") or {}
    return EgressSpec(
        url=url,
        file_format=ftype,
        columns=tuple(columns),
        secret_name=secret.get("name") or None,
        secret_key=secret.get("key") or None,
    )


def split_table_path(path: str) -> tuple[str | None, str]:
    """The (schema or None, table) a file path egresses to: its first path component, split at the
    first dot. Rejects files at the root and names that are not plain SQL identifiers."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2:
        raise EgressError(
            f"file {path!r} is at the root of the output commit; SQL egress loads /<TABLE>/<file> "
            f"(or /<SCHEMA>.<TABLE>/<file>)"
        )
    m = _TABLE_PATH_RE.match(parts[0])
    if not m:
        raise EgressError(
            f"directory {parts[0]!r} (file {path!r}) is not a valid table name: expected TABLE or "
            f"SCHEMA.TABLE made of letters, digits, _ and $ (not starting with a digit)"
        )
    return (m.group(1), m.group(2)) if m.group(2) else (None, m.group(1))


# --------------------------------------------------------------------------- drivers


def resolve_driver(url: str) -> SQLDriver:
    """The driver registered for ``url``'s scheme in the ``pachlet.sql_drivers`` entry-point group."""
    scheme = url.split("://", 1)[0].lower()
    eps = entry_points(group=ENTRY_POINT_GROUP)
    found = [ep for ep in eps if ep.name.lower() == scheme]
    if not found:
        names = ", ".join(sorted(ep.name for ep in eps)) or "none"
        raise EgressError(
            f"no SQL egress driver for URL scheme {scheme!r} (installed: {names}; drivers register in "
            f"entry-point group {ENTRY_POINT_GROUP})"
        )
    try:
        obj = found[0].load()
    except Exception as exc:  # an import error inside the driver package
        raise EgressError(f"cannot load SQL egress driver {found[0].value!r}: {_one_line(exc)}") from None
    if hasattr(obj, "connect"):
        return obj
    if callable(obj):
        return _FunctionDriver(connect=obj)
    raise EgressError(f"SQL egress driver {found[0].value!r} has no connect()")


# --------------------------------------------------------------------------- warehouse metadata


def _fetchall(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        return list(cur.fetchall())
    finally:
        cur.close()


def _execute(conn: Any, sql: str) -> None:
    cur = conn.cursor()
    try:
        cur.execute(sql)
    finally:
        cur.close()


def get_table_info(conn: Any, schema: str | None, table: str) -> TableInfo:
    """Look a table up in ``information_schema`` (names matched case-insensitively; without a schema,
    the connection's current schema, else PUBLIC). ``EgressError`` naming the table if it is absent."""
    # schema and table are validated identifiers ([A-Za-z0-9_$]), so inlining them is safe
    if schema is None:
        rows = _fetchall(conn, "SELECT CURRENT_SCHEMA()")
        schema = rows[0][0] if rows and rows[0][0] else "PUBLIC"
    wanted = f"{schema}.{table}"
    found = _fetchall(
        conn,
        "SELECT table_schema, table_name FROM information_schema.tables "
        f"WHERE upper(table_schema) = upper('{schema}') AND upper(table_name) = upper('{table}')",
    )
    if not found:
        raise EgressError(f"table {wanted} does not exist (SQL egress needs the table created beforehand)")
    if len(found) > 1:
        raise EgressError(f"table name {wanted} is ambiguous: {sorted(f'{s}.{t}' for s, t in found)}")
    real_schema, real_table = str(found[0][0]), str(found[0][1])
    rows = _fetchall(
        conn,
        "SELECT column_name, data_type, numeric_scale, is_nullable FROM information_schema.columns "
        f"WHERE table_schema = '{real_schema}' AND table_name = '{real_table}' ORDER BY ordinal_position",
    )
    if not rows:
        raise EgressError(f"table {wanted} has no columns in information_schema")
    columns = tuple(
        Column(
            name=str(name),
            data_type=str(dtype).upper(),
            scale=int(scale) if scale is not None else None,
            nullable=str(nullable).upper() in ("YES", "TRUE", "Y"),
        )
        for name, dtype, scale, nullable in rows
    )
    return TableInfo(schema=real_schema, name=real_table, columns=columns)


# --------------------------------------------------------------------------- value conversion


def _kind(col: Column) -> str:
    t = col.data_type
    if t in ("NUMBER", "DECIMAL", "NUMERIC"):
        return "int" if not col.scale else "float"
    if t in ("INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "BYTEINT"):
        return "int"
    if t in ("FLOAT", "FLOAT4", "FLOAT8", "DOUBLE", "DOUBLE PRECISION", "REAL"):
        return "float"
    if t in ("BOOLEAN", "BOOL"):
        return "bool"
    if t in ("TEXT", "VARCHAR", "STRING", "CHAR", "CHARACTER", "NCHAR", "NVARCHAR"):
        return "text"
    if t == "DATE":
        return "date"
    if t in ("TIMESTAMP_TZ", "TIMESTAMP_LTZ", "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"):
        return "timestamp_tz"
    if t.startswith("TIMESTAMP") or t == "DATETIME":
        return "timestamp"
    return "other"  # TIME, BINARY, VARIANT, ...: passed as text, cast by the warehouse


def _is_null(value: Any, *, text: bool) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return not text and isinstance(value, str) and value in _NULL_STRINGS


def _first_bad(values: Sequence[Any], bad: Any) -> tuple[int, Any]:
    idx = int(bad.nonzero()[0][0])
    return idx, values[idx]


def convert_column(col: Column, values: Sequence[Any], lines: Sequence[int]) -> pd.Series:
    """Typed values for one column (``values`` from CSV strings or JSON values). ``_RowError`` naming the
    line, column and value on the first value that does not fit the column type."""
    kind = _kind(col)
    text = kind in ("text", "other")
    raw = pd.Series(values, dtype=object)
    all_str = pd.api.types.infer_dtype(raw, skipna=True) in ("string", "empty")
    if all_str:  # CSV: vectorized
        null = raw.isna() if text else (raw.isna() | raw.isin(_NULL_STRINGS))
    else:
        null = raw.map(lambda v: _is_null(v, text=text)).astype(bool)
    null_np = null.to_numpy(dtype=bool)

    def fail(idx: int, value: Any, what: str) -> _RowError:
        return _RowError(f"line {lines[idx]}: column {col.name}: {what} {col.data_type} value {value!r}")

    if kind in ("int", "float"):
        if all_str:
            cleaned = raw.where(~null, None)
        else:  # JSON values; true/false are not numbers ('' fails to parse and is reported)
            cleaned = pd.Series(
                [
                    None if n else ("" if isinstance(v, bool) else v)
                    for v, n in zip(values, null_np, strict=True)
                ],
                dtype=object,
            )
        nums = pd.to_numeric(cleaned, errors="coerce", dtype_backend="numpy_nullable")
        bad = nums.isna().to_numpy(dtype=bool) & ~null_np
        if bad.any():
            raise fail(*_first_bad(values, bad), "invalid")
        if kind == "int":
            if nums.dtype.kind == "f" or str(nums.dtype) == "Float64":
                frac = (nums.fillna(0) % 1 != 0).to_numpy(dtype=bool)
                if frac.any():
                    raise fail(*_first_bad(values, frac), "non-integer")
            return nums.astype("Int64")
        return nums.astype("Float64").astype("float64")
    if kind == "bool":
        out: list[bool | None] = []
        for i, v in enumerate(values):
            if null_np[i]:
                out.append(None)
            elif isinstance(v, bool):
                out.append(v)
            elif isinstance(v, str | int) and str(v).strip().lower() in _TRUE | _FALSE:
                out.append(str(v).strip().lower() in _TRUE)
            else:
                raise fail(i, v, "invalid")
        return pd.Series(out, dtype="boolean")
    if kind in ("date", "timestamp", "timestamp_tz"):
        strs = raw.where(~null, None)
        strs = strs.str.strip() if all_str else strs
        try:
            ts = pd.to_datetime(strs, errors="coerce", utc=True, format="ISO8601")
        except (ValueError, TypeError):
            ts = pd.to_datetime(strs, errors="coerce", utc=True, format="mixed")
        bad = ts.isna().to_numpy(dtype=bool) & ~null_np
        if bad.any():
            raise fail(*_first_bad(values, bad), "invalid")
        if kind == "date":
            return ts.dt.tz_localize(None).dt.date.astype(object).where(~null, None)
        if kind == "timestamp":
            return ts.dt.tz_localize(None)
        return ts
    # text and other types: strings as they are; JSON values that are not strings as JSON text
    if all_str:
        return raw
    return raw.map(lambda v: None if _is_null(v, text=True) else (v if isinstance(v, str) else json.dumps(v)))


# --------------------------------------------------------------------------- file readers


def _target_columns(table: TableInfo, names: Sequence[str]) -> list[Column]:
    lookup = {c.name.lower(): c for c in table.columns}
    out = []
    for name in names:
        col = lookup.get(name.lower())
        if col is None:
            raise EgressError(
                f"column {name!r} of fileFormat.columns is not a column of table {table.label} "
                f"(columns: {', '.join(c.name for c in table.columns)})"
            )
        out.append(col)
    return out


_ARROW_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
}
_PANDAS_TYPES = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}


def _arrow_convert(col: Column, arr: pa.Array) -> pa.Array | None:
    """Fast path: cast a column of CSV strings with Arrow; None when some value does not cast (then the
    slower pandas path decides, accepting more spellings and naming the bad row)."""
    kind = _kind(col)
    if kind in ("text", "other"):
        return arr
    null = pc.is_in(arr, value_set=pa.array(_NULL_STRINGS))
    arr = pc.if_else(null, pa.scalar(None, pa.string()), arr)
    try:
        if kind in _ARROW_TYPES:
            return pc.cast(arr, _ARROW_TYPES[kind])
        try:
            aware = pc.cast(arr, pa.timestamp("us", tz="UTC"))
        except pa.ArrowInvalid:
            aware = pc.assume_timezone(pc.cast(arr, pa.timestamp("us")), "UTC")
        return aware if kind == "timestamp_tz" else pc.cast(aware, pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _table_frame(columns: Sequence[Column], arrays: Sequence[pa.Array], first_line: int) -> pd.DataFrame:
    data: dict[str, pd.Series] = {}
    for col, arr in zip(columns, arrays, strict=True):
        fast = _arrow_convert(col, arr)
        if fast is not None:
            data[col.name] = fast.to_pandas(types_mapper=_PANDAS_TYPES.get)
        else:
            values = arr.to_pylist()
            data[col.name] = convert_column(col, values, range(first_line, first_line + len(values)))
    return pd.DataFrame(data)


def _csv_header(stream: BinaryIO) -> list[str] | None:
    line = stream.readline()
    if not line:
        return None
    try:
        text = line.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise _RowError(f"line 1: header is not UTF-8 text: {exc}") from None
    return next(csv.reader([text]), [])


def _find_bad_csv_line(opener: FileOpener, width: int, skip_header: bool) -> str | None:
    """Slow path after Arrow rejected a row: the first line whose field count is wrong."""
    with opener() as stream:
        reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=""))
        if skip_header:
            next(reader, None)
        try:
            for row in reader:
                if row and len(row) != width:
                    return f"line {reader.line_num}: wrong number of fields: have {len(row)}, want {width}"
        except csv.Error as exc:
            return f"line {reader.line_num}: {exc}"
    return None


def read_csv_chunks(
    opener: FileOpener, table: TableInfo, columns: Sequence[str], chunk_rows: int = CHUNK_ROWS
) -> Iterator[pd.DataFrame]:
    """Typed DataFrames of about ``chunk_rows`` rows from a CSV file, following Pachyderm's header rules
    (``columns`` empty: no header, every row has the table's columns in table order; ``columns`` set: a
    header naming exactly those columns, in any order). Parsed by Arrow (quoted fields may hold newlines)."""
    with opener() as stream:
        if columns:
            expected = _target_columns(table, columns)
            header = _csv_header(stream)
            if header is None:
                return  # an empty file: no header, no rows
            by_name = {c.name.lower(): c for c in expected}
            targets: list[Column] = []
            for name in header:
                col = by_name.get(name.strip().lower())
                if col is None:
                    raise _RowError(
                        f"line 1: unexpected header column {name!r} (expected {', '.join(columns)} in any order)"
                    )
                if col in targets:
                    raise _RowError(f"line 1: header column {name!r} appears twice")
                targets.append(col)
            if len(targets) != len(expected):
                missing = [c for c in columns if c.lower() not in {t.name.lower() for t in targets}]
                raise _RowError(f"line 1: header lacks column(s) {', '.join(missing)}")
        else:
            targets = list(table.columns)
        names = [f"c{i}" for i in range(len(targets))]
        first_line = 2 if columns else 1
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(column_names=names, block_size=8 << 20),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            pending: list[pa.RecordBatch] = []
            count = 0
            for batch in reader:
                pending.append(batch)
                count += batch.num_rows
                if count >= chunk_rows:
                    tbl = pa.Table.from_batches(pending).combine_chunks()
                    yield _table_frame(
                        targets, [tbl.column(i).chunk(0) for i in range(len(names))], first_line
                    )
                    first_line += tbl.num_rows
                    pending, count = [], 0
            if count:
                tbl = pa.Table.from_batches(pending).combine_chunks()
                yield _table_frame(targets, [tbl.column(i).chunk(0) for i in range(len(names))], first_line)
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):
                return
            found = _find_bad_csv_line(opener, len(targets), bool(columns))
            raise _RowError(found or _one_line(exc)) from None


def read_json_chunks(
    opener: FileOpener, table: TableInfo, columns: Sequence[str], chunk_rows: int = CHUNK_ROWS
) -> Iterator[pd.DataFrame]:
    """Typed DataFrames from a JSON-lines file (one object per line; keys ``columns`` or the table's
    columns, matched case-insensitively; a missing key is NULL, other keys are ignored)."""
    targets = _target_columns(table, columns) if columns else list(table.columns)
    keys = [c.name.lower() for c in targets]

    def frame(data: list[list[Any]], lines: list[int]) -> pd.DataFrame:
        return pd.DataFrame(
            {col.name: convert_column(col, values, lines) for col, values in zip(targets, data, strict=True)}
        )

    data: list[list[Any]] = [[] for _ in targets]
    lines: list[int] = []
    with opener() as stream:
        try:
            for lineno, raw in enumerate(io.TextIOWrapper(stream, encoding="utf-8"), start=1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise _RowError(f"line {lineno}: invalid JSON: {exc.msg}") from None
                if not isinstance(obj, dict):
                    raise _RowError(f"line {lineno}: expected a JSON object, got {type(obj).__name__}")
                low = {str(k).lower(): v for k, v in obj.items()}
                for values, key in zip(data, keys, strict=True):
                    values.append(low.get(key))
                lines.append(lineno)
                if len(lines) >= chunk_rows:
                    yield frame(data, lines)
                    data, lines = [[] for _ in targets], []
        except UnicodeDecodeError as exc:
            raise _RowError(f"not UTF-8 text: {exc}") from None
    if lines:
        yield frame(data, lines)


# --------------------------------------------------------------------------- loading


def _plain_value(v: Any) -> Any:
    """A DataFrame cell as a plain Python value a DB-API driver can bind."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v.item() if hasattr(v, "item") else v


def _insert_rows(driver: Any, conn: Any, table: TableInfo, frame: pd.DataFrame) -> int:
    """The generic (slow) path for drivers without ``bulk_load``: ``executemany`` of INSERTs."""
    style = getattr(driver, "paramstyle", "pyformat")
    marks = {"qmark": "?", "numeric": None, "named": None, "format": "%s", "pyformat": "%s"}.get(style, "%s")
    if marks is None:
        marks_list = [f":{i + 1}" if style == "numeric" else f":p{i}" for i in range(len(frame.columns))]
    else:
        marks_list = [marks] * len(frame.columns)
    cols = ", ".join(quote_ident(c) for c in frame.columns)
    sql = f"INSERT INTO {table.qualified} ({cols}) VALUES ({', '.join(marks_list)})"
    records = [
        tuple(_plain_value(v) for v in row) for row in frame.astype(object).itertuples(index=False, name=None)
    ]
    if style == "named":
        records = [{f"p{i}": v for i, v in enumerate(r)} for r in records]  # type: ignore[misc]
    cur = conn.cursor()
    try:
        cur.executemany(sql, records)
    finally:
        cur.close()
    return len(records)


def _group_files(
    files: Iterable[tuple[str, FileOpener]],
) -> list[tuple[tuple[str | None, str], list[tuple[str, FileOpener]]]]:
    """Files grouped by target table, in path order (validating every path before any connection)."""
    groups: dict[tuple[str | None, str], list[tuple[str, FileOpener]]] = {}
    for path, opener in sorted(files, key=lambda f: f[0]):
        schema, table = split_table_path(path)
        key = (schema.upper() if schema else None, table.upper())
        groups.setdefault(key, []).append((path, opener))
    return list(groups.items())


def load_tables(
    driver: Any,
    egress: Mapping[str, Any] | EgressSpec,
    files: Iterable[tuple[str, FileOpener]],
    password: str | None,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, int]:
    """Load ``files`` (``(path, opener)`` pairs, paths like ``/TABLE/part.csv``) into the warehouse at
    ``egress.url`` with Pachyderm's SQL egress semantics, in one transaction. Returns rows written per
    table (``SCHEMA.TABLE``); ``{}`` without connecting when there are no files. Raises ``EgressError``
    (password redacted) after rolling back, leaving every table unchanged."""
    spec = egress if isinstance(egress, EgressSpec) else parse_egress_spec(egress)
    url = redact(spec.url, password)
    try:
        groups = _group_files(files)
    except EgressError as exc:
        raise EgressError(f"SQL egress to {url}: {redact(str(exc), password)}") from None
    if not groups:
        return {}
    bulk = getattr(driver, "bulk_load", None)
    reader = read_csv_chunks if spec.file_format == "CSV" else read_json_chunks
    written: dict[str, int] = {}
    where = "connect"
    try:
        with driver.connect(spec.url, password) as conn:
            where = "BEGIN"
            _execute(conn, "BEGIN")
            try:
                for (schema, table_name), table_files in groups:
                    label = f"{schema}.{table_name}" if schema else table_name
                    where = f"table {label}"
                    table = get_table_info(conn, schema, table_name)
                    where = f"table {table.label}: DELETE"
                    _execute(conn, f"DELETE FROM {table.qualified}")
                    written[table.label] = 0
                    for path, opener in table_files:
                        where = f"table {table.label}: file {path}"
                        for frame in reader(opener, table, spec.columns, chunk_rows):
                            if bulk is not None:
                                n = bulk(conn, table.schema, table.name, frame)
                            else:
                                n = _insert_rows(driver, conn, table, frame)
                            written[table.label] += int(n if n is not None else len(frame))
                where = "COMMIT"
                _execute(conn, "COMMIT")
            except BaseException:
                # the original error matters more than a failed rollback (the connection is going away)
                with contextlib.suppress(Exception):
                    _execute(conn, "ROLLBACK")
                raise
    except _RowError as exc:
        raise EgressError(
            f"SQL egress to {url}: {where}: {redact(_one_line(exc), password)}; rolled back, no table changed"
        ) from None
    except EgressError as exc:
        raise EgressError(
            f"SQL egress to {url}: {redact(_one_line(exc), password)}; rolled back, no table changed"
        ) from None
    except Exception as exc:
        detail = redact(_one_line(f"{type(exc).__name__}: {exc}"), password)
        if where == "connect":
            raise EgressError(f"SQL egress to {url}: connect: {detail}", connect_failed=True) from None
        raise EgressError(f"SQL egress to {url}: {where}: {detail}; rolled back, no table changed") from None
    return written


# --------------------------------------------------------------------------- entry points


def files_from_dir(root: str | os.PathLike[str]) -> list[tuple[str, FileOpener]]:
    """``(path, opener)`` for every file under a local directory (e.g. ``/pfs/<input>``), paths relative
    to it with a leading ``/``; symlinks are followed."""
    base = Path(root)
    if not base.is_dir():
        raise EgressError(f"input directory {str(base)!r} does not exist")
    out: list[tuple[str, FileOpener]] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            rel = "/" + full.relative_to(base).as_posix()
            out.append((rel, lambda full=full: open(full, "rb")))  # noqa: SIM115 - closed by the caller
    return out


def _password_for(pachlet: Any, spec: EgressSpec) -> str | None:
    if spec.secret_name and spec.secret_key:
        try:
            return pachlet.secret_value(spec.secret_name, spec.secret_key)
        except PachletError as exc:
            raise EgressError(f"SQL egress secret: {exc}") from None
    if PASSWORD_ENV in os.environ:
        return os.environ[PASSWORD_ENV]
    raise EgressError(
        f"egress.sqlDatabase.secret {{name, key}} is required (or set {PASSWORD_ENV} in pachlet's environment)"
    )


def run_egress(pachlet: Any, pipeline_info: Any, job_info: Any, commit: Any) -> dict[str, int]:
    """pachlet's hook, called with the job in EGRESSING once its output commit is finished: load the
    commit into the tables of ``egress.sqlDatabase``. Returns rows per table; ``{}`` when the pipeline
    has no SQL egress or the commit is empty. Raises ``EgressError`` (the job then fails)."""
    egress = (pipeline_info.spec or {}).get("egress") or {}
    sql = egress.get("sqlDatabase", egress.get("sql_database"))
    if not sql:
        return {}
    spec = parse_egress_spec(sql)
    repo = getattr(commit, "repo", None) or getattr(pipeline_info, "output_repo", "") or pipeline_info.name
    commit_id = getattr(commit, "id", None) or str(commit)
    records = pachlet.walk_files(repo, commit_id, "/")
    files = [
        (
            rec.path,
            lambda path=rec.path: open(pachlet.file_object_path(repo, commit_id, path), "rb"),  # noqa: SIM115
        )
        for rec in records
        if getattr(rec, "file_type", "file") == "file"
    ]
    if not files:
        return {}
    password = _password_for(pachlet, spec)
    driver = resolve_driver(spec.url)
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            return load_tables(driver, spec, files, password)
        except EgressError as exc:
            # like Pachyderm, retry an unreachable warehouse; data and table errors fail at once
            if not exc.connect_failed or attempt == CONNECT_ATTEMPTS:
                raise
            time.sleep(CONNECT_RETRY_SECONDS * attempt)
    raise AssertionError("unreachable")
