"""The columns of the query result (``pipelines/sql/{train,score}.sql``): what ingest writes, clean reads
and writes, and features reads. One row per user; ``IS_CHURN`` only in the training query."""

from __future__ import annotations

WINDOWS: tuple[int, ...] = (7, 14, 30, 90)
PLAY_COLUMNS: tuple[str, ...] = ("NUM_25", "NUM_50", "NUM_75", "NUM_985", "NUM_100", "NUM_UNQ")

ID = "MSNO"
LABEL = "IS_CHURN"

MEMBER_INT = ("CITY", "BD", "REGISTERED_VIA", "REGISTRATION_INIT_TIME")
LAST_TX_INT = (
    "LAST_PAYMENT_METHOD_ID",
    "LAST_PAYMENT_PLAN_DAYS",
    "LAST_PLAN_LIST_PRICE",
    "LAST_ACTUAL_AMOUNT_PAID",
    "LAST_IS_AUTO_RENEW",
    "LAST_TRANSACTION_DATE",
    "LAST_MEMBERSHIP_EXPIRE_DATE",
    "LAST_IS_CANCEL",
)
TX_HIST_INT = ("TX_COUNT", "TX_CANCELS", "TX_DISCOUNTED", "TX_FIRST_DATE", "TX_DUPLICATES")
TX_HIST_FLOAT = ("TX_AUTO_RENEW_SHARE", "TX_MEAN_DISCOUNT", "TX_PAID_TOTAL", "TX_MEAN_GAP_DAYS")
RENEWAL_COLUMNS = ("TX_RENEWALS", "TX_LATE_RENEWALS", "TX_LAPSES", "TX_MEAN_GAP_DAYS")


def window_columns(n: int) -> list[str]:
    """The USER_LOGS aggregate columns of the ``n``-day window, in query order."""
    return [f"{c}_{n}D" for c in PLAY_COLUMNS] + [f"SECS_{n}D", f"BAD_SECS_{n}D", f"DAYS_{n}D"]


LOG_COLUMNS: tuple[str, ...] = ("LOG_LAST_DATE", *[c for n in WINDOWS for c in window_columns(n)])
LOG_FLOAT = tuple(f"SECS_{n}D" for n in WINDOWS)

# Integer columns that are dates as YYYYMMDD.
DATE_COLUMNS = (
    "CUTOFF_DATE",
    "REGISTRATION_INIT_TIME",
    "LAST_TRANSACTION_DATE",
    "LAST_MEMBERSHIP_EXPIRE_DATE",
    "TX_FIRST_DATE",
    "LOG_LAST_DATE",
)


def columns(with_label: bool) -> list[str]:
    """All query columns in order, with or without the label."""
    head = [ID, LABEL] if with_label else [ID]
    return [
        *head,
        "CUTOFF_DATE",
        "CITY",
        "BD",
        "GENDER",
        "REGISTERED_VIA",
        "REGISTRATION_INIT_TIME",
        *LAST_TX_INT,
        "TX_COUNT",
        "TX_CANCELS",
        "TX_AUTO_RENEW_SHARE",
        "TX_MEAN_DISCOUNT",
        "TX_DISCOUNTED",
        "TX_PAID_TOTAL",
        "TX_FIRST_DATE",
        "TX_DUPLICATES",
        *RENEWAL_COLUMNS,
        *LOG_COLUMNS,
    ]


FLOAT_COLUMNS: frozenset[str] = frozenset((*TX_HIST_FLOAT, *LOG_FLOAT))
STRING_COLUMNS: frozenset[str] = frozenset((ID, "GENDER"))


def kind(column: str) -> str:
    """``"str"``, ``"float"`` or ``"int"``: how the clean stage parses ``column``."""
    if column in STRING_COLUMNS:
        return "str"
    if column in FLOAT_COLUMNS:
        return "float"
    return "int"


def pandas_dtypes(cols: list[str]) -> dict[str, str]:
    """pandas dtypes to read a clean CSV with (nullable integers, floats, strings)."""
    return {c: {"str": "string", "float": "float64", "int": "Int64"}[kind(c)] for c in cols}
