"""What every servicer shares: the open ``Pachlet`` root, the server's locks, and waiting for changes.

Locks (always taken in this order, never the other way round):

* ``job_lock``: held by the scheduler's job thread while jobs run (side by side), and by destructive
  calls (delete pipeline, delete repo, delete all) so nothing is deleted under a running job. While such
  a call waits for it (``exclusive_waiting``), the scheduler starts no new job and lets go of the lock
  once the running ones ended.
* ``write_lock``: serializes every mutating facade call (put file, commits, branches, pipelines, cron
  ticks), so concurrent clients writing to one branch get one commit each, in some order.

Reads go straight to the facade (SQLite WAL snapshots). Waiters (wait commit, inspect job --wait,
subscribe commit) re-check their condition whenever ``notify`` is called and at least every
``POLL_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import grpc

from pachlet.api import Pachlet
from pachlet.server.errors import RpcAbort

T = TypeVar("T")

POLL_SECONDS = 0.25


class ServerState:
    """The facade plus the server-wide locks, the change condition and the stop flag."""

    def __init__(self, pachlet: Pachlet) -> None:
        self.p = pachlet
        self.job_lock = threading.Lock()
        self.write_lock = threading.RLock()
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self._changed = threading.Condition()
        self._exclusive_waiters = 0
        self._waiters_lock = threading.Lock()

    def exclusive_waiting(self) -> bool:
        """Whether a destructive call waits for the job lock (the scheduler then starts no new job)."""
        return self._exclusive_waiters > 0

    @contextmanager
    def _job_lock_for_exclusive(self) -> Iterator[None]:
        with self._waiters_lock:
            self._exclusive_waiters += 1
        try:
            self.p.poke_jobs()
            self.job_lock.acquire()
        finally:
            with self._waiters_lock:
                self._exclusive_waiters -= 1
        try:
            yield
        finally:
            self.job_lock.release()

    @contextmanager
    def writing(self, *, exclusive: bool = False) -> Iterator[Pachlet]:
        """Hold the write lock (and, with ``exclusive``, the job lock first) around a mutation; waiters
        and the scheduler are woken afterwards."""
        if self.stopping.is_set():
            raise RpcAbort(grpc.StatusCode.UNAVAILABLE, "pachlet serve is shutting down")
        try:
            if exclusive:
                with self._job_lock_for_exclusive(), self.write_lock:
                    yield self.p
            else:
                with self.write_lock:
                    yield self.p
        finally:
            self.notify()

    def notify(self) -> None:
        """Something changed: wake waiters and the scheduler."""
        self.wake.set()
        with self._changed:
            self._changed.notify_all()

    def wait_until(
        self,
        check: Callable[[], T | None],
        context: grpc.ServicerContext | None,
        *,
        timeout: float | None = None,
        what: str = "condition",
    ) -> T:
        """Call ``check`` until it returns something other than None (or False) and return that; gives up
        when the client goes away, the server stops, or ``timeout`` seconds pass."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            result = check()
            if result is not None and result is not False:
                return result
            if self.stopping.is_set():
                raise RpcAbort(
                    grpc.StatusCode.UNAVAILABLE, f"pachlet serve is shutting down; gave up waiting for {what}"
                )
            if context is not None and not context.is_active():
                raise RpcAbort(grpc.StatusCode.CANCELLED, f"client went away while waiting for {what}")
            if deadline is not None and time.monotonic() >= deadline:
                raise RpcAbort(grpc.StatusCode.DEADLINE_EXCEEDED, f"timed out waiting for {what}")
            with self._changed:
                self._changed.wait(POLL_SECONDS)
