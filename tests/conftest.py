"""Shared fixtures: every test gets its own pachlet root and churn home, never the developer's."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point CHURN_HOME, PACHLET_ROOT and PACHLET_CONFIG at a per-test directory."""
    monkeypatch.setenv("CHURN_HOME", str(tmp_path / "churn-home"))
    monkeypatch.setenv("PACHLET_ROOT", str(tmp_path / "pachlet-root"))
    monkeypatch.delenv("PACHD_ADDRESS", raising=False)
    monkeypatch.setenv("PACHLET_CONFIG", str(tmp_path / "pachlet-config.json"))  # never the user's contexts
    # set then removed: the test starts without it, and whatever a test (or `pachlet --lock-timeout`
    # run in-process) sets is undone after it
    monkeypatch.setenv("PACHLET_LOCK_TIMEOUT", "")
    monkeypatch.delenv("PACHLET_LOCK_TIMEOUT")
    return tmp_path


@pytest.fixture
def repo_root() -> Path:
    """The project checkout."""
    return REPO_ROOT
