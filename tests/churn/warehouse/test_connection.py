"""The embedded warehouse through the real connector API: DDL, bulk loads, Snowflake SQL, errors, lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from churn.warehouse import (
    TABLES,
    WarehouseError,
    WarehouseLockTimeout,
    bulk_load,
    connect,
    fetch_frame,
    init,
    iter_arrow_batches,
    warehouse_dir,
)
from helpers.warehouse import start_holder


def test_warehouse_dir_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert warehouse_dir() == Path(os.environ["CHURN_HOME"]) / "warehouse"
    monkeypatch.setenv("CHURN_WAREHOUSE_DIR", str(tmp_path / "elsewhere"))
    assert warehouse_dir() == tmp_path / "elsewhere"


def test_init_is_idempotent_and_persists_across_connections() -> None:
    with connect() as conn:
        assert init(conn) == list(TABLES)
        init(conn)
        cur = conn.cursor()
        cur.execute("SELECT * FROM CHURN_SCORES")
        assert [d[0] for d in cur.description] == [c for c, _ in TABLES["CHURN_SCORES"]]
        bulk_load(conn, "TRAIN", pd.DataFrame({"MSNO": ["a"], "IS_CHURN": [1]}))
    assert (warehouse_dir() / "KKBOX.db").is_file()
    with connect() as conn:
        cur = conn.cursor()
        cur.execute("SELECT MSNO, IS_CHURN FROM TRAIN")
        assert cur.fetchall() == [("a", 1)]


def test_dataframe_round_trip_and_snowflake_sql() -> None:
    frame = pd.DataFrame(
        {
            "MSNO": [f"m{i}" for i in range(6)],
            "PAYMENT_METHOD_ID": [41, 41, 38, 36, 41, 39],
            "PAYMENT_PLAN_DAYS": [30, 30, 30, 7, 0, 30],
            "PLAN_LIST_PRICE": [149, 149, 129, 35, 0, 149],
            "ACTUAL_AMOUNT_PAID": [149, 99, 129, 35, 0, 149],
            "IS_AUTO_RENEW": [1, 1, 0, 0, 0, 1],
            "TRANSACTION_DATE": [20170201, 20170215, 20170110, 20170220, 20170101, 20170228],
            "MEMBERSHIP_EXPIRE_DATE": [20170303, 20170317, 20170210, 20170227, 20170101, 20170331],
            "IS_CANCEL": [0, 0, 0, 0, 0, 1],
        }
    )
    frame = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)  # a duplicate for QUALIFY
    with connect() as conn:
        init(conn)
        assert bulk_load(conn, "TRANSACTIONS", frame) == 7
        cur = conn.cursor()
        cur.execute("SELECT * FROM TRANSACTIONS ORDER BY MSNO, TRANSACTION_DATE")
        back = fetch_frame(cur)
        expected = frame.sort_values(["MSNO", "TRANSACTION_DATE"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(back.astype(expected.dtypes.to_dict()), expected)
        cur.execute(
            """
            SELECT MSNO,
                   DATEDIFF('day', TO_DATE(TO_VARCHAR(TRANSACTION_DATE), 'YYYYMMDD'),
                                   TO_DATE(TO_VARCHAR(MEMBERSHIP_EXPIRE_DATE), 'YYYYMMDD')) AS DAYS,
                   IFF(PLAN_LIST_PRICE > ACTUAL_AMOUNT_PAID, 1, 0) AS DISCOUNTED
            FROM TRANSACTIONS
            WHERE TRANSACTION_DATE <= %s
            QUALIFY ROW_NUMBER() OVER (PARTITION BY MSNO ORDER BY TRANSACTION_DATE DESC) = 1
            ORDER BY MSNO
            """,
            (20170228,),
        )
        rows = cur.fetchall()
    assert rows == [("m0", 30, 0), ("m1", 30, 1), ("m2", 31, 0), ("m3", 7, 0), ("m4", 0, 0), ("m5", 31, 0)]


def test_iter_arrow_batches_is_bounded() -> None:
    with connect() as conn:
        init(conn)
        bulk_load(conn, "SCORE", pd.DataFrame({"MSNO": [f"u{i:04d}" for i in range(2500)]}))
        cur = conn.cursor()
        cur.execute("SELECT MSNO FROM SCORE ORDER BY MSNO")
        sizes = [b.num_rows for b in iter_arrow_batches(cur, batch_rows=1000)]
        cur.execute("SELECT MSNO FROM SCORE WHERE MSNO = 'none'")
        assert list(iter_arrow_batches(cur, 10)) == []
    assert sizes == [1000, 1000, 500]


def test_nested_connections_share_the_process_lock() -> None:
    with connect() as outer:
        init(outer)
        with connect(lock_timeout=0.5) as inner:  # no self-deadlock
            inner.cursor().execute("INSERT INTO SCORE VALUES ('x')")
        cur = outer.cursor()
        cur.execute("SELECT COUNT(*) FROM SCORE")
        assert cur.fetchone() == (1,)


def test_unknown_table_is_one_line_naming_the_url() -> None:
    with pytest.raises(WarehouseError) as info, connect() as conn:
        conn.cursor().execute("SELECT * FROM NO_SUCH_TABLE")
    message = str(info.value)
    assert "\n" not in message
    assert "snowflake://churn@embedded/KKBOX/PUBLIC" in message and "NO_SUCH_TABLE" in message


def test_unreachable_warehouse_fails_fast_and_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACHYDERM_SQL_PASSWORD", "hunter2")
    url = "snowflake://me@127.0.0.1:9/KKBOX/PUBLIC?account=acme&login_timeout=3"
    started = time.monotonic()
    with pytest.raises(WarehouseError) as info, connect(url):
        pass
    assert time.monotonic() - started < 20
    message = str(info.value)
    assert message.startswith("warehouse snowflake://me@127.0.0.1:9/KKBOX/PUBLIC?account=acme")
    assert "unreachable" in message and "hunter2" not in message and "\n" not in message


CHURN = str(Path(sys.executable).parent / "churn")


def test_lock_second_process_waits_then_proceeds(tmp_path: Path) -> None:
    holder = start_holder(tmp_path, hold=2.0)
    try:
        started = time.monotonic()
        out = subprocess.run(
            [CHURN, "warehouse", "tables", "-o", "json", "--lock-timeout", "60"],
            capture_output=True,
            text=True,
            timeout=90,
        )
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=30)
    assert out.returncode == 0, out.stderr
    assert '"MEMBERS": 0' in out.stdout
    assert waited >= 1.0  # it waited for the holder instead of failing on DuckDB's lock


def test_lock_timeout_names_the_holder(tmp_path: Path) -> None:
    holder = start_holder(tmp_path, hold=30.0)
    try:
        out = subprocess.run(
            [CHURN, "warehouse", "tables", "--lock-timeout", "0.5"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        with (
            pytest.raises(WarehouseLockTimeout, match=rf"in use by pid {holder.pid} \(hold_warehouse.py "),
            connect(lock_timeout=0.2),
        ):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert out.returncode == 1
    assert f"in use by pid {holder.pid} (hold_warehouse.py" in out.stderr
    assert "gave up after 0.5s" in out.stderr
    # a notice as it starts waiting (naming the holder), then the one error line
    notice, error = out.stderr.strip().splitlines()
    assert notice.startswith("pachlet: waiting up to 0.5s for embedded warehouse ")
    assert f"in use by pid {holder.pid} (hold_warehouse.py" in notice and " since " in notice
    assert "gave up after 0.5s" in error
    # the OS dropped the killed holder's lock: the warehouse is usable again at once
    with connect(lock_timeout=5) as conn:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM MEMBERS")
        assert cur.fetchone() == (0,)


def test_embedded_memory_is_capped_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    def setting(name: str) -> str:
        with connect() as conn:
            return conn._duck_conn.execute(f"SELECT current_setting('{name}')").fetchone()[0]

    assert setting("memory_limit") == "3.7 GiB"  # the default 4GB (10^9 bytes), as DuckDB prints it
    assert setting("temp_directory").endswith("duckdb.tmp")
    monkeypatch.setenv("CHURN_WAREHOUSE_MEMORY_LIMIT", "512MB")
    assert setting("memory_limit") == "488.2 MiB"
    from churn.warehouse import describe_error

    oom = describe_error(
        "query", RuntimeError("Out of Memory Error: failed to allocate data of size 64.0 MiB")
    )
    assert "capped at 512MB: raise $CHURN_WAREHOUSE_MEMORY_LIMIT" in oom
    monkeypatch.setenv("CHURN_WAREHOUSE_MEMORY_LIMIT", "lots")
    with pytest.raises(WarehouseError, match="CHURN_WAREHOUSE_MEMORY_LIMIT='lots'"):
        setting("memory_limit")
