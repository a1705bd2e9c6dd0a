"""The embedded warehouse as tests use it: run statements, get rows."""

from __future__ import annotations

from typing import Any

from churn.warehouse import EMBEDDED_URL, connect_url


def sql(*statements: str) -> list[tuple[Any, ...]]:
    """Run statements on the embedded warehouse; rows of the last one."""
    with connect_url(EMBEDDED_URL, None) as conn:
        cur = conn.cursor()
        rows: list[tuple[Any, ...]] = []
        for st in statements:
            cur.execute(st)
            rows = cur.fetchall() if cur.description else []
        return rows
