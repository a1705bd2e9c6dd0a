"""``advance``: a new day for some members, so their scoring features change (for incremental demos).

For each chosen member: one USER_LOGS row and one TRANSACTIONS row dated 20170331 (inside the scoring
window, on the SCORE cut-off). The transaction either cancels the subscription (IS_CANCEL 1) or turns
auto-renew on, keeping the current membership expiry, so the member stays in SCORE.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churn.warehouse.errors import WarehouseError
from churn.warehouse.loading import bulk_load

ADVANCE_DATE = 20170331


def _query(conn: Any, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    try:
        cur.execute(sql, params)
        return list(cur.fetchall())
    finally:
        cur.close()


def choose_members(conn: Any, count: int, seed: int) -> list[str]:
    """``count`` distinct MSNOs of SCORE, chosen reproducibly by ``seed`` (sorted)."""
    pool = sorted({row[0] for row in _query(conn, "SELECT DISTINCT MSNO FROM SCORE")})
    if count > len(pool):
        raise WarehouseError(f"advance: asked for {count} members but SCORE holds {len(pool)}")
    rng = np.random.default_rng([seed, 20170331])
    return sorted(pool[i] for i in rng.choice(len(pool), size=count, replace=False))


def advance(conn: Any, msnos: list[str], seed: int = 0) -> pd.DataFrame:
    """Add the day's listening and a transaction dated 20170331 for each of ``msnos``; returns the
    transactions added. Unknown MSNOs (in neither MEMBERS nor TRANSACTIONS) raise ``WarehouseError``."""
    wanted = sorted(set(msnos))
    if not wanted:
        return pd.DataFrame()
    marks = ", ".join(["%s"] * len(wanted))
    known = {
        r[0]: r[1]
        for r in _query(
            conn,
            "SELECT MSNO, MAX(IFF(MEMBERSHIP_EXPIRE_DATE BETWEEN 20170101 AND 20171231, MEMBERSHIP_EXPIRE_DATE, NULL)) "
            f"FROM TRANSACTIONS WHERE MSNO IN ({marks}) AND TRANSACTION_DATE <= {ADVANCE_DATE} GROUP BY MSNO",
            tuple(wanted),
        )
    }
    members = {r[0] for r in _query(conn, f"SELECT MSNO FROM MEMBERS WHERE MSNO IN ({marks})", tuple(wanted))}
    unknown = [m for m in wanted if m not in known and m not in members]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise WarehouseError(f"advance: unknown member(s) {shown} (not in MEMBERS nor TRANSACTIONS)")
    rng = np.random.default_rng([seed, len(wanted), 7])
    n = len(wanted)
    cancel = (rng.random(n) < 0.5).astype(np.int64)
    expire = np.array([int(known.get(m) or 20170430) for m in wanted], dtype=np.int64)
    transactions = pd.DataFrame(
        {
            "MSNO": wanted,
            "PAYMENT_METHOD_ID": np.where(cancel == 1, 41, 40),
            "PAYMENT_PLAN_DAYS": 30,
            "PLAN_LIST_PRICE": 149,
            "ACTUAL_AMOUNT_PAID": 149,
            "IS_AUTO_RENEW": 1,
            "TRANSACTION_DATE": ADVANCE_DATE,
            "MEMBERSHIP_EXPIRE_DATE": expire,
            "IS_CANCEL": cancel,
        }
    )
    total = rng.poisson(25, n) + 1
    n100 = rng.binomial(total, 0.6)
    n25 = total - n100
    logs = pd.DataFrame(
        {
            "MSNO": wanted,
            "DATE": ADVANCE_DATE,
            "NUM_25": n25,
            "NUM_50": 0,
            "NUM_75": 0,
            "NUM_985": 0,
            "NUM_100": n100,
            "NUM_UNQ": np.maximum(rng.binomial(total, 0.8), 1),
            "TOTAL_SECS": np.round(240.0 * (n100 + 0.12 * n25) * rng.lognormal(0, 0.1, n), 3),
        }
    )
    cur = conn.cursor()
    cur.execute("BEGIN")
    try:
        bulk_load(conn, "TRANSACTIONS", transactions)
        bulk_load(conn, "USER_LOGS", logs)
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    cur.execute("COMMIT")
    return transactions
