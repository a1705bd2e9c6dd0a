"""Pachyderm-style Snowflake URLs.

Two forms, as Pachyderm's SQL ingest and egress accept them:

* account form: ``snowflake://USER@ACCOUNT/DB/SCHEMA?warehouse=WH&role=ROLE``
* host form:    ``snowflake://USER@HOST:PORT/DB/SCHEMA?account=ACCOUNT&warehouse=WH``

The password never comes from the URL (a URL carrying one is rejected); it comes from the env var
``PACHYDERM_SQL_PASSWORD`` or a connections.toml profile. Account ``embedded`` selects the local fakesnow
warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlsplit

from churn.warehouse.errors import WarehouseError
from pachlet.redact import redact_url as _redact_url

EMBEDDED_ACCOUNT = "embedded"
EMBEDDED_URL = "snowflake://churn@embedded/KKBOX/PUBLIC?warehouse=LOCAL_WH"

# query parameters passed to snowflake.connector.connect (besides account, warehouse, role)
_INT_PARAMS = {"login_timeout", "network_timeout", "socket_timeout", "port"}
_STR_PARAMS = {"protocol", "authenticator", "application", "region", "host", "private_key_file"}
_BOOL_PARAMS = {"client_session_keep_alive", "insecure_mode", "ocsp_fail_open"}


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe on malformed text); pachlet's one redaction
    rule, with churn's mask."""
    return _redact_url(url, mask="***")


@dataclass(frozen=True)
class WarehouseURL:
    """A parsed warehouse URL (no password: that never lives in the URL)."""

    user: str
    account: str
    database: str
    schema: str
    host: str | None = None
    port: int | None = None
    warehouse: str | None = None
    role: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        """True for the local fakesnow warehouse (account ``embedded``)."""
        return self.account.lower() == EMBEDDED_ACCOUNT

    def redacted(self) -> str:
        """The URL as text for messages and logs (it never holds a password)."""
        where = f"{self.host}:{self.port}" if self.host and self.port else (self.host or self.account)
        query = dict(self.params)
        if self.host:
            query = {"account": self.account, **query}
        if self.warehouse:
            query["warehouse"] = self.warehouse
        if self.role:
            query["role"] = self.role
        qs = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in query.items())
        return f"snowflake://{quote(self.user, safe='')}@{where}/{self.database}/{self.schema}" + (
            f"?{qs}" if qs else ""
        )

    def __str__(self) -> str:
        return self.redacted()

    def connect_kwargs(self, password: str | None) -> dict[str, object]:
        """Keyword arguments for ``snowflake.connector.connect``."""
        kwargs: dict[str, object] = {
            "user": self.user,
            "account": self.account,
            "database": self.database,
            "schema": self.schema,
        }
        if self.host:
            kwargs["host"] = self.host
        if self.port:
            kwargs["port"] = self.port
        if self.warehouse:
            kwargs["warehouse"] = self.warehouse
        if self.role:
            kwargs["role"] = self.role
        for key, value in self.params.items():
            if key in _INT_PARAMS:
                kwargs[key] = int(value)
            elif key in _BOOL_PARAMS:
                kwargs[key] = value.lower() in ("1", "true", "yes", "on")
            else:
                kwargs[key] = value
        if password:
            kwargs["password"] = password
        return kwargs


def parse_url(url: str) -> WarehouseURL:
    """Parse a Pachyderm-style ``snowflake://`` URL; ``WarehouseError`` (URL redacted) when malformed."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WarehouseError(f"warehouse URL {shown}: malformed ({exc})") from None
    if parts.scheme.lower() != "snowflake":
        raise WarehouseError(f"warehouse URL {shown}: scheme must be snowflake://")
    if parts.password is not None:
        raise WarehouseError(
            f"warehouse URL {shown}: a password in the URL is not accepted; "
            "set PACHYDERM_SQL_PASSWORD or use a connections.toml profile"
        )
    if not parts.username:
        raise WarehouseError(f"warehouse URL {shown}: missing user (snowflake://USER@ACCOUNT/DB/SCHEMA)")
    if not parts.hostname:
        raise WarehouseError(f"warehouse URL {shown}: missing account or host")
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise WarehouseError(f"warehouse URL {shown}: missing database (snowflake://USER@ACCOUNT/DB/SCHEMA)")
    if len(path) > 2:
        raise WarehouseError(f"warehouse URL {shown}: path must be /DB/SCHEMA, got {parts.path}")
    database = path[0]
    schema = path[1] if len(path) == 2 else "PUBLIC"
    query: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        k = key.lower()
        if k in ("password", "passwd", "pwd", "token"):
            raise WarehouseError(
                f"warehouse URL {shown}: a password in the URL is not accepted; set PACHYDERM_SQL_PASSWORD"
            )
        query[k] = value
    account = query.pop("account", None)
    warehouse = query.pop("warehouse", None)
    role = query.pop("role", None)
    unknown = sorted(set(query) - _INT_PARAMS - _STR_PARAMS - _BOOL_PARAMS)
    if unknown:
        raise WarehouseError(f"warehouse URL {shown}: unknown query parameter(s) {', '.join(unknown)}")
    for key in _INT_PARAMS & set(query):
        if not query[key].isdigit():
            raise WarehouseError(f"warehouse URL {shown}: {key} must be an integer, got {query[key]!r}")
    if account:  # host form
        host: str | None = parts.hostname
    else:
        if port is not None:
            raise WarehouseError(
                f"warehouse URL {shown}: host form needs ?account=ACCOUNT "
                "(snowflake://USER@HOST:PORT/DB/SCHEMA?account=ACCOUNT)"
            )
        account, host = parts.hostname, None
    return WarehouseURL(
        user=parts.username,
        account=account,
        database=database,
        schema=schema,
        host=host,
        port=port,
        warehouse=warehouse,
        role=role,
        params=query,
    )
