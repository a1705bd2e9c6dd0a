"""Fixtures of the server tests: one ``pachlet serve`` per test module, and a client of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import python_pachyderm

from helpers.served import Served


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for the module's tests (each test uses its own repo and pipeline names)."""
    s = Served(tmp_path_factory.mktemp("serve") / "root")
    yield s
    code, _, err = s.stop()
    assert code == 0, err


@pytest.fixture
def client(served: Served) -> python_pachyderm.Client:
    """A client of the module's server."""
    return served.client()
