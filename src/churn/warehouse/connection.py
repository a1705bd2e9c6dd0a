"""Open a warehouse connection: real Snowflake by URL or profile, or the embedded fakesnow warehouse.

The embedded warehouse is fakesnow in patch mode on a directory of DuckDB files (one per database,
``<dir>/KKBOX.db``), so the real connector API and Snowflake SQL run offline and persist across processes.
Its directory is ``$CHURN_WAREHOUSE_DIR``, else ``$CHURN_HOME/warehouse`` (``CHURN_HOME``: the first
directory upwards from cwd holding a ``.churn`` dir, else ``./.churn``). One process at a time: a file lock
is held for the whole ``with connect(...)``; a second process waits up to ``lock_timeout`` seconds (default:
pachlet's one lock-timeout setting, ``$PACHLET_LOCK_TIMEOUT`` else 30 s; see ``pachlet.lock.lock_timeout``).

fakesnow patches ``snowflake.connector.connect`` process-wide, so while an embedded connection is open in a
process, every connector call of that process goes to the embedded warehouse; nested embedded connections
share the patch and the lock.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from churn.warehouse import staging
from churn.warehouse.errors import WarehouseError
from churn.warehouse.lock import WarehouseLock
from churn.warehouse.url import EMBEDDED_ACCOUNT, EMBEDDED_URL, WarehouseURL, parse_url, redact_url

PASSWORD_ENV = "PACHYDERM_SQL_PASSWORD"
URL_ENV = "CHURN_WAREHOUSE_URL"
DEFAULT_LOGIN_TIMEOUT = 30
MEMORY_LIMIT_ENV = "CHURN_WAREHOUSE_MEMORY_LIMIT"
# DuckDB's own default is 80 % of RAM, and its buffer pool keeps what it read: an aggregation over tens of
# millions of USER_LOGS rows then holds several GiB. A cap (spilling to a temp dir beside the database)
# keeps the embedded warehouse laptop-sized; "none" restores DuckDB's default. Measured on the train query
# at 1 M members: no cap 6.0 GiB peak; 4GB 4.2 GiB (+30 % time); 3GB failed (window operators not spilling).
DEFAULT_MEMORY_LIMIT = "4GB"


def churn_home(cwd: Path | None = None) -> Path:
    """``$CHURN_HOME``, else the first directory upwards from cwd holding ``.churn``, else ``./.churn``."""
    env = os.environ.get("CHURN_HOME")
    if env:
        return Path(env)
    here = (cwd or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".churn").is_dir():
            return candidate / ".churn"
    return here / ".churn"


def warehouse_dir() -> Path:
    """The embedded warehouse's directory: ``$CHURN_WAREHOUSE_DIR``, else ``$CHURN_HOME/warehouse``."""
    env = os.environ.get("CHURN_WAREHOUSE_DIR")
    return Path(env) if env else churn_home() / "warehouse"


# ---------------------------------------------------------------------------------------- embedded


