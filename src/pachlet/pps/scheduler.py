"""PPS job scheduling: which queued jobs run now, side by side, within one core budget.

As pachd runs each pipeline's jobs on that pipeline's own workers, every job whose inputs are ready
runs at once (in its own thread); the datums of all running jobs share one ``CoreBudget`` (one slot per
core), and a pipeline's ``parallelismSpec`` bounds its datums within it. So the train and score branches
of a DAG overlap, and a one-datum job does not leave the other cores idle.

What stays as it was with jobs run one at a time (and so the outputs are the same):

- at most one job per pipeline runs at once, its jobs in creation order (a job waits for its output
  commit's parent, the pipeline's previous job);
- a job waits for every input commit to be finished *and* for the job that makes it to be over,
  egress included (pachd finishes an output commit only once its egress succeeded);
- a job in JOB_EGRESSING resumes first; a failed or unrunnable input fails the job as before
  (``JobRunner.run``).
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from pachlet.pfs.driver import PFS
from pachlet.pps.jobs import Job, JobRegistry
from pachlet.records import JOB_CREATED, JOB_EGRESSING, ORIGIN_AUTO, JobInfo

CORES_ENV = "PACHLET_CORES"
"""Environment variable overriding the core budget (default: the machine's core count)."""

JobKey = tuple[str, str]
"""(pipeline, job id)."""


def default_cores() -> int:
    """The core budget: ``$PACHLET_CORES`` when set to a positive integer, else the core count."""
    raw = os.environ.get(CORES_ENV, "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return os.cpu_count() or 1


class CoreBudget:
    """Cores shared by the datums of every running job: a datum's process holds one while it runs.

    A freed core goes to the waiting datum of the highest ``priority``, first come first served among
    equals. Jobs give the longest chain of pipelines through theirs (``PipelineRegistry.chain_lengths``),
    so the datums of the DAG's longest chain (the churn train branch, whose model the score branch's
    predict waits for) go first, and a shorter branch fills the cores that chain leaves idle. pachd leaves the order undefined (its
    pipelines' workers are pods Kubernetes schedules)."""

    def __init__(self, cores: int) -> None:
        self.cores = max(1, cores)
        self._cond = threading.Condition()
        self._free = self.cores
        self._waiting: list[tuple[int, int]] = []  # a heap of (-priority, arrival)
        self._arrivals = itertools.count()

    @property
    def waiting(self) -> int:
        """How many datums wait for a core."""
        with self._cond:
            return len(self._waiting)

    @contextmanager
    def core(self, priority: int = 0) -> Iterator[None]:
        """Hold one core for the duration of the block (waiting behind higher priorities)."""
        entry = (-priority, next(self._arrivals))
        with self._cond:
            heapq.heappush(self._waiting, entry)
            try:
                while not (self._free > 0 and self._waiting[0] == entry):
                    self._cond.wait()
            except BaseException:
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)
                self._cond.notify_all()
                raise
            heapq.heappop(self._waiting)
            self._free -= 1
            self._cond.notify_all()  # the next waiter may take a core still free
        try:
            yield
        finally:
            with self._cond:
                self._free += 1
                self._cond.notify_all()


@dataclass(frozen=True)
class Follow:
    """How a long-lived caller (``pachlet serve``) keeps one run going while it serves clients: jobs
    queued during the run start too (checked when a job ends, on ``JobScheduler.poke`` and at least
    every ``poll`` seconds); no new job starts while ``hold`` returns True (the run then ends once the
    running jobs did); ``on_end`` is called with each ended job, from its thread."""

    poll: float
    hold: Callable[[], bool]
    on_end: Callable[[JobInfo], None]


class JobScheduler:
    """Starts every runnable job (one per pipeline at a time) and waits for them, in one call.

    Job threads come from one long-lived pool (each thread keeps its SQLite connection), sized for
    the core budget: jobs mostly wait for cores, so a few more jobs than cores can be in flight."""

    def __init__(self, jobs: JobRegistry, pfs: PFS, budget: CoreBudget) -> None:
        self.jobs = jobs
        self.pfs = pfs
        self.budget = budget
        self.max_jobs = max(4, 2 * budget.cores)
        self._pool: ThreadPoolExecutor | None = None
        self._current: threading.Condition | None = None

    def poke(self) -> None:
        """Something changed (a new commit or job): a following run re-checks what can start now."""
        cond = self._current
        if cond is not None:
            with cond:
                cond.notify_all()

    def pool(self) -> ThreadPoolExecutor:
        """The job threads (created on first use)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.max_jobs, thread_name_prefix="pachlet-job")
        return self._pool

    def runnable(self, running: set[JobKey]) -> list[Job]:
        """Jobs that can start now besides ``running``, oldest first: one per pipeline (JOB_EGRESSING
        ones resume their egress), whose output commit's parent and input commits are
        finished and whose input commits' jobs are not running."""
        busy = {p for p, _ in running}
        ready: list[Job] = []
        for job in self.jobs.pending():
            if job.pipeline in busy or (job.pipeline, job.id) in running:
                continue
            busy.add(job.pipeline)  # its later jobs wait for this one, runnable or not
            if job.state == JOB_EGRESSING:
                ready.append(job)
                continue
            if job.state != JOB_CREATED or not self._inputs_ready(job, running):
                continue
            ready.append(job)
        return ready

    def _inputs_ready(self, job: Job, running: set[JobKey]) -> bool:
        out = self.pfs.find_commit(job.pipeline, job.id)
        if out is None:
            return False
        if out.parent is not None:
            parent = self.pfs.find_commit(job.pipeline, out.parent)
            if parent is not None and parent.finished is None:
                return False
        for repo, _branch, commit in out.provenance:
            if (repo, commit) in running:
                return False  # its job is still egressing (the commit is finished before the egress)
            f = self.pfs.find_commit(repo, commit)
            if f is not None and f.finished is None:
                return False
            if f is not None and f.origin == ORIGIN_AUTO:
                upstream = self.jobs.get(repo, commit)
                if upstream is not None and upstream.state == JOB_EGRESSING:
                    return False
        return True

    def run(
        self,
        run_job: Callable[[Job], JobInfo | None],
        stop: threading.Event,
        *,
        limit: int | None,
        follow: Follow | None = None,
    ) -> list[JobInfo]:
        """Start runnable jobs as they become ready until none is left, ``limit`` started, or a job
        was interrupted by a stop request (then the running ones end and nothing new starts). Returns
        the ended jobs in the order they started. With ``follow``, see ``Follow``."""
        done = threading.Condition()
        running: dict[JobKey, Future[JobInfo | None]] = {}
        order: list[JobKey] = []
        results: dict[JobKey, JobInfo | None] = {}
        halted = False

        def finished(key: JobKey, fut: Future[JobInfo | None]) -> None:
            info = fut.result()
            if follow is not None and info is not None:
                follow.on_end(info)
            with done:
                results[key] = info
                running.pop(key, None)
                done.notify_all()

        def may_start() -> bool:
            if halted or stop.is_set() or (limit is not None and len(order) >= limit):
                return False
            return follow is None or not follow.hold()

        with done:
            self._current = done
            try:
                while True:
                    if may_start():
                        for job in self.runnable(set(running)):
                            if len(running) >= self.max_jobs or (limit is not None and len(order) >= limit):
                                break
                            key = (job.pipeline, job.id)
                            order.append(key)
                            fut = self.pool().submit(run_job, job)
                            running[key] = fut
                            fut.add_done_callback(lambda f, k=key: finished(k, f))
                    if not running:
                        break
                    done.wait(None if follow is None else follow.poll)
                    halted = halted or any(results.get(k, 0) is None for k in order)
            finally:
                self._current = None
        return [r for k in order if (r := results.get(k)) is not None]
