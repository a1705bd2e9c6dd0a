"""The data side of the egress, as pachd's ``src/internal/sdata``: file formats, value conversion and
writing rows.

File formats (``fileFormat``):

- ``CSV`` with ``columns`` empty: no header; each row has exactly the table's columns, in table order.
- ``CSV`` with ``columns`` set: the first row is a header naming exactly those columns, in any order;
  values are mapped to table columns by name (case-insensitive).
- ``JSON``: one object per line; keys are ``columns`` (or the table's columns when empty); a missing key
  is NULL, extra keys are ignored.

Values are converted to the column types read from ``information_schema.columns``; as in Pachyderm, an
empty field (or ``nil``) is NULL for non-text columns and an empty string for text columns. Readers
yield typed pandas DataFrames of about ``CHUNK_ROWS`` rows; ``write_rows`` is the generic (slow) way to
insert one into a table, for drivers without a bulk path.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pachlet.egress.errors import EgressError, RowError, one_line
from pachlet.egress.pachsql import Column, TableInfo, placeholders, quote_ident

CHUNK_ROWS = 250_000
"""Rows per bulk-load call (bounds memory whatever the file size)."""

_NULL_STRINGS = ("", "nil")
_TRUE = frozenset({"1", "t", "true"})
_FALSE = frozenset({"0", "f", "false"})

FileOpener = Callable[[], BinaryIO]
"""Opens one file of the commit for reading (binary)."""


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
    """Typed values for one column (``values`` from CSV strings or JSON values). ``RowError`` naming the
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

    def fail(idx: int, value: Any, what: str) -> RowError:
        return RowError(f"line {lines[idx]}: column {col.name}: {what} {col.data_type} value {value!r}")

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
        raise RowError(f"line 1: header is not UTF-8 text: {exc}") from None
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
                    raise RowError(
                        f"line 1: unexpected header column {name!r} (expected {', '.join(columns)} in any order)"
                    )
                if col in targets:
                    raise RowError(f"line 1: header column {name!r} appears twice")
                targets.append(col)
            if len(targets) != len(expected):
                missing = [c for c in columns if c.lower() not in {t.name.lower() for t in targets}]
                raise RowError(f"line 1: header lacks column(s) {', '.join(missing)}")
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
            raise RowError(found or one_line(exc)) from None


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
                    raise RowError(f"line {lineno}: invalid JSON: {exc.msg}") from None
                if not isinstance(obj, dict):
                    raise RowError(f"line {lineno}: expected a JSON object, got {type(obj).__name__}")
                low = {str(k).lower(): v for k, v in obj.items()}
                for values, key in zip(data, keys, strict=True):
                    values.append(low.get(key))
                lines.append(lineno)
                if len(lines) >= chunk_rows:
                    yield frame(data, lines)
                    data, lines = [[] for _ in targets], []
        except UnicodeDecodeError as exc:
            raise RowError(f"not UTF-8 text: {exc}") from None
    if lines:
        yield frame(data, lines)


# --------------------------------------------------------------------------- writing rows


def _plain_value(v: Any) -> Any:
    """A DataFrame cell as a plain Python value a DB-API driver can bind."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v.item() if hasattr(v, "item") else v


def write_rows(driver: Any, conn: Any, table: TableInfo, frame: pd.DataFrame) -> int:
    """The generic (slow) path for drivers without ``bulk_load``: ``executemany`` of INSERTs in the
    driver's ``paramstyle`` (default ``pyformat``), as pachd's ``SQLTupleWriter``. Returns the rows."""
    style = getattr(driver, "paramstyle", "pyformat")
    cols = ", ".join(quote_ident(c) for c in frame.columns)
    marks = ", ".join(placeholders(style, len(frame.columns)))
    sql = f"INSERT INTO {table.qualified} ({cols}) VALUES ({marks})"
    records: list[Any] = [
        tuple(_plain_value(v) for v in row) for row in frame.astype(object).itertuples(index=False, name=None)
    ]
    if style == "named":
        records = [{f"p{i}": v for i, v in enumerate(r)} for r in records]
    cur = conn.cursor()
    try:
        cur.executemany(sql, records)
    finally:
        cur.close()
    return len(records)


# --------------------------------------------------------------------------- local files


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
