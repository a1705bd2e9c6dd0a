"""The embedded warehouse's process lock.

DuckDB lets one process open a database file at a time. ``connect`` holds an OS file lock
(``filelock``) on ``<db dir>/warehouse.lock`` for its whole ``with`` block; the holder writes its pid and
command line to ``warehouse.lock.holder`` so a waiting process can name it. The OS drops the lock when the
holder dies, so a stale holder file never blocks anyone. Within one process the lock is shared
(reference-counted), so nested ``connect`` calls do not deadlock.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from pathlib import Path

import filelock

from churn.warehouse.errors import WarehouseLockTimeout

LOCK_NAME = "warehouse.lock"
HOLDER_NAME = "warehouse.lock.holder"


def describe_holder(db_dir: Path) -> str:
    """One line naming whoever holds (or last held) the lock: ``pid 123 (churn warehouse seed) since ...``."""
    try:
        info = json.loads((db_dir / HOLDER_NAME).read_text())
    except (OSError, ValueError):
        return "another process"
    return f"pid {info.get('pid')} ({info.get('cmd', '?')}) since {info.get('since', '?')}"


def _command_line() -> str:
    if not sys.argv or not sys.argv[0]:
        return "python"
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300]


class WarehouseLock:
    """Process-wide, re-entrant exclusive lock on an embedded warehouse directory."""

    def __init__(self, db_dir: Path) -> None:
        self.db_dir = db_dir
        self._lock = filelock.FileLock(str(db_dir / LOCK_NAME), thread_local=False)
        self._mutex = threading.Lock()
        self._depth = 0

    def acquire(self, timeout: float) -> bool:
        """Take the lock (waiting at most ``timeout`` s). Returns True for the outermost acquisition."""
        with self._mutex:
            if self._depth > 0:
                self._depth += 1
                return False
            try:
                self._lock.acquire(timeout=max(timeout, 0.0))
            except filelock.Timeout:
                raise WarehouseLockTimeout(
                    f"embedded warehouse {self.db_dir} is in use by {describe_holder(self.db_dir)}; "
                    f"gave up after {timeout:g}s (wait for it to finish or raise the lock timeout)"
                ) from None
            self._depth = 1
        info = {"pid": os.getpid(), "cmd": _command_line(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        tmp = self.db_dir / f"{HOLDER_NAME}.{os.getpid()}"
        tmp.write_text(json.dumps(info))
        os.replace(tmp, self.db_dir / HOLDER_NAME)
        return True

    def release(self) -> bool:
        """Release one level; returns True when the OS lock itself was released."""
        with self._mutex:
            self._depth -= 1
            if self._depth > 0:
                return False
            with contextlib.suppress(OSError):
                (self.db_dir / HOLDER_NAME).unlink(missing_ok=True)
            self._lock.release(force=True)
            return True
