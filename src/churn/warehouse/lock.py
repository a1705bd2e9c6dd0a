"""The embedded warehouse's process lock.

DuckDB lets one process open a database file at a time. ``connect`` holds an OS file lock
(``filelock``) on ``<db dir>/warehouse.lock`` for its whole ``with`` block; the holder writes its pid and
command line to ``warehouse.lock.holder`` so a waiting process can name it. The OS drops the lock when the
holder dies, so a stale holder file never blocks anyone. Within one process the lock is shared
(reference-counted), so nested ``connect`` calls do not deadlock.
"""

from __future__ import annotations

import threading
from pathlib import Path

from churn.warehouse.errors import WarehouseLockTimeout
from pachlet.lock import LOCK_TIMEOUT_ENV, HolderFileLock

LOCK_NAME = "warehouse.lock"
HOLDER_NAME = "warehouse.lock.holder"


class WarehouseLock:
    """Process-wide, re-entrant exclusive lock on an embedded warehouse directory (pachlet's
    ``HolderFileLock``, reference-counted within the process)."""

    def __init__(self, db_dir: Path) -> None:
        self.db_dir = db_dir
        self._lock = HolderFileLock(db_dir / LOCK_NAME, db_dir / HOLDER_NAME)
        self._mutex = threading.Lock()
        self._depth = 0

    def acquire(self, timeout: float) -> bool:
        """Take the lock (waiting at most ``timeout`` s). Returns True for the outermost acquisition."""
        with self._mutex:
            if self._depth > 0:
                self._depth += 1
                return False
            if not self._lock.acquire(timeout, f"embedded warehouse {self.db_dir}"):
                raise WarehouseLockTimeout(
                    f"embedded warehouse {self.db_dir} is in use by {self._lock.holder()}; "
                    f"gave up after {timeout:g}s (wait for it to finish or raise --lock-timeout / "
                    f"${LOCK_TIMEOUT_ENV})"
                )
            self._depth = 1
        return True

    def release(self) -> bool:
        """Release one level; returns True when the OS lock itself was released."""
        with self._mutex:
            self._depth -= 1
            if self._depth > 0:
                return False
            self._lock.release()
            return True
