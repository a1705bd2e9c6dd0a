"""PPS: pipelines, jobs and their execution, with Pachyderm 2.x semantics, for one root.

- A finished commit on a branch some pipeline reads queues a job for that pipeline and for every pipeline
  downstream of it, all in the commit's global ID: each job gets an open AUTO output commit
  ``<pipeline>@<global id>`` on its output branch, whose provenance is the input commits it will read
  (the commit of the same global ID where there is one, else the branch's latest commit).
- Every job whose input commits are finished runs, side by side with the others (``scheduler``: one
  job per pipeline at a time, in creation order; the datums of all running jobs share one core
  budget); a job whose input commit carries an error is JOB_UNRUNNABLE ("unrunnable because the
  following upstream pipelines failed: ...", as pachd says).

The parts: ``pipelines`` (CRUD), ``jobs`` (Job record, state machine, registry), ``pending_job`` (one
job), ``scheduler`` (which jobs run now, the core budget), ``worker`` (datum tasks), ``skipping`` (skip and merge), ``cron``, ``fsck``. PPS reaches PFS only
through ``PFS``'s public methods; the egress is a hook injected by the caller.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from pachlet.errors import NotFoundError, PachletError, SpecError
from pachlet.pfs.driver import PFS
from pachlet.pps import datum_records
from pachlet.pps import fsck as pps_fsck
from pachlet.pps.cron import Cron
from pachlet.pps.datum_log import end_orphans, scrub_job_logs
from pachlet.pps.datums import CommitFiles, Datum, compute_datums
from pachlet.pps.jobs import Job, JobRegistry
from pachlet.pps.pending_job import EgressHook, JobRunner, ProgressCallback, clear_scratch, commit_files
from pachlet.pps.pipelines import PipelineRegistry, input_branches, output_branch
from pachlet.pps.scheduler import CoreBudget, JobScheduler, default_cores
from pachlet.records import (
    JOB_FAILURE,
    JOB_KILLED,
    ORIGIN_AUTO,
    CommitInfo,
    CronTick,
    DatumRecord,
    FsckReport,
    JobInfo,
    LogLine,
    PipelineInfo,
)
from pachlet.secrets import Secrets
from pachlet.spec import normalize_spec, pipeline_name, visit_inputs
from pachlet.store import Store, new_id


class PPS:
    """The pipeline system of one root."""

    def __init__(
        self, store: Store, pfs: PFS, *, egress_hook: EgressHook | None = None, runtime: str | None = None
    ) -> None:
        self.store = store
        self.pfs = pfs
        self.secrets = Secrets(store)
        self.run_lock = threading.Lock()
        self.stop = threading.Event()
        self.pipelines = PipelineRegistry(store, pfs)
        self.jobs = JobRegistry(store, pfs)
        self.budget = CoreBudget(default_cores())
        self.runner = JobRunner(
            store,
            pfs,
            self.jobs,
            self.pipelines,
            self.secrets,
            self.stop,
            egress_hook,
            runtime,
            cores=self.budget.cores,
            core=self.budget.core,
        )
        self.scheduler = JobScheduler(self.jobs, pfs, self.budget)
        self.cron = Cron(store, pfs, self.pipelines, self.on_commits_finished)

    # ------------------------------------------------------------------ pipelines
    def create_pipeline(
        self, spec: Mapping[str, Any], *, update: bool, reprocess: bool, source: str | None
    ) -> PipelineInfo:
        """See ``Pachlet.create_pipeline``."""
        self._check_secrets(normalize_spec(dict(spec), source=source), source)
        with self.store.tx():
            gid = new_id()
            norm = self.pipelines.create(spec, update=update, reprocess=reprocess, source=source, gid=gid)
            self._create_jobs(gid, [norm["pipeline"]["name"]])
        return self.pipelines.inspect(norm["pipeline"]["name"])

    def _check_secrets(self, norm: Mapping[str, Any], source: str | None) -> None:
        """api_server.go ``validateSecret`` (run before anything is created): every secret the
        transform names must exist ("missing Kubernetes secret <name>")."""
        name = pipeline_name(norm)
        for i, secret in enumerate((norm.get("transform") or {}).get("secrets") or []):
            field = f"transform.secrets[{i}]"
            if secret.get("envVar") and not secret.get("key"):
                raise SpecError(
                    f"secret {secret.get('name', '')} has env_var set but is missing key",
                    pipeline=name,
                    field=f"{field}.key",
                    source=source,
                )
            try:
                self.secrets.inspect(secret.get("name") or "")
            except NotFoundError:
                raise SpecError(
                    f"missing Kubernetes secret {secret.get('name') or ''}",
                    pipeline=name,
                    field=f"{field}.name",
                    source=source,
                ) from None

    def list_pipelines(self) -> list[PipelineInfo]:
        """Every pipeline, newest first."""
        return self.pipelines.list()

    def inspect_pipeline(self, name: str) -> PipelineInfo:
        """One pipeline."""
        return self.pipelines.inspect(name)

    def delete_pipeline(self, name: str, *, force: bool, keep_repo: bool) -> None:
        """See ``Pachlet.delete_pipeline``."""
        self.pipelines.delete(name, force=force, keep_repo=keep_repo)

    def check_repo_deletable(self, name: str, *, force: bool) -> None:
        """Refuse to delete a pipeline's output repo or a repo a pipeline reads (unless ``force``)."""
        self.pipelines.check_repo_deletable(name, force=force)

    # ------------------------------------------------------------------ triggering
    def on_commits_finished(self, commits: Sequence[CommitInfo]) -> None:
        """Queue jobs (and their output commits) for every pipeline reading the finished commits'
        branches, and for everything downstream, in each commit's global ID."""
        by_gid: dict[str, set[tuple[str, str]]] = {}
        for ci in commits:
            by_gid.setdefault(ci.id, set()).add((ci.repo, ci.branch))
        with self.store.tx():
            specs = self.pipelines.specs()
            if not specs:
                return
            for gid, branches in by_gid.items():
                seeds = [n for n, s in specs.items() if branches & set(input_branches(n, s))]
                if seeds:
                    self._create_jobs(gid, seeds, specs)

    def _create_jobs(
        self, gid: str, seeds: Sequence[str], specs: dict[str, dict[str, Any]] | None = None
    ) -> None:
        specs = specs if specs is not None else self.pipelines.specs()
        inputs = {n: input_branches(n, s) for n, s in specs.items()}
        self.jobs.create_jobs(gid, seeds, specs, inputs, output_branch)

    # ------------------------------------------------------------------ jobs and datums
    def list_jobs(self, pipeline: str | None, global_id: str | None) -> list[JobInfo]:
        """Jobs, newest first."""
        return [j.info() for j in self.jobs.list(pipeline, global_id)]

    def inspect_job(self, pipeline: str, job_id: str) -> JobInfo:
        """One job."""
        return self.jobs.require(pipeline, job_id).info()

    def pending_jobs(self) -> list[JobInfo]:
        """Non-terminal jobs, oldest first."""
        return [j.info() for j in self.jobs.pending()]

    def list_datums(self, pipeline: str, job_id: str) -> list[DatumRecord]:
        """A job's datums in order."""
        self.jobs.require(pipeline, job_id)
        return datum_records.list_datums(self.store, pipeline, job_id)

    def inspect_datum(self, pipeline: str, job_id: str, datum_id: str) -> DatumRecord:
        """One datum."""
        rec = datum_records.find_datum(self.store, pipeline, job_id, datum_id)
        if rec is None:
            self.jobs.require(pipeline, job_id)
            raise datum_records.not_found(pipeline, job_id, datum_id)
        return rec

    def logs(self, pipeline: str, job_id: str | None, datum_id: str | None) -> list[LogLine]:
        """Datum log lines: every job of the pipeline (oldest first) unless ``job_id``."""
        self.pipelines.inspect(pipeline)
        if job_id is not None:
            self.jobs.require(pipeline, job_id)
        return datum_records.log_lines(self.store, pipeline, job_id, datum_id)

    def datums_for_spec(self, spec: Mapping[str, Any]) -> list[Datum]:
        """See ``Pachlet.datums_for_spec``: datums over each input branch's latest finished commit.

        As api_server.go ``listDatumInput``: every pfs input's branch must exist (``repo X not found``,
        ``branch "B" not found in repo X``) and a cron input is refused ("can't list datums with a cron
        input, there will be no datums until the pipeline is created")."""
        norm = normalize_spec(dict(spec))
        for item in visit_inputs(norm.get("input"), root_last=True):
            pfs = item.node.get("pfs")
            if isinstance(pfs, Mapping):
                repo, branch = pfs.get("repo") or "", pfs.get("branch") or "master"
                if branch not in {b.name for b in self.pfs.list_branches(repo)}:
                    raise NotFoundError(f'branch "{branch}" not found in repo {repo}')
            if item.node.get("cron") is not None:
                raise PachletError(
                    "can't list datums with a cron input, there will be no datums until the pipeline is created"
                )

        def resolve(repo: str, branch: str) -> CommitFiles | None:
            cid = self.pfs.latest_finished(repo, branch)
            return None if cid is None else commit_files(self.pfs, repo, branch, cid)

        return list(compute_datums(norm.get("input"), norm["pipeline"]["name"], resolve))

    # ------------------------------------------------------------------ running jobs
    def request_stop(self) -> None:
        """Stop after the in-flight datums."""
        self.stop.set()

    def process_pending(self, progress: ProgressCallback | None, *, limit: int | None) -> list[JobInfo]:
        """Run runnable jobs, side by side as they become ready, until none is left (or ``limit``
        started); returns the ended jobs in the order they started."""
        if self.store.read_only:
            raise PachletError("cannot run jobs: the pachlet root is open read-only")
        with self.run_lock:
            self.stop.clear()
            self._requeue_interrupted()
            report = _serialized(progress)
            return self.scheduler.run(lambda job: self._run_job(job, report), self.stop, limit=limit)

    def _run_job(self, job: Job, progress: ProgressCallback | None) -> JobInfo | None:
        """One job in its own thread (None: a stop request interrupted it, it stays queued)."""
        try:
            return self.runner.run(job, progress)
        except Exception as exc:  # a bug or an environment failure must not wedge the queue
            return self.runner.finish_unsuccessful(
                self.jobs.require(job.pipeline, job.id),
                JOB_FAILURE,
                f"pachlet could not run the job: {type(exc).__name__}: {exc}",
            )

    def _requeue_interrupted(self) -> None:
        def on_requeue(job: Job) -> None:
            clear_scratch(self.store, job.id, job.pipeline)
            end_orphans(job.pipeline, job.id)
            scrub_job_logs(self.store.logs, self.secrets, job.pipeline, job.id, fix=True)

        self.jobs.requeue_interrupted(on_requeue)

    def interrupted_jobs(self) -> list[JobInfo]:
        """Jobs some process was running (an owner pid is set)."""
        return [j.info() for j in self.jobs.interrupted()]

    def kill_interrupted(self, job: JobInfo, reason: str) -> None:
        """Mark an interrupted job KILLED and finish its output commit with the error."""
        self.runner.finish_unsuccessful(self.jobs.require(job.pipeline, job.id), JOB_KILLED, reason)

    def wait_commit(self, repo: str, ref: str, *, timeout: float | None) -> CommitInfo:
        """Run pending jobs (unless another thread is), then wait for the commit to finish."""
        deadline = None if timeout is None else time.monotonic() + timeout
        info = self.pfs.inspect_commit(repo, ref)
        while info.finished is None:
            if not self.store.read_only and self.run_lock.acquire(blocking=False):
                self.run_lock.release()
                self.process_pending(None, limit=None)
                info = self.pfs.inspect_commit(repo, info.id)
                if info.finished is not None:
                    break
                if info.origin != ORIGIN_AUTO and deadline is None:
                    raise PachletError(f"commit {repo}@{info.id} is open and nothing will finish it")
            if deadline is not None and time.monotonic() >= deadline:
                raise PachletError(f"timed out waiting for commit {repo}@{info.id} to finish")
            time.sleep(0.05)
            info = self.pfs.inspect_commit(repo, info.id)
        return info

    # ------------------------------------------------------------------ cron
    def run_cron(self, pipeline: str, *, now: datetime | None) -> str:
        """Tick every cron input of a pipeline in one new global ID."""
        return self.cron.run_cron(pipeline, now=now)

    def due_cron_ticks(self, now: datetime | None, *, limit: int) -> list[CronTick]:
        """Ticks owed at ``now``, oldest first."""
        return self.cron.due_cron_ticks(now, limit=limit)

    def apply_cron_ticks(self, ticks: Sequence[CronTick]) -> list[str]:
        """Write ticks, one global ID each."""
        return self.cron.apply_cron_ticks(ticks)

    # ------------------------------------------------------------------ fsck
    def fsck(self, *, fix: bool) -> FsckReport:
        """Check (and with ``fix`` repair) the root: PPS's jobs, then PFS, then PPS's scratch; no job
        runs meanwhile (its fresh objects would look like orphans)."""
        report = FsckReport()
        writer = not self.store.read_only
        fix = fix and writer
        with self.run_lock if writer else nullcontext():
            pps_fsck.check_interrupted_logs(
                self.store, self.secrets, self.jobs, report, fix=fix, writer=writer
            )
            pps_fsck.check_jobs(self.jobs, report, fix=fix, writer=writer, requeue=self._requeue_interrupted)
            self.pfs.fsck(report, fix=fix, also_referenced=pps_fsck.referenced_objects(self.store))
            pps_fsck.check_outputs_and_scratch(self.store, self.pfs, self.jobs, report, fix=fix)
        return report


def _serialized(progress: ProgressCallback | None) -> ProgressCallback | None:
    """``progress`` called by one job thread at a time."""
    if progress is None:
        return None
    lock = threading.Lock()

    def report(info: JobInfo, done: int, total: int) -> None:
        with lock:
            progress(info, done, total)

    return report
