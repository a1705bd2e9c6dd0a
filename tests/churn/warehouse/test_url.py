"""Warehouse URL parsing (both Pachyderm forms), password handling and connections.toml profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from churn.warehouse import EMBEDDED_URL, WarehouseError, connect, load_profile, parse_url, redact_url


def test_account_form() -> None:
    u = parse_url("snowflake://alice@xy12345.eu-west-1/SALES/PUBLIC?warehouse=COMPUTE_WH&role=ANALYST")
    assert (u.user, u.account, u.database, u.schema) == ("alice", "xy12345.eu-west-1", "SALES", "PUBLIC")
    assert (u.warehouse, u.role, u.host, u.port) == ("COMPUTE_WH", "ANALYST", None, None)
    assert not u.embedded
    kwargs = u.connect_kwargs("pw")
    assert kwargs["account"] == "xy12345.eu-west-1" and kwargs["password"] == "pw" and "host" not in kwargs


def test_host_form() -> None:
    u = parse_url("snowflake://bob@myhost.example.com:8443/DB1/SCH?account=acme&warehouse=WH&login_timeout=5")
    assert (u.host, u.port, u.account, u.database, u.schema) == (
        "myhost.example.com",
        8443,
        "acme",
        "DB1",
        "SCH",
    )
    kwargs = u.connect_kwargs(None)
    assert kwargs["host"] == "myhost.example.com" and kwargs["port"] == 8443 and kwargs["login_timeout"] == 5
    assert "password" not in kwargs
    assert "account=acme" in u.redacted() and "myhost.example.com:8443" in u.redacted()


def test_embedded_url_and_schema_default() -> None:
    u = parse_url(EMBEDDED_URL)
    assert u.embedded and (u.database, u.schema, u.warehouse) == ("KKBOX", "PUBLIC", "LOCAL_WH")
    assert parse_url("snowflake://u@acct/ONLYDB").schema == "PUBLIC"
    assert parse_url(u.redacted()) == u


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("snowflake://acct/DB/S", "missing user"),
        ("snowflake://u@/DB/S", "missing account"),
        ("snowflake://u@acct", "missing database"),
        ("snowflake://u@acct/", "missing database"),
        ("snowflake://u@acct/DB/S/extra", "path must be /DB/SCHEMA"),
        ("snowflake://u@host:443/DB/S", "host form needs ?account="),
        ("mysql://u@acct/DB/S", "scheme must be snowflake"),
        ("snowflake://u@acct/DB/S?colour=blue", "unknown query parameter(s) colour"),
        ("snowflake://u@acct/DB/S?login_timeout=soon", "login_timeout must be an integer"),
    ],
)
def test_missing_or_bad_parts(url: str, fragment: str) -> None:
    with pytest.raises(WarehouseError, match="warehouse URL") as info:
        parse_url(url)
    assert fragment in str(info.value)


def test_password_in_url_rejected_and_redacted() -> None:
    for url in ("snowflake://u:s3cr3t@acct/DB/S?warehouse=W", "snowflake://u@acct/DB/S?password=s3cr3t"):
        with pytest.raises(WarehouseError) as info:
            parse_url(url)
        message = str(info.value)
        assert "s3cr3t" not in message
        assert "PACHYDERM_SQL_PASSWORD" in message
    assert redact_url("snowflake://u:s3cr3t@acct/DB/S") == "snowflake://u:***@acct/DB/S"
    assert redact_url("not a url") == "not a url"


def test_password_comes_from_env_not_url(monkeypatch: pytest.MonkeyPatch) -> None:
    u = parse_url("snowflake://u@acct/DB/S")
    assert "password" not in u.connect_kwargs(None)
    assert "s3cr3t" not in u.redacted() and "s3cr3t" not in repr(u)


def _write_profiles(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "connections.toml"
    path.write_text(text)
    path.chmod(0o600)


def test_profile_from_connections_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "snowhome"
    _write_profiles(
        home,
        '[prod]\naccount = "acme-prod"\nuser = "svc"\ndatabase = "KKBOX"\nschema = "PUBLIC"\n\n'
        '[local]\naccount = "embedded"\nuser = "churn"\ndatabase = "LOCALDB"\nschema = "WORK"\n',
    )
    monkeypatch.setenv("SNOWFLAKE_HOME", str(home))
    assert load_profile("prod")["account"] == "acme-prod"
    with pytest.raises(WarehouseError, match=r"profile 'nope' not found \(known: local, prod\)"):
        load_profile("nope")
    # an embedded profile opens the local warehouse on its own database and schema
    monkeypatch.delenv("CHURN_WAREHOUSE_URL", raising=False)
    with connect(profile="local") as conn:
        cur = conn.cursor()
        cur.execute("SELECT CURRENT_DATABASE(), CURRENT_SCHEMA()")
        assert cur.fetchone() == ("LOCALDB", "WORK")