class _EmbeddedSession:
    """The process's embedded session: file lock + fakesnow patch, shared by nested connections."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._locks: dict[Path, WarehouseLock] = {}
        self._stack: ExitStack | None = None
        self._dir: Path | None = None

    @contextmanager
    def open(self, db_dir: Path, lock_timeout: float) -> Iterator[None]:
        db_dir = db_dir.resolve()
        with self._mutex:
            if self._dir is not None and self._dir != db_dir:
                raise WarehouseError(
                    f"embedded warehouse {db_dir}: this process already has {self._dir} open "
                    "(fakesnow patches the connector process-wide; one embedded directory at a time)"
                )
            lock = self._locks.get(db_dir)
            if lock is None:
                db_dir.mkdir(parents=True, exist_ok=True)
                lock = self._locks[db_dir] = WarehouseLock(db_dir)
        # fakesnow, sqlglot's two dialects and pandas take ~0.5 s to import: not while holding the lock
        # other processes are waiting for
        import_fakesnow()
        outermost = lock.acquire(lock_timeout)
        try:
            if outermost:
                import fakesnow

                stack = ExitStack()
                try:
                    stack.enter_context(fakesnow.patch(db_path=db_dir))
                except AssertionError:
                    stack.close()
                    raise WarehouseError(
                        f"embedded warehouse {db_dir}: snowflake.connector is already patched by someone else "
                        "in this process"
                    ) from None
                # fakesnow's stages under the warehouse dir, removed with the connection (staging.py)
                stack.callback(staging.close_staging, staging.open_staging(db_dir))
                with self._mutex:
                    self._stack, self._dir = stack, db_dir
            yield
        finally:
            if outermost:
                with self._mutex:
                    stack_, self._stack, self._dir = self._stack, None, None
                try:
                    if stack_ is not None:
                        stack_.close()  # closes fakesnow's DuckDB connection: the file is free again
                finally:
                    lock.release()
            else:
                lock.release()


def import_fakesnow() -> None:
    """Import what the embedded session and its first statement need (fakesnow, the connector's
    ``pandas_tools`` it patches by name, and the Snowflake and DuckDB dialects sqlglot loads lazily)."""
    import fakesnow  # noqa: F401
    import snowflake.connector.pandas_tools  # noqa: F401
    import sqlglot.dialects.duckdb  # noqa: F401
    import sqlglot.dialects.snowflake  # noqa: F401


_EMBEDDED = _EmbeddedSession()

# DuckDB warns on every fakesnow result ("Arrow output on a DB-API result makes an extra copy"): noise
warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)


# ---------------------------------------------------------------------------------------- profiles


def load_profile(name: str) -> dict[str, Any]:
    """Connection parameters of profile ``name`` from snowflake-connector's ``connections.toml``
    (``$SNOWFLAKE_HOME/connections.toml`` or the platform config dir), through the connector's loader."""
    try:
        from snowflake.connector.config_manager import CONFIG_MANAGER

        if os.environ.get("SNOWFLAKE_HOME"):
            # the connector resolves its paths at import; honour a SNOWFLAKE_HOME set later (tests, CLIs).
            # The connector has no public way to repoint a config file, hence its private slice list.
            path = Path(os.environ["SNOWFLAKE_HOME"]).expanduser() / "connections.toml"
            slices = CONFIG_MANAGER._slices  # noqa: SLF001
            for i, piece in enumerate(slices):
                if piece.section == "connections" and piece.path != path:
                    slices[i] = piece._replace(path=path)
                    CONFIG_MANAGER.read_config()
        connections = CONFIG_MANAGER["connections"]
    except Exception as exc:  # the connector's config errors (permissions, TOML syntax)
        raise WarehouseError(f"connections.toml profile {name!r}: {str(exc).splitlines()[0]}") from None
    if name not in connections:
        known = ", ".join(sorted(connections)) or "none"
        raise WarehouseError(f"connections.toml profile {name!r} not found (known: {known})")
    return {str(k): v for k, v in dict(connections[name]).items()}


def _profile_label(name: str, params: dict[str, Any]) -> str:
    return (
        f"profile {name} (snowflake://{params.get('user', '?')}@{params.get('account', '?')}/"
        f"{params.get('database', '?')}/{params.get('schema', '?')})"
    )


# ---------------------------------------------------------------------------------------- connect


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    msg = getattr(exc, "raw_msg", None) or getattr(exc, "msg", None)
    if isinstance(msg, str) and msg.strip():
        text = msg.strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe_error(where: str, exc: BaseException) -> str:
    """One line for a connector error: ``warehouse <where>: <kind>: <message>``."""
    errno = getattr(exc, "errno", None)
    msg = _first_line(exc)
    kind = ""
    lowered = msg.lower()
    if (
        "could not connect" in lowered
        or "failed to connect" in lowered
        or "timed out" in lowered
        or errno
        in (
            251011,
            251012,
        )
    ):
        kind = "unreachable: "
    elif errno == 251006:
        kind = "no password (set PACHYDERM_SQL_PASSWORD): "
    elif errno in (390100, 390144, 390422) or "incorrect username or password" in lowered:
        kind = "bad credentials: "
    elif errno == 2003 or "does not exist" in lowered:
        kind = "unknown object: "
    elif "out of memory error" in lowered:  # DuckDB under the embedded warehouse's cap
        limit = os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT)
        msg += f" (the embedded warehouse is capped at {limit}: raise ${MEMORY_LIMIT_ENV}, or set it to none)"
    return f"warehouse {where}: {kind}{msg}"


def _resolve(url: str | None, profile: str | None) -> tuple[str, WarehouseURL | None, dict[str, Any] | None]:
    """(label, parsed embedded-or-URL target, or real connect kwargs from a profile)."""
    if profile:
        params = load_profile(profile)
        if str(params.get("account", "")).lower() == EMBEDDED_ACCOUNT:
            parsed = WarehouseURL(
                user=str(params.get("user", "churn")),
                account=EMBEDDED_ACCOUNT,
                database=str(params.get("database", "KKBOX")),
                schema=str(params.get("schema", "PUBLIC")),
                warehouse=params.get("warehouse"),
            )
            return parsed.redacted(), parsed, None
        params.setdefault("login_timeout", DEFAULT_LOGIN_TIMEOUT)
        return _profile_label(profile, params), None, params
    text = url or os.environ.get(URL_ENV) or EMBEDDED_URL
    parsed = parse_url(text)
    return parsed.redacted(), parsed, None


