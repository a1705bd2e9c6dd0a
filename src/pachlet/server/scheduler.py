"""The background threads of ``pachlet serve``: cron ticks on schedule, spouts, and job processing.

The tick thread, each round, syncs the spouts, applies the cron ticks owed now
(``Pachlet.due_cron_ticks``: catch-up from each cron input's last tick, as Pachyderm's cron does) and,
when jobs are queued, wakes the job thread. When there is nothing to do it sleeps until something
changes (a client call sets ``state.wake``) or ``poll`` seconds pass. It never waits for a job.

The job thread runs every runnable job side by side, as the pps ``JobScheduler`` does for
``run_until_idle`` (one core budget for all jobs' datums), holding the job lock while any runs: jobs
queued meanwhile (cron ticks, client commits) start as soon as they are runnable; a destructive call
waiting for the lock stops new jobs from starting. Each ended job wakes every waiter. ``stop`` asks
the engine to stop after its in-flight datums: interrupted jobs stay queued (nothing half-committed)
and resume on the next start; the tick thread ends after the job thread did.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from pachlet.pps.scheduler import Follow
from pachlet.pps.spout import SpoutSupervisor
from pachlet.records import JobInfo
from pachlet.server.state import ServerState

log = logging.getLogger("pachlet.server.scheduler")

DEFAULT_POLL_SECONDS = 1.0


class Scheduler(threading.Thread):
    """Fires cron ticks, keeps spouts running and runs queued jobs (in its job thread) until stopped."""

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
        self._jobs_wanted = threading.Event()
        self._count_lock = threading.Lock()
        self._jobs = threading.Thread(target=self._job_loop, name="pachlet-jobs", daemon=True)

    def stop(self) -> None:
        """Stop after the running jobs' in-flight datums (the jobs themselves stay queued)."""
        self.state.stopping.set()
        self.state.p.request_stop()
        self._jobs_wanted.set()
        self.state.notify()

    def run(self) -> None:
        """The loop; errors are logged and retried after ``poll`` seconds, never fatal."""
        state = self.state
        if self.pachd_address:
            self.spouts = state.p.spout_supervisor(self.pachd_address)
        self._jobs.start()
        try:
            self._loop()
        finally:
            self._jobs.join()
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
        """One pass: spouts, due cron ticks, then wake the job thread if jobs are queued. Returns whether
        cron ticks were applied."""
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
        if not state.stopping.is_set() and p.pending_jobs():
            self._jobs_wanted.set()
            p.poke_jobs()
        return worked

    def _job_loop(self) -> None:
        """The job thread: whenever woken (or every ``poll`` seconds) with jobs queued, run them."""
        state, p = self.state, self.state.p
        follow = Follow(poll=self.poll, hold=self._hold, on_end=self._ended)
        while not state.stopping.is_set():
            self._jobs_wanted.wait(self.poll)
            self._jobs_wanted.clear()
            try:
                if state.stopping.is_set() or not p.pending_jobs():
                    continue
                with state.job_lock:
                    if not state.stopping.is_set():
                        p.process_pending(follow=follow)
            except Exception:  # noqa: BLE001 - a failing run must not kill the job thread
                log.exception("running jobs failed; retrying in %.1fs", self.poll)
                state.stopping.wait(self.poll)

    def _hold(self) -> bool:
        """Start no new job: the server stops, or a destructive call waits for the job lock."""
        return self.state.stopping.is_set() or self.state.exclusive_waiting()

    def _ended(self, job: JobInfo) -> None:
        with self._count_lock:
            self.jobs_run += 1
        log.info("job %s@%s: %s%s", job.pipeline, job.id, job.state, f" ({job.reason})" if job.reason else "")
        self.state.notify()
