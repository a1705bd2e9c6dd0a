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
job), ``scheduler`` (which jobs run now, the core
budget), ``worker`` (datum tasks), ``running`` (the datums running now: stop job, restart datum),
``log_follow`` (logs as they are written, master logs), ``skipping`` (skip and merge), ``cron``,
``fsck``. PPS reaches PFS only through ``PFS``'s public methods; the egress is a hook injected by the
caller. A stopped pipeline (``stop_pipeline``) gets no job until ``start_pipeline``.
"""

from __future__ import annotations

import functools
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from pachlet.errors import NotFoundError, PachletError, SpecError
from pachlet.pfs.driver import PFS
from pachlet.pps import datum_records, running
from pachlet.pps import fsck as pps_fsck
from pachlet.pps.cron import Cron
from pachlet.pps.datum_log import end_orphans, scrub_job_logs
from pachlet.pps.datums import CommitFiles, Datum, compute_datums
from pachlet.pps.jobs import Job, JobRegistry
from pachlet.pps.log_follow import LogFollower
from pachlet.pps.pending_job import (
    EgressHook,
    EgressPrepare,
    JobRunner,
    ProgressCallback,
    clear_scratch,
    commit_files,
)
from pachlet.pps.pipelines import PipelineRegistry, input_branches, output_branch
from pachlet.pps.scheduler import CoreBudget, Follow, JobScheduler, default_cores
from pachlet.pps.spout import SpoutSupervisor, empty_output_head
from pachlet.projects import internal_spec, path_segment
from pachlet.records import (
    JOB_FAILURE,
    JOB_KILLED,
    JOB_TERMINAL_STATES,
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
        self,
        store: Store,
        pfs: PFS,
        *,
        egress_hook: EgressHook | None = None,
        egress_prepare: EgressPrepare | None = None,
        runtime: str | None = None,
    ) -> None:
        self.store = store
        self.egress_prepare = egress_prepare
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
            if norm.get("input") is not None and norm.get("spout") is None:
                self._create_jobs(gid, [norm["pipeline"]["name"]])
            else:  # a spout or a pipeline without input: no job (see pachlet.pps.spout)
                empty_output_head(self.pfs, norm, gid)
        return self.pipelines.inspect(norm["pipeline"]["name"])

    def spout_supervisor(self, pachd_address: str) -> SpoutSupervisor:
        """What keeps the spouts' user code running for a server at ``pachd_address`` (``host:port``)."""
        return SpoutSupervisor(self.pipelines, self.runner, pachd_address)

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
        """A stopped pipeline gets no job, nor does what is downstream of it only: pachd's StopPipeline
        removes its output branch's provenance, so no commit reaches it or its subvenance."""
        specs = specs if specs is not None else self.pipelines.specs()
        stopped = self.pipelines.stopped()
        if stopped:
            specs = {n: s for n, s in specs.items() if n not in stopped}
            seeds = [n for n in seeds if n not in stopped]
            if not seeds:
                return
        inputs = {n: input_branches(n, s) for n, s in specs.items()}
        self.jobs.create_jobs(gid, seeds, specs, inputs, output_branch)

    # ------------------------------------------------------------------ lifecycle
    def stop_pipeline(self, name: str) -> None:
        """api_server.go ``StopPipeline``: the pipeline starts no job until ``start_pipeline`` (its state
        is PIPELINE_PAUSED) and its unfinished jobs are killed ("all jobs killed because pipeline was
        stopped for user <user>"; without auth pachd names ``unknown_username``). A pipeline that does not
        exist is no error (pachd only kills whatever jobs of that name are left: none here)."""
        if not self.pipelines.exists(name):
            return
        with self.store.tx():
            self.pipelines.set_stopped(name, True)
            reason = "all jobs killed because pipeline was stopped for user unknown_username"
            for job in self.jobs.list(name, None)[::-1]:
                if job.state not in JOB_TERMINAL_STATES:
                    self.stop_job(name, job.id, reason)

    def start_pipeline(self, name: str) -> str | None:
        """api_server.go ``StartPipeline``: restoring the output branch's provenance adds a commit to it
        (pfs ``createBranch``: the provenance changed), so a job in a new global ID runs over the inputs'
        latest commits (what arrived while it was stopped). Returns that ID (None: it was not stopped)."""
        with self.store.tx():
            if not self.pipelines.set_stopped(name, False):
                return None
            gid = new_id()
            self._create_jobs(gid, [name])
        return gid

    def stop_job(self, pipeline: str, job_id: str, reason: str = "") -> JobInfo:
        """api_server.go ``stopJob``: the job becomes JOB_KILLED with ``reason`` (default "job stopped")
        and its output commit is finished with that error and its parent's files (nothing of the job is
        written); a job already ended is left as it is. Its running datums' processes are ended."""
        reason = reason or "job stopped"
        job = self.jobs.require(pipeline, job_id)
        if job.state not in JOB_TERMINAL_STATES:
            self.runner.finish_unsuccessful(job, JOB_KILLED, reason)
        running.kill_job(self.store.logs / path_segment(pipeline) / job_id)
        return self.jobs.require(pipeline, job_id).info()

    def delete_job(self, pipeline: str, job_id: str) -> None:
        """api_server.go ``DeleteJob``: stop it ("job deleted"), then forget it (its datums and logs
        too); its output commit stays, finished."""
        self.stop_job(pipeline, job_id, "job deleted")
        with self.store.tx() as c:
            for table, col in (("jobs", "id"), ("datums", "job_id"), ("datum_outputs", "job_id")):
                c.execute(f"DELETE FROM {table} WHERE pipeline=? AND {col}=?", (pipeline, job_id))
        shutil.rmtree(self.store.logs / path_segment(pipeline) / job_id, ignore_errors=True)

    def restart_datum(self, pipeline: str, job_id: str, data_filters: Sequence[str]) -> list[str]:
        """api_server.go ``RestartDatum`` (worker ``Cancel``): end the current attempt of the job's running
        datums whose inputs match every filter (a path, or a hash); they are retried as any failed attempt
        is. Returns their IDs (none running: nothing happens)."""
        self.jobs.require(pipeline, job_id)
        return running.restart_datums(self.store.logs / path_segment(pipeline) / job_id, list(data_filters))

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
        """Datum log lines: every job of the pipeline (oldest first) unless ``job_id``. A job with no datum
        rows yet (running) or ever (killed) gives the lines its datums wrote so far, as pachd does."""
        self.pipelines.inspect(pipeline)
        if job_id is not None:
            self.jobs.require(pipeline, job_id)
        by_job: dict[str, list[LogLine]] = {}
        for line in datum_records.log_lines(self.store, pipeline, job_id, datum_id):
            by_job.setdefault(line.job_id, []).append(line)
        ids = [job_id] if job_id is not None else [j.id for j in reversed(self.jobs.list(pipeline, None))]
        c = self.store.conn()
        out: list[LogLine] = []
        for jid in ids:
            if jid in by_job:
                out += by_job[jid]
            elif (
                c.execute(
                    "SELECT 1 FROM datums WHERE pipeline=? AND job_id=? LIMIT 1", (pipeline, jid)
                ).fetchone()
                is None
            ):
                out += LogFollower(self.store.logs, self.jobs, pipeline, jid, datum_id, master=False).poll()
        return out

    def log_filter(self, pipeline: str, data_filters: Sequence[str]) -> Callable[[LogLine], bool]:
        """api_server.go ``GetLogs`` ``data_filters``: keep a line when its datum's inputs match every
        filter (``common.MatchDatum``: an input path or hash; pachlet also accepts the datum ID)."""
        filters = [f for f in data_filters if f]
        seen: dict[tuple[str, str], bool] = {}

        def inputs(job_id: str, datum_id: str) -> list[tuple[str, str]]:
            rec = datum_records.find_datum(self.store, pipeline, job_id, datum_id)
            if rec is not None:
                return [(i.path, i.hash) for i in rec.inputs]
            datum = running.datum_of(self.store.logs / path_segment(pipeline) / job_id, datum_id)
            return running.datum_inputs(datum) if datum is not None else []

        def keep(line: LogLine) -> bool:
            key = (line.job_id, line.datum_id)
            if key not in seen:
                seen[key] = running.match_inputs(filters, line.datum_id, inputs(*key))
            return seen[key]

        return keep

    def log_follower(
        self, pipeline: str, job_id: str | None, datum_id: str | None, *, master: bool
    ) -> LogFollower:
        """A reader of the pipeline's (or job's) log lines as they are written; ``master``: its master log."""
        self.pipelines.inspect(pipeline)
        if job_id is not None:
            self.jobs.require(pipeline, job_id)
        return LogFollower(self.store.logs, self.jobs, pipeline, job_id, datum_id, master=master)

    def datums_for_spec(self, spec: Mapping[str, Any]) -> list[Datum]:
        """See ``Pachlet.datums_for_spec``: datums over each input branch's latest finished commit.

        As api_server.go ``listDatumInput``: every pfs input's branch must exist (``repo X not found``,
        ``branch "B" not found in repo X``) and a cron input is refused ("can't list datums with a cron
        input, there will be no datums until the pipeline is created")."""
        norm = internal_spec(normalize_spec(dict(spec)))
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

        return list(compute_datums(norm.get("input"), pipeline_name(norm) or "", resolve))

    # ------------------------------------------------------------------ running jobs
    def request_stop(self) -> None:
        """Stop after the in-flight datums."""
        self.stop.set()

    def process_pending(
        self, progress: ProgressCallback | None, *, limit: int | None, follow: Follow | None = None
    ) -> list[JobInfo]:
        """Run runnable jobs, side by side as they become ready, until none is left (or ``limit``
        started); returns the ended jobs in the order they started. ``follow``: see ``Follow``."""
        if self.store.read_only:
            raise PachletError("cannot run jobs: the pachlet root is open read-only")
        with self.run_lock:
            self.stop.clear()
            self._requeue_interrupted()
            self._prepare()
            report = _serialized(progress)
            return self.scheduler.run(
                lambda job: self._run_job(job, report), self.stop, limit=limit, follow=follow
            )

    def _prepare(self) -> None:
        """Get ready, in the background, what queued jobs will import once they run: the batching
        worker API (grpc, python-pachyderm's protos) and each egress's driver, while upstream jobs run."""
        pending = {job.pipeline for job in self.jobs.pending()}
        specs = [spec for name, spec in self.pipelines.specs().items() if name in pending]
        if any((spec.get("transform") or {}).get("datumBatching") for spec in specs):
            prepare_batching()
        for spec in specs:
            if spec.get("egress") and self.egress_prepare is not None:
                self.egress_prepare(spec["egress"])

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
        stopped = self.pipelines.stopped()  # pachd's cron monitor is down while a pipeline is paused
        return [t for t in self.cron.due_cron_ticks(now, limit=limit) if t.pipeline not in stopped]

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


@functools.cache
def prepare_batching() -> None:
    """Import ``pachlet.pps.batching`` in a background thread (about 0.3 s), once per process."""

    def load() -> None:
        import pachlet.pps.batching  # noqa: F401

    threading.Thread(target=load, name="batching-prepare", daemon=True).start()


def _serialized(progress: ProgressCallback | None) -> ProgressCallback | None:
    """``progress`` called by one job thread at a time."""
    if progress is None:
        return None
    lock = threading.Lock()

    def report(info: JobInfo, done: int, total: int) -> None:
        with lock:
            progress(info, done, total)

    return report
