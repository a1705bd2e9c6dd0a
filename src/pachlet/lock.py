"""Process locks that say who holds them: the root lock, and the same mechanism for other tools.

An OS file lock (``filelock``) on a lock file; the holder writes its pid, command line and start time
to a holder file next to it, so a waiting process can say what holds the lock. The OS drops the lock
when the holder dies (even by kill -9), so a stale holder file never blocks anyone.

Every lock wait (the root, the embedded warehouse) is bounded by one setting: ``lock_timeout()`` is an
explicit value, else ``$PACHLET_LOCK_TIMEOUT`` (which ``pachlet --lock-timeout`` sets for the egress and
the datums it runs), else 30 s. A process that has to wait says so at once on the ``pachlet.lock`` logger
(stderr when logging is not configured), naming the holder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import filelock

from pachlet.errors import LockTimeoutError, PachletError

log = logging.getLogger("pachlet.lock")

LOCK_TIMEOUT_ENV = "PACHLET_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 30.0
"""Seconds any lock wait lasts unless ``$PACHLET_LOCK_TIMEOUT`` or an explicit value says otherwise."""


def lock_timeout(value: float | None = None) -> float:
    """The lock wait to use: ``value`` if given, else ``$PACHLET_LOCK_TIMEOUT``, else 30 s. A bad value
    (not a number, negative, infinite) is a ``PachletError`` naming the setting."""
    source = "lock timeout"
    if value is None:
        raw = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
        if not raw:
            return DEFAULT_LOCK_TIMEOUT
        source = f"${LOCK_TIMEOUT_ENV}"
        try:
            value = float(raw)
        except ValueError:
            raise PachletError(f"{source}={raw!r}: expected a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise PachletError(f"{source} {value!r}: expected a finite number of seconds >= 0")
    return float(value)


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

    def acquire(self, timeout: float, what: str = "lock") -> bool:
        """Take the lock, waiting at most ``timeout`` seconds; False when it timed out. When the lock is
        taken, says (``pachlet.lock`` logger, WARNING) that it waits for ``what`` and who holds it."""
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            if timeout <= 0:
                return False
            log.warning("pachlet: waiting up to %gs for %s, in use by %s", timeout, what, self.holder())
            try:
                self._lock.acquire(timeout=timeout)
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
        if not self._lock.acquire(timeout, f"pachlet root {self.root}"):
            raise LockTimeoutError(
                f"pachlet root {self.root} is in use by {self._lock.holder()}; gave up after {timeout:g}s "
                f"(stop that process or raise --lock-timeout / ${LOCK_TIMEOUT_ENV})"
            )

    def release(self) -> None:
        """Release the lock (and forget the holder info)."""
        self._lock.release()
