"""Errors of the warehouse layer: one clear line naming the URL (password never shown)."""

from __future__ import annotations

from churn.errors import ChurnError
from pachlet.errors import LockTimeoutError


class WarehouseError(ChurnError):
    """A warehouse problem reported as one line: bad URL, unreachable, bad credentials, unknown object."""


class WarehouseLockTimeout(WarehouseError, LockTimeoutError):
    """The embedded warehouse is held by another process longer than the lock timeout (a pachlet
    ``LockTimeoutError`` too, so the SQL egress does not retry it as a connection failure)."""
