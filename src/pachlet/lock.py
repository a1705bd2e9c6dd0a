"""Process locks that say who holds them: the root lock, and the same mechanism for other tools.

An OS file lock (``filelock``) on a lock file; the holder writes its pid, command line and start time
to a holder file next to it, so a waiting process can say what holds the lock. The OS drops the lock
when the holder dies (even by kill -9), so a stale holder file never blocks anyone.
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


def _command_line() -> str:
    if not sys.argv or not sys.argv[0]:
        return "python"
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300]


class HolderFileLock:
    """An exclusive, process-wide OS file lock on ``lock_path`` whose holder is recorded in
    ``holder_path`` (pid, command line, since when)."""

    def __init__(self, lock_path: Path, holder_path: Path) -> None:
        self.holder_path = holder_path
        self._lock = filelock.FileLock(str(lock_path), thread_local=False)

    def holder(self) -> str:
        """A one-line description of whoever last took the lock ("pid 123 (pachlet serve) since ...")."""
        try:
            info = json.loads(self.holder_path.read_text())
        except (OSError, ValueError):
            return "another process"
        return f"pid {info.get('pid')} ({info.get('cmd', '?')}) since {info.get('since', '?')}"

    def acquire(self, timeout: float) -> bool:
        """Take the lock, waiting at most ``timeout`` seconds; False when it timed out."""
        try:
            self._lock.acquire(timeout=max(timeout, 0.0))
        except filelock.Timeout:
            return False
        info = {"pid": os.getpid(), "cmd": _command_line(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        tmp = self.holder_path.with_name(f"{self.holder_path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(info))
        os.replace(tmp, self.holder_path)
        return True

    @property
    def is_locked(self) -> bool:
        """Whether this process holds the lock."""
        return self._lock.is_locked

    def release(self) -> None:
        """Release the lock (and forget the holder)."""
        if self._lock.is_locked:
            with contextlib.suppress(OSError):
                self.holder_path.unlink(missing_ok=True)
            self._lock.release(force=True)


class RootLock:
    """The root lock: one process at a time owns a pachlet root (``root/lock``, holder in
    ``root/lock.info``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = HolderFileLock(root / "lock", root / "lock.info")

    def acquire(self, timeout: float) -> None:
        """Take the lock, waiting at most ``timeout`` seconds; ``LockTimeoutError`` names the holder."""
        if not self._lock.acquire(timeout):
            raise LockTimeoutError(
                f"pachlet root {self.root} is in use by {self._lock.holder()}; "
                f"gave up after {timeout:g}s (stop that process or pass a longer lock timeout)"
            )

    def release(self) -> None:
        """Release the lock (and forget the holder info)."""
        self._lock.release()
