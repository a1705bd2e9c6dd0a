"""The SQL side of the egress, as pachd's ``src/internal/pachsql``: drivers, URLs, table metadata.

Drivers are found by URL scheme in the entry-point group ``pachlet.sql_drivers`` (see ``SQLDriver``), so
pachlet knows nothing about any particular database. Table metadata comes from ``information_schema``
(pachd's ``GetTableInfoTx``); a commit's directory names a table as ``TABLE`` or ``SCHEMA.TABLE``
(pachd's ``SplitTableSchema``: split at the first dot).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol, TypeGuard, runtime_checkable

from pachlet.egress.errors import EgressError, one_line

ENTRY_POINT_GROUP = "pachlet.sql_drivers"

_IDENT = r"[A-Za-z_][A-Za-z0-9_$]*"
_TABLE_PATH_RE = re.compile(rf"^({_IDENT})(?:\.({_IDENT}))?$")


@runtime_checkable
class SQLDriver(Protocol):
    """What an entry point in ``pachlet.sql_drivers`` provides (a module or an object).

    ``connect(url, password)`` returns a context manager yielding a DB-API connection in autocommit mode;
    the egress itself runs ``BEGIN`` / ``COMMIT`` / ``ROLLBACK`` on it. Optionally the driver also has
    ``bulk_load(conn, schema, table, frame) -> int``, which loads a pandas DataFrame (columns named
    exactly as the table's columns, already typed) into ``schema.table`` *inside the caller's open
    transaction* (no DDL, no commit) and returns the rows loaded. Without it, rows go through
    ``cursor().executemany`` (correct but slow), using the driver's ``paramstyle`` (default ``pyformat``).
    It may have ``prepare(url)``, which imports what ``connect(url)`` will need; pachlet calls it in a
    background thread while a job that will egress waits for its inputs. An entry point may also name a
    bare ``connect`` function.
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


# --------------------------------------------------------------------------- URLs and names


def is_sql_url(url: object) -> TypeGuard[str]:
    """Whether ``url`` has the ``scheme://...`` form an egress URL needs."""
    return isinstance(url, str) and "://" in url


def url_scheme(url: str) -> str:
    """The URL's scheme, lower-cased: the name its driver is registered under."""
    return url.split("://", 1)[0].lower()


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


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


def placeholders(paramstyle: str, count: int) -> list[str]:
    """``count`` DB-API parameter markers in ``paramstyle`` (pachd's ``Placeholder``); named markers
    are ``:p0``, ``:p1``, ..."""
    if paramstyle == "numeric":
        return [f":{i + 1}" for i in range(count)]
    if paramstyle == "named":
        return [f":p{i}" for i in range(count)]
    return ["?" if paramstyle == "qmark" else "%s"] * count


# --------------------------------------------------------------------------- drivers


def resolve_driver(url: str) -> SQLDriver:
    """The driver registered for ``url``'s scheme in the ``pachlet.sql_drivers`` entry-point group."""
    scheme = url_scheme(url)
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
        raise EgressError(f"cannot load SQL egress driver {found[0].value!r}: {one_line(exc)}") from None
    if hasattr(obj, "connect"):
        return obj
    if callable(obj):
        return _FunctionDriver(connect=obj)
    raise EgressError(f"SQL egress driver {found[0].value!r} has no connect()")


# --------------------------------------------------------------------------- statements and metadata


def fetchall(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    """Run ``sql`` on a DB-API connection and return all its rows (the cursor is closed)."""
    cur = conn.cursor()
    try:
        cur.execute(sql)
        return list(cur.fetchall())
    finally:
        cur.close()


def execute(conn: Any, sql: str) -> None:
    """Run one statement on a DB-API connection (the cursor is closed)."""
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
        rows = fetchall(conn, "SELECT CURRENT_SCHEMA()")
        schema = rows[0][0] if rows and rows[0][0] else "PUBLIC"
    wanted = f"{schema}.{table}"
    found = fetchall(
        conn,
        "SELECT table_schema, table_name FROM information_schema.tables "
        f"WHERE upper(table_schema) = upper('{schema}') AND upper(table_name) = upper('{table}')",
    )
    if not found:
        raise EgressError(f"table {wanted} does not exist (SQL egress needs the table created beforehand)")
    if len(found) > 1:
        raise EgressError(f"table name {wanted} is ambiguous: {sorted(f'{s}.{t}' for s, t in found)}")
    real_schema, real_table = str(found[0][0]), str(found[0][1])
    rows = fetchall(
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
