"""Fixtures of the warehouse tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """No warehouse URL, directory or password from the developer's environment."""
    monkeypatch.delenv("CHURN_WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("CHURN_WAREHOUSE_DIR", raising=False)
    monkeypatch.delenv("PACHYDERM_SQL_PASSWORD", raising=False)
