"""The background thread of ``pachlet serve``: cron ticks on schedule and job processing.

Each round it applies the cron ticks owed now (``Pachlet.due_cron_ticks``: catch-up from each cron
input's last tick, as Pachyderm's cron does), then runs at most one queued job while holding the job
lock, and wakes every waiter. When there is nothing to do it sleeps until something changes (a client
call sets ``state.wake``) or ``poll`` seconds pass. ``stop`` asks the engine to stop after its in-flight
datums: the interrupted job stays queued (nothing half-committed) and resumes on the next start.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from pachlet.pps.spout import SpoutSupervisor
from pachlet.server.state import ServerState

log = logging.getLogger("pachlet.server.scheduler")

DEFAULT_POLL_SECONDS = 1.0


class Scheduler(threading.Thread):
    """Fires cron ticks and runs queued jobs until stopped."""

    def __init__(self, state: ServerState, *, poll: float = DEFAULT_POLL_SECONDS, cron: bool = True) -> None:
        super().__init__(name="pachlet-scheduler", daemon=True)
        self.state = state
        self.poll = poll
        self.cron = cron
        self.jobs_run = 0
        self.ticks_applied = 0
        self.pachd_address = ""
        """``host:port`` the server is reachable at (set by ``pachlet serve`` before ``start``): spouts run
        only when it is set (``pachlet.pps.spout``)."""
        self.spouts: SpoutSupervisor | None = None

    def stop(self) -> None:
        """Stop after the running job's in-flight datums (the job itself stays queued)."""
        self.state.stopping.set()
        self.state.p.request_stop()
        self.state.notify()

    def run(self) -> None:
        """The loop; errors are logged and retried after ``poll`` seconds, never fatal."""
        state = self.state
        if self.pachd_address:
            self.spouts = state.p.spout_supervisor(self.pachd_address)
        try:
            self._loop()
        finally:
            if self.spouts is not None:
                self.spouts.stop()

    def _loop(self) -> None:
        state = self.state
        while not state.stopping.is_set():
            state.wake.clear()
            try:
                worked = self.round()
            except Exception:  # noqa: BLE001 - a failing round must not kill the scheduler
                log.exception("scheduler round failed; retrying in %.1fs", self.poll)
                worked = False
            if not worked:
                state.wake.wait(self.poll)

    def round(self) -> bool:
        """One pass: due cron ticks, then one job. Returns whether anything happened."""
        state, p = self.state, self.state.p
        worked = False
        if self.spouts is not None and not state.stopping.is_set():
            self.spouts.sync()
        if self.cron:
            ticks = p.due_cron_ticks(datetime.now(UTC))
            if ticks and not state.stopping.is_set():
                with state.write_lock:
                    gids = p.apply_cron_ticks(ticks)
                self.ticks_applied += len(ticks)
                for tick, gid in zip(ticks, gids, strict=False):
                    log.info(
                        "cron tick %s/%s at %s -> %s",
                        tick.pipeline,
                        tick.input_name,
                        tick.at.isoformat(),
                        gid,
                    )
                state.notify()
                worked = True
        if state.stopping.is_set() or not p.pending_jobs():
            return worked
        with state.job_lock:
            if state.stopping.is_set():
                return worked
            done = p.process_pending(limit=1)
        for job in done:
            self.jobs_run += 1
            log.info(
                "job %s@%s: %s%s", job.pipeline, job.id, job.state, f" ({job.reason})" if job.reason else ""
            )
        state.notify()
        return bool(done) or worked
