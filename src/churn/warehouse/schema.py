"""DDL of the KKBox warehouse: database, schema and tables (upper-case names, contract column order)."""

from __future__ import annotations

from typing import Any

# table -> [(column, Snowflake type)], in the contract's column order
TABLES: dict[str, list[tuple[str, str]]] = {
    "MEMBERS": [
        ("MSNO", "VARCHAR"),
        ("CITY", "INTEGER"),
        ("BD", "INTEGER"),
        ("GENDER", "VARCHAR"),
        ("REGISTERED_VIA", "INTEGER"),
        ("REGISTRATION_INIT_TIME", "INTEGER"),
    ],
    "TRANSACTIONS": [
        ("MSNO", "VARCHAR"),
        ("PAYMENT_METHOD_ID", "INTEGER"),
        ("PAYMENT_PLAN_DAYS", "INTEGER"),
        ("PLAN_LIST_PRICE", "INTEGER"),
        ("ACTUAL_AMOUNT_PAID", "INTEGER"),
        ("IS_AUTO_RENEW", "INTEGER"),
        ("TRANSACTION_DATE", "INTEGER"),
        ("MEMBERSHIP_EXPIRE_DATE", "INTEGER"),
        ("IS_CANCEL", "INTEGER"),
    ],
    "USER_LOGS": [
        ("MSNO", "VARCHAR"),
        ("DATE", "INTEGER"),
        ("NUM_25", "INTEGER"),
        ("NUM_50", "INTEGER"),
        ("NUM_75", "INTEGER"),
        ("NUM_985", "INTEGER"),
        ("NUM_100", "INTEGER"),
        ("NUM_UNQ", "INTEGER"),
        ("TOTAL_SECS", "DOUBLE"),
    ],
    "TRAIN": [("MSNO", "VARCHAR"), ("IS_CHURN", "INTEGER")],
    "SCORE": [("MSNO", "VARCHAR")],
    "CHURN_SCORES": [
        ("MSNO", "VARCHAR"),
        ("CHURN_PROBABILITY", "DOUBLE"),
        ("CHURN_PREDICTION", "INTEGER"),
        ("MODEL_COMMIT", "VARCHAR"),
        ("GLOBAL_ID", "VARCHAR"),
        ("SCORED_AT", "TIMESTAMP"),
    ],
    # what happened to the SCORE members after the snapshot (loaded on request; no pipeline's training or
    # scoring input reads it, only churn_monitor); KNOWN_AT: the day the outcome is known (expiry + 30)
    "CHURN_OUTCOMES": [("MSNO", "VARCHAR"), ("IS_CHURN", "INTEGER"), ("KNOWN_AT", "INTEGER")],
}

# tables the generator fills (CHURN_SCORES is written back by the pipeline's egress)
DATA_TABLES: tuple[str, ...] = ("MEMBERS", "TRANSACTIONS", "USER_LOGS", "TRAIN", "SCORE")
OUTCOME_TABLE = "CHURN_OUTCOMES"


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain identifier: {name!r}")
    return name.upper()


def ddl(database: str, schema: str) -> list[str]:
    """The statements ``init`` runs (all idempotent)."""
    db, sc = _ident(database), _ident(schema)
    statements = [f"CREATE DATABASE IF NOT EXISTS {db}", f"CREATE SCHEMA IF NOT EXISTS {db}.{sc}"]
    for table, columns in TABLES.items():
        cols = ", ".join(f"{name} {typ}" for name, typ in columns)
        statements.append(f"CREATE TABLE IF NOT EXISTS {db}.{sc}.{table} ({cols})")
    return statements


def current_location(conn: Any) -> tuple[str, str]:
    """(database, schema) the connection is using (``KKBOX``/``PUBLIC`` when unset)."""
    database = getattr(conn, "database", None) or "KKBOX"
    schema = getattr(conn, "schema", None) or "PUBLIC"
    return str(database).upper(), str(schema).upper()


def init(conn: Any, database: str | None = None, schema: str | None = None) -> list[str]:
    """Create the database, schema and every table if missing (idempotent). Returns the table names."""
    db, sc = current_location(conn)
    cur = conn.cursor()
    try:
        for statement in ddl(database or db, schema or sc):
            cur.execute(statement)
    finally:
        cur.close()
    return list(TABLES)


def truncate(conn: Any, tables: tuple[str, ...] = DATA_TABLES) -> None:
    """Empty ``tables`` (in the connection's current schema)."""
    cur = conn.cursor()
    try:
        for table in tables:
            cur.execute(f"TRUNCATE TABLE {_ident(table)}")
    finally:
        cur.close()


def table_counts(conn: Any) -> dict[str, int | None]:
    """Row counts of the project's tables in the connection's schema (None for a missing table)."""
    import snowflake.connector.errors as sf_errors

    counts: dict[str, int | None] = {}
    cur = conn.cursor()
    for table in TABLES:
        try:
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            counts[table] = int(cur.fetchone()[0])
        except sf_errors.ProgrammingError:
            counts[table] = None
    return counts
