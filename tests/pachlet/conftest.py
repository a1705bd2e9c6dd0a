"""Fixtures of pachlet's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pachlet.api import Pachlet


@pytest.fixture
def pach(tmp_path: Path) -> Iterator[Pachlet]:
    """A fresh pachlet root, open for the test."""
    p = Pachlet(tmp_path / "root", timeout=5)
    yield p
    p.close()
