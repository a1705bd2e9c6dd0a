"""SQL egress (``egress.sqlDatabase``) with Pachyderm 2.x semantics, for any DB-API driver.

After a job's output commit is finished, every file under ``/<TABLE>/...`` (``/<SCHEMA>.<TABLE>/...``) of
the commit is loaded into that existing table. All tables are written in ONE transaction: on the first
touch of a table its rows are deleted, then every file of the table is bulk-loaded; any error rolls the
whole transaction back, so no table changes. Files at the root of the commit are an error, and an empty
commit is a no-op (no connection is even opened).

The package splits as pachd does: this module is the orchestration (pachd's egress of an output commit:
the spec, the transaction over the tables, the connect retries, the hook); ``pachlet.egress.sdata``
holds the file formats, value conversion and row writing (pachd's ``src/internal/sdata``) and
``pachlet.egress.pachsql`` the drivers, URLs and table metadata (pachd's ``src/internal/pachsql``).

The core is ``load_tables`` (pure: a driver, the egress spec, the files, the password); ``run_egress``
feeds it a pachlet commit (any ``EgressSource``) and the container egress stage feeds it a ``/pfs``
directory (``files_from_dir``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from pachlet.egress.errors import EgressError, RowError, one_line
from pachlet.egress.pachsql import (
    ENTRY_POINT_GROUP,
    Column,
    SQLDriver,
    TableInfo,
    execute,
    get_table_info,
    is_sql_url,
    resolve_driver,
    split_table_path,
)
from pachlet.egress.sdata import (
    CHUNK_ROWS,
    FileOpener,
    files_from_dir,
    read_csv_chunks,
    read_json_chunks,
    write_rows,
)
from pachlet.errors import LockTimeoutError, PachletError
from pachlet.redact import redact_text, redact_url, redact_values

__all__ = [
    "CHUNK_ROWS",
    "CONNECT_ATTEMPTS",
    "CONNECT_RETRY_SECONDS",
    "ENTRY_POINT_GROUP",
    "PASSWORD_ENV",
    "Column",
    "EgressError",
    "EgressFile",
    "EgressPipeline",
    "EgressSource",
    "EgressSpec",
    "FileOpener",
    "SQLDriver",
    "TableInfo",
    "files_from_dir",
    "load_tables",
    "parse_egress_spec",
    "prepare_driver",
    "resolve_driver",
    "run_egress",
    "split_table_path",
]

PASSWORD_ENV = "PACHYDERM_SQL_PASSWORD"
CONNECT_ATTEMPTS = 3
CONNECT_RETRY_SECONDS = 1.0
"""``run_egress`` tries to connect this many times, waiting 1 s, then 2 s, between attempts."""


class EgressFile(Protocol):
    """A file of a commit as ``EgressSource.walk_files`` lists it."""

    @property
    def path(self) -> str:
        """The file's path in the commit (``/TABLE/part.csv``)."""
        ...

    @property
    def file_type(self) -> str:
        """``file`` (or ``dir``)."""
        ...


class EgressSource(Protocol):
    """What ``run_egress`` reads from pachlet (the facade is one): the commit's files and the secret
    holding the warehouse password. The egress never imports the facade; the facade injects itself."""

    def walk_files(self, repo: str, ref: str, path: str) -> Sequence[EgressFile]:
        """Every file at or below ``path`` in ``repo@ref``, sorted by path."""
        ...

    def file_object_path(self, repo: str, ref: str, path: str) -> str | os.PathLike[str]:
        """The local path holding a file's bytes."""
        ...

    def secret_value(self, name: str, key: str) -> str:
        """One value of a secret; a ``PachletError`` when the secret or key is absent."""
        ...


class EgressPipeline(Protocol):
    """The pipeline ``run_egress`` egresses for: its name and spec (``egress.sqlDatabase``)."""

    @property
    def name(self) -> str:
        """The pipeline's name (its output repo unless it has an ``output_repo``)."""
        ...

    @property
    def spec(self) -> Mapping[str, Any]:
        """The pipeline spec."""
        ...


@dataclass(frozen=True)
class EgressSpec:
    """``egress.sqlDatabase`` of a pipeline spec, checked."""

    url: str
    file_format: str  # "CSV" or "JSON"
    columns: tuple[str, ...]
    secret_name: str | None = None
    secret_key: str | None = None


def _redact(text: str, password: str | None) -> str:
    """A message with the password and any URL's userinfo password masked."""
    return redact_text(text, [password])


def parse_egress_spec(egress: Mapping[str, Any]) -> EgressSpec:
    """Check an ``egress.sqlDatabase`` dict (camelCase or snake_case) and return it as ``EgressSpec``."""
    if not isinstance(egress, Mapping):
        raise EgressError("egress.sqlDatabase must be an object")
    url = egress.get("url")
    if not is_sql_url(url):
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


class _Batch:
    """Rows of one table gathered across its files, handed out ``chunk_rows`` at a time or more: a
    table of many small files is then one bulk load (each costs a stage upload and a COPY), not one per
    file. Rows keep their file and row order."""

    def __init__(self, chunk_rows: int) -> None:
        self.chunk_rows = chunk_rows
        self.frames: list[pd.DataFrame] = []
        self.paths: list[str] = []
        self.rows = 0

    def add(self, path: str, frame: pd.DataFrame) -> list[tuple[list[str], pd.DataFrame]]:
        """Take ``frame`` (of file ``path``); returns the batch to write once it holds enough rows."""
        self.frames.append(frame)
        if not self.paths or self.paths[-1] != path:
            self.paths.append(path)
        self.rows += len(frame)
        return self.flush() if self.rows >= self.chunk_rows else []

    def flush(self) -> list[tuple[list[str], pd.DataFrame]]:
        """What is gathered (files, rows), and start over; nothing when empty."""
        frames, paths = self.frames, self.paths
        self.frames, self.paths, self.rows = [], [], 0
        if not frames:
            return []
        rows = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        return [(paths, rows)]


