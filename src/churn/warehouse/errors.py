"""Errors of the warehouse layer: one clear line naming the URL (password never shown)."""

from __future__ import annotations

from churn.errors import ChurnError


class WarehouseError(ChurnError):
    """A warehouse problem reported as one line: bad URL, unreachable, bad credentials, unknown object."""


class WarehouseLockTimeout(WarehouseError):
    """The embedded warehouse is held by another process longer than the lock timeout."""