@contextmanager
def _guard(label: str) -> Iterator[None]:
    """Turn connector errors raised in the block into one-line ``WarehouseError``s naming ``label``."""
    import snowflake.connector.errors as sf_errors

    try:
        yield
    except WarehouseError:
        raise
    except sf_errors.Error as exc:
        raise WarehouseError(describe_error(label, exc)) from exc
    except NotADirectoryError as exc:
        raise WarehouseError(f"warehouse {label}: {exc}") from exc


@contextmanager
def connect(
    url: str | None = None, *, profile: str | None = None, lock_timeout: float | None = None
) -> Iterator[Any]:
    """A snowflake-connector connection (autocommit) for ``url``, a connections.toml ``profile``, or (no
    URL) ``$CHURN_WAREHOUSE_URL`` else the embedded warehouse. Password from ``PACHYDERM_SQL_PASSWORD``.
    Embedded: holds the warehouse file lock for the whole block (waits up to ``lock_timeout`` seconds,
    default ``pachlet.lock.lock_timeout()``);
    the URL's database and schema are created if missing and are the connection's current ones.
    Connector errors (connecting or inside the block) become one-line ``WarehouseError``s."""
    label, parsed, profile_kwargs = _resolve(url, profile)
    with _open(label, parsed, profile_kwargs, os.environ.get(PASSWORD_ENV), lock_timeout) as conn:
        yield conn


@contextmanager
def connect_url(url: str, password: str | None) -> Iterator[Any]:
    """Pachlet's SQL-egress driver entry point (``pachlet.sql_drivers`` name ``snowflake``): a DB-API
    connection (autocommit; the caller runs BEGIN/COMMIT/ROLLBACK) to ``url`` with ``password``. The
    embedded warehouse's lock wait is pachlet's one setting (``$PACHLET_LOCK_TIMEOUT``, else 30 s)."""
    parsed = parse_url(url)
    with _open(parsed.redacted(), parsed, None, password, None) as conn:
        yield conn


@contextmanager
def _open(
    label: str,
    parsed: WarehouseURL | None,
    profile_kwargs: dict[str, Any] | None,
    password: str | None,
    lock_timeout: float | None,
) -> Iterator[Any]:
    import snowflake.connector

    from pachlet.errors import PachletError
    from pachlet.lock import lock_timeout as resolve_lock_timeout

    with ExitStack() as stack:
        if parsed is not None and parsed.embedded:
            try:
                timeout = resolve_lock_timeout(lock_timeout)
            except PachletError as exc:
                raise WarehouseError(f"warehouse {label}: {exc}") from None
            stack.enter_context(_EMBEDDED.open(warehouse_dir(), timeout))
            kwargs: dict[str, Any] = {
                "user": parsed.user,
                "account": EMBEDDED_ACCOUNT,
                "database": parsed.database,
                "schema": parsed.schema,
            }
        elif parsed is not None:
            kwargs = parsed.connect_kwargs(password)
            kwargs.setdefault("login_timeout", DEFAULT_LOGIN_TIMEOUT)
        else:
            kwargs = dict(profile_kwargs or {})
            if password and "password" not in kwargs:
                kwargs["password"] = password
        with _guard(label):
            conn = snowflake.connector.connect(**kwargs)
            if parsed is not None and parsed.embedded:
                _limit_embedded_memory(conn, warehouse_dir())
        try:
            with _guard(label):
                yield conn
        finally:
            with contextlib.suppress(Exception):  # a failed close must not hide the original error
                conn.close()


def _limit_embedded_memory(conn: Any, db_dir: Path) -> None:
    """Cap the embedded DuckDB's memory (``$CHURN_WAREHOUSE_MEMORY_LIMIT``, default 4GB, ``none`` for
    DuckDB's default), spilling to ``<warehouse>/duckdb.tmp``."""
    limit = os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT).strip()
    if limit.lower() in ("", "none", "default"):
        return
    if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", limit, flags=re.IGNORECASE):
        raise WarehouseError(f"${MEMORY_LIMIT_ENV}={limit!r}: expected a size such as 3GB or 512MB, or none")
    # fakesnow's DuckDB connection (shared by the process's embedded session); fakesnow exposes it only
    # as this private attribute, and DuckDB settings cannot go through its Snowflake SQL translation
    duck = conn._duck_conn  # noqa: SLF001
    duck.execute(f"SET memory_limit='{limit}'")
    temp = (db_dir / "duckdb.tmp").as_posix().replace("'", "''")
    duck.execute(f"SET temp_directory='{temp}'")


__all__ = [
    "EMBEDDED_URL",
    "connect",
    "connect_url",
    "churn_home",
    "warehouse_dir",
    "load_profile",
    "describe_error",
    "redact_url",
]