def _files_label(paths: Sequence[str]) -> str:
    return f"file {paths[0]}" if len(paths) == 1 else f"files {paths[0]} .. {paths[-1]} ({len(paths)} files)"


def _write(driver: Any, bulk: Any, conn: Any, table: TableInfo, frame: pd.DataFrame) -> int:
    n = (
        bulk(conn, table.schema, table.name, frame)
        if bulk is not None
        else write_rows(driver, conn, table, frame)
    )
    return int(n if n is not None else len(frame))


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
    url = redact_url(redact_values(spec.url, [password]))
    try:
        groups = _group_files(files)
    except EgressError as exc:
        raise EgressError(f"SQL egress to {url}: {_redact(str(exc), password)}") from None
    if not groups:
        return {}
    bulk = getattr(driver, "bulk_load", None)
    reader = read_csv_chunks if spec.file_format == "CSV" else read_json_chunks
    written: dict[str, int] = {}
    where = "connect"
    try:
        with driver.connect(spec.url, password) as conn:
            where = "BEGIN"
            execute(conn, "BEGIN")
            try:
                for (schema, table_name), table_files in groups:
                    label = f"{schema}.{table_name}" if schema else table_name
                    where = f"table {label}"
                    table = get_table_info(conn, schema, table_name)
                    where = f"table {table.label}: DELETE"
                    execute(conn, f"DELETE FROM {table.qualified}")
                    written[table.label] = 0
                    batch = _Batch(chunk_rows)
                    for path, opener in table_files:
                        where = f"table {table.label}: file {path}"
                        for frame in reader(opener, table, spec.columns, chunk_rows):
                            for paths, rows in batch.add(path, frame):
                                where = f"table {table.label}: {_files_label(paths)}"
                                written[table.label] += _write(driver, bulk, conn, table, rows)
                    for paths, rows in batch.flush():
                        where = f"table {table.label}: {_files_label(paths)}"
                        written[table.label] += _write(driver, bulk, conn, table, rows)
                where = "COMMIT"
                execute(conn, "COMMIT")
            except BaseException:
                # the original error matters more than a failed rollback (the connection is going away)
                with contextlib.suppress(Exception):
                    execute(conn, "ROLLBACK")
                raise
    except RowError as exc:
        raise EgressError(
            f"SQL egress to {url}: {where}: {_redact(one_line(exc), password)}; rolled back, no table changed"
        ) from None
    except EgressError as exc:
        raise EgressError(
            f"SQL egress to {url}: {_redact(one_line(exc), password)}; rolled back, no table changed"
        ) from None
    except LockTimeoutError as exc:
        # a held warehouse (another process): waiting again would only multiply the bounded wait
        raise EgressError(f"SQL egress to {url}: {where}: {_redact(one_line(exc), password)}") from None
    except Exception as exc:
        detail = _redact(one_line(f"{type(exc).__name__}: {exc}"), password)
        if where == "connect":
            raise EgressError(f"SQL egress to {url}: connect: {detail}", connect_failed=True) from None
        raise EgressError(f"SQL egress to {url}: {where}: {detail}; rolled back, no table changed") from None
    return written


def prepare_driver(egress: Mapping[str, Any]) -> None:
    """Get the driver of ``egress.sqlDatabase`` ready before an egress: resolve it and call its optional
    ``prepare(url)`` (which imports what its ``connect`` needs). Raises what resolving raises."""
    url = parse_egress_spec(egress).url
    prepare = getattr(resolve_driver(url), "prepare", None)
    if prepare is not None:
        prepare(url)


def _password_for(source: EgressSource, spec: EgressSpec) -> str | None:
    if spec.secret_name and spec.secret_key:
        try:
            return source.secret_value(spec.secret_name, spec.secret_key)
        except PachletError as exc:
            raise EgressError(f"SQL egress secret: {exc}") from None
    if PASSWORD_ENV in os.environ:
        return os.environ[PASSWORD_ENV]
    raise EgressError(
        f"egress.sqlDatabase.secret {{name, key}} is required (or set {PASSWORD_ENV} in pachlet's environment)"
    )


def run_egress(
    source: EgressSource, pipeline_info: EgressPipeline, job_info: object, commit: object
) -> dict[str, int]:
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
    records = source.walk_files(repo, commit_id, "/")
    files = [
        (
            rec.path,
            lambda path=rec.path: open(source.file_object_path(repo, commit_id, path), "rb"),  # noqa: SIM115
        )
        for rec in records
        if getattr(rec, "file_type", "file") == "file"
    ]
    if not files:
        return {}
    password = _password_for(source, spec)
    driver = resolve_driver(spec.url)
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            return load_tables(driver, spec, files, password)
        except EgressError as exc:
            # like Pachyderm, retry an unreachable warehouse; data and table errors and a lock timeout
            # (a held warehouse, already waited for) fail at once
            if not exc.connect_failed or attempt == CONNECT_ATTEMPTS:
                raise
            time.sleep(CONNECT_RETRY_SECONDS * attempt)
    raise AssertionError("unreachable")
