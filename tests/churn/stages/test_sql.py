"""pipelines/sql/*.sql on the embedded warehouse (fakesnow): one row per user, the aggregates by hand."""

from __future__ import annotations

import pandas as pd

from churn.stages import layout
from churn.warehouse import bulk_load, connect, fetch_frame, init
from helpers import REPO_ROOT


def frame(rows: list[tuple], table: str) -> pd.DataFrame:
    from churn.warehouse import TABLES

    return pd.DataFrame(rows, columns=[c for c, _ in TABLES[table]])


def test_train_and_score_sql_aggregates() -> None:
    tx = [
        ("a", 41, 30, 149, 149, 1, 20170102, 20170201, 0),
        ("a", 41, 30, 149, 99, 1, 20170201, 20170303, 0),
        ("a", 41, 30, 149, 99, 1, 20170201, 20170303, 0),  # exact duplicate
        ("a", 41, 30, 149, 149, 1, 20170320, 20170419, 0),  # after the train cut-off
        ("b", 38, 30, 149, 149, 0, 20160101, 20160131, 0),
        ("b", 38, 30, 149, 149, 0, 20170210, 20170312, 0),  # lapse: > 30 days after 20160131
    ]
    logs = [
        ("a", 20170228, 1, 0, 0, 0, 9, 8, 3000.0),
        ("a", 20170210, 2, 0, 0, 0, 1, 3, -5.0),  # invalid secs
        ("a", 20161130, 5, 5, 5, 5, 5, 5, 100.0),  # outside the 90-day window
        ("b", 20170101, 0, 0, 0, 0, 4, 4, 600.0),
    ]
    with connect() as conn:
        init(conn)
        bulk_load(
            conn,
            "MEMBERS",
            frame([("a", 1, 30, "male", 7, 20150101), ("b", 5, 0, None, 9, 20160101)], "MEMBERS"),
        )
        bulk_load(conn, "TRANSACTIONS", frame(tx, "TRANSACTIONS"))
        bulk_load(conn, "USER_LOGS", frame(logs, "USER_LOGS"))
        bulk_load(conn, "TRAIN", frame([("b", 1), ("a", 0), ("c", 1)], "TRAIN"))
        bulk_load(conn, "SCORE", frame([("a",)], "SCORE"))
        cur = conn.cursor()
        cur.execute((REPO_ROOT / "pipelines" / "sql" / "train.sql").read_text())
        train = fetch_frame(cur)
        cur.execute((REPO_ROOT / "pipelines" / "sql" / "score.sql").read_text())
        score = fetch_frame(cur)
    assert list(train.columns) == layout.columns(True)
    assert list(score.columns) == layout.columns(False)
    assert list(train["MSNO"]) == ["a", "b", "c"]  # one row per TRAIN user, sorted
    a, b = train.iloc[0], train.iloc[1]
    assert a["LAST_TRANSACTION_DATE"] == 20170201 and a["LAST_ACTUAL_AMOUNT_PAID"] == 99
    assert a["TX_COUNT"] == 2 and a["TX_DUPLICATES"] == 1 and a["TX_MEAN_DISCOUNT"] == 25.0
    assert a["NUM_100_7D"] == 9 and a["NUM_100_30D"] == 10 and a["DAYS_30D"] == 2 and a["DAYS_90D"] == 2
    assert a["SECS_30D"] == 3000.0 and a["BAD_SECS_30D"] == 1 and a["BAD_SECS_7D"] == 0
    assert a["LOG_LAST_DATE"] == 20170228 and a["TX_LAPSES"] == 0 and a["TX_RENEWALS"] == 1
    assert b["TX_LAPSES"] == 1 and b["TX_LATE_RENEWALS"] == 1 and b["SECS_90D"] == 600.0 and b["DAYS_7D"] == 0
    assert pd.isna(train.iloc[2]["CITY"]) and pd.isna(train.iloc[2]["TX_COUNT"])
    s = score.iloc[0]
    assert s["CUTOFF_DATE"] == 20170331 and s["LAST_TRANSACTION_DATE"] == 20170320 and s["TX_COUNT"] == 3
