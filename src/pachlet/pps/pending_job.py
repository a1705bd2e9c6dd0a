"""Running one job (pachd's ``pending_job.go``): resolve its inputs, compute its datums, skip what the
last successful job already did, run the rest, and commit the output in one transaction; then, for a
pipeline with an egress, hand the finished output commit to the injected egress hook.

A job that fails finishes its output commit with ``error`` set and the *parent's* file tree: the failed
job's partial output is never visible, and downstream jobs become unrunnable. A process killed mid-job
leaves the job queued, resumed by the next run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import shutil
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pachlet.durations import duration_seconds
from pachlet.errors import PachletError
from pachlet.pfs.driver import PFS
from pachlet.pps.datum_log import private_dir, write_master_line
from pachlet.pps.datums import CommitFiles, Datum, FileInfo, compute_datums
from pachlet.pps.jobs import Job, JobRegistry
from pachlet.pps.pipelines import PipelineRegistry
from pachlet.pps.running import JobStop, running_job
from pachlet.pps.skipping import DatumSkipper
from pachlet.pps.worker import DatumResult, JobContext, run_datums
from pachlet.projects import path_segment, split
from pachlet.records import (
    DATUM_FAILED,
    DATUM_RECOVERED,
    DATUM_SKIPPED,
    DATUM_SUCCESS,
    JOB_CREATED,
    JOB_EGRESSING,
    JOB_FAILURE,
    JOB_KILLED,
    JOB_RUNNING,
    JOB_SUCCESS,
    JOB_TERMINAL_STATES,
    JOB_UNRUNNABLE,
    CommitInfo,
    FileRecord,
    JobInfo,
    PipelineInfo,
)
from pachlet.runtimes import Runtime, RuntimeSettings, needs_network, select_runtime
from pachlet.secrets import Secrets
from pachlet.store import Store
from pachlet.timeutil import now_ts

ProgressCallback = Callable[[JobInfo, int, int], None]
"""``progress(job_info, done, total)``: called as a job's datums complete (done counts skipped ones)."""


class EgressSource:
    """What the egress hook reads a job's output through: files of a commit, secret values, jobs."""

    def __init__(self, pfs: PFS, secrets: Secrets, jobs: JobRegistry) -> None:
        self._pfs = pfs
        self._secrets = secrets
        self._jobs = jobs

    def inspect_job(self, pipeline: str, job_id: str) -> JobInfo:
        """One job; ``NotFoundError`` if absent."""
        return self._jobs.require(pipeline, job_id).info()

    def walk_files(self, repo: str, ref: str = "master", path: str = "/") -> list[FileRecord]:
        """Every file at or below ``path`` of ``repo@ref``."""
        return self._pfs.walk_files(repo, ref, path)

    def file_object_path(self, repo: str, ref: str, path: str) -> Path:
        """The read-only object-store path of a file."""
        return self._pfs.file_object_path(repo, ref, path)

    def secret_value(self, name: str, key: str) -> str:
        """One value of a secret."""
        return self._secrets.value(name, key)


EgressHook = Callable[[EgressSource, PipelineInfo, JobInfo, CommitInfo], Any]
"""``run_egress(source, pipeline_info, job_info, commit)``; raising fails the job with its message."""

EgressPrepare = Callable[[Mapping[str, Any]], None]
"""Called with a queued job's ``egress`` spec before jobs run: may get the egress driver ready (in the
background; it must return at once and never raise)."""


def clear_scratch(store: Store, gid: str, pipeline: str) -> None:
    """Remove a job's scratch root."""
    shutil.rmtree(store.scratch / gid / path_segment(pipeline), ignore_errors=True)
    with contextlib.suppress(OSError):
        (store.scratch / gid).rmdir()


