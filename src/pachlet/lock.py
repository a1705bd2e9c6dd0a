"""The root lock: one process at a time owns a pachlet root for writing.

An OS file lock (``filelock``) on ``root/lock``; the holder writes its pid, command line and start time
to ``root/lock.info`` so a waiting process can say what holds the root. The OS drops the lock when the
holder dies (even by kill -9), so a stale ``lock.info`` never blocks anyone.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

import filelock

from pachlet.errors import LockTimeoutError


def describe_holder(root: Path) -> str:
    """A one-line description of whoever last took the lock ("pid 123 (pachlet serve) since ...")."""
    try:
        info = json.loads((root / "lock.info").read_text())
    except (OSError, ValueError):
        return "another process"
    return f"pid {info.get('pid')} ({info.get('cmd', '?')}) since {info.get('since', '?')}"


class RootLock:
    """An exclusive, process-wide lock on a root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = filelock.FileLock(str(root / "lock"), thread_local=False)

    def acquire(self, timeout: float) -> None:
        """Take the lock, waiting at most ``timeout`` seconds; ``LockTimeoutError`` names the holder."""
        try:
            self._lock.acquire(timeout=max(timeout, 0.0))
        except filelock.Timeout:
            raise LockTimeoutError(
                f"pachlet root {self.root} is in use by {describe_holder(self.root)}; "
                f"gave up after {timeout:g}s (stop that process or pass a longer lock timeout)"
            ) from None
        info = {
            "pid": os.getpid(),
            "cmd": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200] if sys.argv else "python",
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        tmp = self.root / f"lock.info.{os.getpid()}"
        tmp.write_text(json.dumps(info))
        os.replace(tmp, self.root / "lock.info")

    def release(self) -> None:
        """Release the lock (and forget the holder info)."""
        if self._lock.is_locked:
            with contextlib.suppress(OSError):
                (self.root / "lock.info").unlink(missing_ok=True)
            self._lock.release(force=True)