class JobRunner:
    """Runs single jobs of one root."""

    def __init__(
        self,
        store: Store,
        pfs: PFS,
        jobs: JobRegistry,
        pipelines: PipelineRegistry,
        secrets: Secrets,
        stop: threading.Event,
        egress_hook: EgressHook | None,
        runtime: str | None = None,
        *,
        cores: int | None = None,
        core: Callable[[int], contextlib.AbstractContextManager[None]] = lambda _priority: (
            contextlib.nullcontext()
        ),
    ) -> None:
        self.runtime_name = runtime
        self.cores = cores or os.cpu_count() or 1  # parallelismSpec is capped at the core budget
        self.core = core  # one core of the budget all running jobs' datums share, by priority
        self._runtime: tuple[Runtime, RuntimeSettings] | None = None
        self.store = store
        self.pfs = pfs
        self.jobs = jobs
        self.pipelines = pipelines
        self.secrets = secrets
        self.stop = stop
        self.egress_hook = egress_hook

    # ------------------------------------------------------------------ ending jobs
    def finish_unsuccessful(self, job: Job, state: str, reason: str) -> JobInfo:
        """End a job without output: its commit gets the parent's tree and the error (an egressing job's
        too, as when its egress fails: pachd finishes the output commit only after the egress). A job
        already ended (e.g. killed meanwhile) is left as it is."""
        with self.store.tx():
            current = self.jobs.require(job.pipeline, job.id)
            if current.state in JOB_TERMINAL_STATES:
                return current.info()
            out = self.pfs.find_commit(job.pipeline, job.id)
            if out is not None:
                tree = self.pfs.commit_file_tree(job.pipeline, out.parent) if out.parent else {}
                self.pfs.finish_output_commit(job.pipeline, job.id, tree, error=reason)
            self.jobs.update(job, state=state, reason=reason, finished=now_ts(), owner_pid=None)
        self.master_log(job, state, reason)
        return self.jobs.require(job.pipeline, job.id).info()

    def master_log(self, job: Job, state: str, reason: str) -> None:
        """The line pachd's worker master logs when a job ends (registry.go)."""
        message = {
            JOB_SUCCESS: "job successful, closing commits",
            JOB_FAILURE: f"failing job with reason: {reason}",
            JOB_UNRUNNABLE: f"marking job unrunnable with reason: {reason}",
            JOB_KILLED: f"killing job with reason: {reason}",
        }.get(state)
        if message is not None and not self.store.read_only:
            write_master_line(self.store.logs, job.pipeline, job.id, message)

    def ended(self, job: Job) -> Job | None:
        """The job's current row if it ended meanwhile (stop job, delete job, stop pipeline), else None."""
        current = self.jobs.get(job.pipeline, job.id)
        if current is None:  # deleted (delete job stops it first)
            return dataclasses.replace(job, state=JOB_KILLED, reason="job deleted", owner_pid=None)
        return current if current.state in JOB_TERMINAL_STATES else None

    # ------------------------------------------------------------------ running
    def runtime(self) -> tuple[Runtime, RuntimeSettings]:
        """The root's runtime (``pachlet.runtimes.config``: option, env, root setting, auto), chosen once."""
        if self._runtime is None:
            self._runtime = select_runtime(self.runtime_name, self.store.root)
        return self._runtime

    def forget_runtime(self) -> None:
        """Choose the runtime again at the next job (the root's settings changed)."""
        self._runtime = None

    def _resolver(self, prov: Mapping[tuple[str, str], str]) -> Callable[[str, str], CommitFiles | None]:
        def resolve(repo: str, branch: str) -> CommitFiles | None:
            self.pfs.inspect_repo(repo)
            cid = prov.get((repo, branch))
            return None if cid is None else commit_files(self.pfs, repo, branch, cid)

        return resolve

    def run(self, job: Job, progress: ProgressCallback | None) -> JobInfo | None:
        """Run one job to its end (None when a stop request interrupted it: it stays queued)."""
        pipeline, gid = job.pipeline, job.id
        spec, salt = self.pipelines.version(pipeline, job.pipeline_version)
        if job.state == JOB_EGRESSING:
            return self.egress(job, spec)
        with self.store.tx():
            done = self.ended(job)
            if done is not None:
                return done.info()
            self.jobs.update(job, state=JOB_RUNNING, started=job.started or now_ts(), owner_pid=os.getpid())
            failed = self.jobs.failed_inputs(job)
            out = self.pfs.find_commit(pipeline, gid)
            prov = {(r, b): cid for r, b, cid in out.provenance} if out is not None else {}
            parent_job = self.jobs.parent_job(pipeline, out.parent if out is not None else None)
        if failed:
            return self.finish_unsuccessful(
                job,
                JOB_UNRUNNABLE,
                f"unrunnable because the following upstream pipelines failed: {', '.join(failed)}",
            )
        try:
            datums = list(compute_datums(spec.get("input"), pipeline, self._resolver(prov)))
            ctx = self.job_context(pipeline, gid, spec)
        except PachletError as exc:
            return self.finish_unsuccessful(job, JOB_FAILURE, str(exc))
        self.jobs.update(job, runtime=ctx.runtime.name)
        skipper = DatumSkipper(self.store, pipeline, parent_job, spec)
        total = len(datums)
        hashes = [d.hash(salt) for d in datums]
        results, to_run = skipper.partition(datums, hashes)
        self.jobs.update(job, total=total, skipped=len(results))

        def report() -> None:
            if progress is not None:
                progress(self.jobs.require(pipeline, gid).info(), len(results), total)

        report()
        project, bare_name = split(pipeline)  # worker_rc.go: PPS_PIPELINE_NAME and PPS_PROJECT_NAME
        env_common = {
            "PACH_JOB_ID": gid,
            "PACH_OUTPUT_COMMIT_ID": gid,
            "PPS_PIPELINE_NAME": bare_name,
            "PPS_PROJECT_NAME": project,
        }
        with running_job(ctx.log_dir, to_run) as killed:
            ctx.stop = JobStop(self.stop, killed)
            if self.ended(job) is not None:  # stopped before it was registered
                killed.set()
            if ctx.transform.get("datumBatching"):
                # the worker API pulls in grpc and python-pachyderm's protos: only for batching jobs
                from pachlet.pps.batching import run_batched

                run_batched(ctx, to_run, results, env_common, report)
            else:
                run_datums(ctx, to_run, results, env_common, report)
        done = self.ended(job)
        if done is not None:  # killed meanwhile: nothing of it is committed
            clear_scratch(self.store, gid, pipeline)
            return done.info()
        if self.stop.is_set() and len(results) < total:
            self.jobs.update(job, state=JOB_CREATED, owner_pid=None)
            return None
        return self.commit(job, spec, datums, hashes, results, skipper)

    def job_context(self, pipeline: str, job_id: str, spec: dict[str, Any]) -> JobContext:
        """What every datum of the job shares: env, secrets, tries, timeout, log and scratch dirs."""
        transform = dict(spec.get("transform") or {})
        env: dict[str, str] = {}  # the worker's: the runtime adds what stands for the image's ENV
        for k, v in (transform.get("env") or {}).items():
            env[str(k)] = str(v)
        secret_values: list[str] = []
        secret_files: dict[str, bytes] = {}
        mount_paths: list[str] = []
        for s in transform.get("secrets") or []:
            sname = s.get("name") or s.get("secretName") or ""
            values = self.secrets.values(sname)
            secret_values.extend(values.values())
            if s.get("envVar"):
                key = s.get("key") or ""
                if key not in values:
                    raise PachletError(
                        f"secret {sname} has no key {key!r} (transform.secrets, pipeline {pipeline})"
                    )
                env[s["envVar"]] = values[key]
            if s.get("mountPath"):
                mp = s["mountPath"].rstrip("/") or "/"
                mount_paths.append(mp)
                for k, v in values.items():
                    secret_files[f"{mp}/{k}"] = v.encode()
        runtime, settings = self.runtime()
        par = spec.get("parallelismSpec") or {}
        tries = int(spec.get("datumTries") or 3)
        accept = frozenset(int(x) for x in (transform.get("acceptReturnCode") or []))
        log_dir = self.store.logs / path_segment(pipeline) / job_id
        if log_dir.exists():
            shutil.rmtree(log_dir, ignore_errors=True)
        private_dir(log_dir, top=self.store.logs)  # logs/, logs/<pipeline>/, logs/<pipeline>/<job>/: 0700
        scratch = self.store.scratch / job_id / path_segment(pipeline)
        scratch.mkdir(parents=True, exist_ok=True)
        return JobContext(
            pipeline=pipeline,
            job_id=job_id,
            transform=transform,
            base_env=env,
            secret_files=secret_files,
            secret_values=[v for v in secret_values if len(v) >= 4],
            tries=max(tries, 1),
            timeout=duration_seconds(spec.get("datumTimeout")),
            accept=accept,
            store=self.store,
            log_dir=log_dir,
            scratch_dir=scratch,
            stop=self.stop,
            mount_paths=mount_paths,
            parallelism=max(1, min(int(par.get("constant") or 1), self.cores)),
            runtime=runtime,
            needs_network=needs_network(spec, frozenset(settings.network)),
            core=functools.partial(self.core, self.pipelines.chain_lengths().get(pipeline, 0)),
        )

    def commit(
        self,
        job: Job,
        spec: dict[str, Any],
        datums: list[Datum],
        hashes: list[str],
        results: dict[str, DatumResult],
        skipper: DatumSkipper,
    ) -> JobInfo:
        """Write the job's datums, outputs, output commit and final state in one transaction."""
        pipeline, gid = job.pipeline, job.id
        states = [results[d.id].state for d in datums]
        tree, reason = skipper.merge(datums, results)
        datum_rows = []
        output_rows = []
        for idx, (d, h) in enumerate(zip(datums, hashes, strict=True)):
            r = results[d.id]
            inputs = [
                [
                    inp.repo,
                    inp.commit_id,
                    inp.path,
                    inp.content_hash().decode(),
                    sum(f.size for f in inp.files),
                    inp.branch,
                    inp.name,
                ]
                for inp in d.inputs
            ]
            datum_rows.append(
                (
                    pipeline,
                    gid,
                    d.id,
                    idx,
                    r.state,
                    h,
                    json.dumps(inputs),
                    r.duration,
                    r.logs_path,
                    r.attempts,
                    r.reason,
                )
            )
            if r.state in (DATUM_SUCCESS, DATUM_SKIPPED):
                output_rows.extend((pipeline, gid, d.id, p, oh, s) for p, oh, s in r.outputs)
        counts = dict(
            processed=states.count(DATUM_SUCCESS),
            skipped=states.count(DATUM_SKIPPED),
            failed=states.count(DATUM_FAILED),
            recovered=states.count(DATUM_RECOVERED),
            total=len(datums),
            upload_bytes=sum(r.upload_bytes for r in results.values()),
            download_bytes=sum(r.download_bytes for r in results.values()),
        )
        with self.store.tx() as c:
            done = self.ended(job)
            if done is not None:  # killed between its last datum and here
                clear_scratch(self.store, gid, pipeline)
                return done.info()
            c.execute("DELETE FROM datums WHERE pipeline=? AND job_id=?", (pipeline, gid))
            c.execute("DELETE FROM datum_outputs WHERE pipeline=? AND job_id=?", (pipeline, gid))
            c.executemany("INSERT INTO datums VALUES(?,?,?,?,?,?,?,?,?,?,?)", datum_rows)
            c.executemany("INSERT OR REPLACE INTO datum_outputs VALUES(?,?,?,?,?,?)", output_rows)
            if reason:
                out = self.pfs.find_commit(pipeline, gid)
                parent = out.parent if out is not None else None
                parent_tree = self.pfs.commit_file_tree(pipeline, parent) if parent else {}
                self.pfs.finish_output_commit(pipeline, gid, parent_tree, error=reason)
                self.jobs.update(
                    job, state=JOB_FAILURE, reason=reason, finished=now_ts(), owner_pid=None, **counts
                )
                self.master_log(job, JOB_FAILURE, reason)
            else:
                self.pfs.finish_output_commit(pipeline, gid, tree)
                state = JOB_EGRESSING if spec.get("egress") else JOB_SUCCESS
                fin = None if spec.get("egress") else now_ts()
                self.jobs.update(job, state=state, finished=fin, **counts)
                if state == JOB_SUCCESS:
                    self.master_log(job, JOB_SUCCESS, "")
        clear_scratch(self.store, gid, pipeline)
        if not reason and spec.get("egress"):
            return self.egress(self.jobs.require(pipeline, gid), spec)
        return self.jobs.require(pipeline, gid).info()

    def egress(self, job: Job, spec: dict[str, Any]) -> JobInfo:
        """Run the egress hook on a finished output commit (job in JOB_EGRESSING)."""
        pipeline, gid = job.pipeline, job.id
        self.jobs.update(job, owner_pid=os.getpid())
        reason = ""
        if self.egress_hook is not None:
            try:
                self.egress_hook(
                    EgressSource(self.pfs, self.secrets, self.jobs),
                    self.pipelines.inspect(pipeline),
                    self.jobs.require(pipeline, gid).info(),
                    self.pfs.inspect_commit(pipeline, gid),
                )
            except Exception as exc:  # the egress's message becomes the job's reason
                reason = str(exc) or type(exc).__name__
        with self.store.tx():
            done = self.ended(job)
            if done is not None:  # killed while egressing
                return done.info()
            if reason:
                # pachd finishes the output commit only once its egress succeeded (registry.go
                # processJobEgressing -> succeedJob); a job that fails finishes it with the error
                # (ppsutil.FinishJob). So readers never see the output the tables do not hold: the commit
                # keeps its parent's tree (what the tables still hold), as any failed job's does.
                out = self.pfs.find_commit(pipeline, gid)
                parent = out.parent if out is not None else None
                parent_tree = self.pfs.commit_file_tree(pipeline, parent) if parent else {}
                self.pfs.finish_output_commit(pipeline, gid, parent_tree, error=reason)
                self.jobs.update(job, state=JOB_FAILURE, reason=reason, finished=now_ts(), owner_pid=None)
            else:
                self.jobs.update(job, state=JOB_SUCCESS, finished=now_ts(), owner_pid=None)
        self.master_log(job, JOB_FAILURE if reason else JOB_SUCCESS, reason)
        return self.jobs.require(pipeline, gid).info()


def commit_files(pfs: PFS, repo: str, branch: str, commit_id: str) -> CommitFiles:
    """A finished commit's files as the datum computation sees them."""
    tree = pfs.commit_file_tree(repo, commit_id)
    files = tuple(FileInfo(p, h, s) for p, (h, s) in sorted(tree.items()))
    return CommitFiles(repo, branch, commit_id, files)
