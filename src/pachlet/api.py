"""The pachlet facade: the one object the CLI, the gRPC server, the console, the egress and churn call.

``Pachlet(root)`` owns a pachlet root (``PACHLET_ROOT``, default ``./.pachlet``): an SQLite database
(``pachlet.db``), a content-addressed object store (``objects/``), per-datum scratch roots (``scratch/``)
and datum logs (``logs/``). Methods mirror pachctl's verbs. Refs (``ref`` arguments) are a branch name
or a commit ID (= global ID); ``repo@ref`` parsing is the caller's job.

Mutating calls (put file, finish commit, create pipeline, run cron) only *queue* jobs; ``run_until_idle``
runs them (the CLI calls it after every mutating command, the way a cluster eventually would).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from pachlet.api_pfs import FileData as FileData  # re-exported
from pachlet.api_pfs import PFSCalls
from pachlet.errors import PachletError
from pachlet.lock import DEFAULT_LOCK_TIMEOUT as DEFAULT_LOCK_TIMEOUT  # re-exported (30 s)
from pachlet.lock import RootLock, lock_timeout
from pachlet.pfs.driver import PFS
from pachlet.pps.datums import Datum
from pachlet.pps.log_follow import LogFollower
from pachlet.pps.pending_job import EgressSource, ProgressCallback
from pachlet.pps.scheduler import Follow
from pachlet.pps.service import PPS
from pachlet.pps.spout import SpoutSupervisor
from pachlet.records import (
    CommitInfo,
    CronTick,
    DatumRecord,
    FsckReport,
    JobInfo,
    LogLine,
    PipelineInfo,
    SecretInfo,
)
from pachlet.runtimes import RuntimeSettings, load_settings, save_settings
from pachlet.secrets import SecretManifest
from pachlet.store import Store, global_id_scope


def run_egress_hook(
    source: EgressSource, pipeline_info: PipelineInfo, job_info: JobInfo, commit: CommitInfo
) -> Any:
    """The egress hook the facade gives PPS: ``pachlet.egress.run_egress``, imported when first needed
    (the egress stack pulls in pandas, pyarrow and the warehouse drivers)."""
    from pachlet.egress import run_egress

    return run_egress(source, pipeline_info, job_info, commit)


_PREPARED: set[str] = set()
_PREPARED_LOCK = threading.Lock()


def prepare_egress_hook(egress: Mapping[str, Any]) -> None:
    """The egress-prepare hook the facade gives PPS: import the egress stack and its driver (pandas,
    pyarrow, the warehouse connector: about a second) in a background thread, once per process and URL
    scheme, so a queued job's egress does not pay it after its datums."""
    sql = egress.get("sqlDatabase") or egress.get("sql_database") or {}
    scheme = str(sql.get("url") or "").partition(":")[0]
    if not scheme:
        return
    with _PREPARED_LOCK:
        if scheme in _PREPARED:
            return
        _PREPARED.add(scheme)

    def prepare() -> None:
        from pachlet.egress import prepare_driver

        with contextlib.suppress(Exception):  # the egress itself reports any problem
            prepare_driver(sql)

    threading.Thread(target=prepare, name=f"egress-prepare-{scheme}", daemon=True).start()


def default_root() -> Path:
    """The root from ``PACHLET_ROOT``, else ``./.pachlet``."""
    return Path(os.environ.get("PACHLET_ROOT") or ".pachlet")


class Pachlet(PFSCalls):
    """A pachlet root opened for use (its repo, branch, commit, file and project calls come from
    ``pachlet.api_pfs.PFSCalls``).

    With ``read_only=False`` (the default) the process takes the root lock (``root/lock``; holder in
    ``root/lock.info``) for as long as the object is open: a second writer waits up to ``timeout``
    seconds (default: ``$PACHLET_LOCK_TIMEOUT``, else 30; ``pachlet.lock.lock_timeout``) and then raises ``LockTimeoutError`` naming the holder's pid and command. With
    ``read_only=True`` no lock is taken (SQLite WAL gives a consistent snapshot per call) and every
    mutating method raises ``PachletError``. The object is thread-safe: reads run concurrently, writes
    are serialized, and one thread at a time runs jobs.

    ``runtime`` (``host``, ``sandbox``, ``container`` or ``auto``) chooses where datums run, over
    ``PACHLET_RUNTIME`` and the root's ``runtime.json`` (``pachlet.runtimes.config``).
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        timeout: float | None = None,
        read_only: bool = False,
        runtime: str | None = None,
    ) -> None:
        self.root = (Path(root) if root is not None else default_root()).absolute()
        self.read_only = read_only
        self._lock: RootLock | None = None
        if not read_only:
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock = RootLock(self.root)
            self._lock.acquire(lock_timeout(timeout))
        try:
            self._store = Store(self.root, read_only=read_only)
            self._pfs = PFS(self._store)
            self._pps = PPS(
                self._store,
                self._pfs,
                egress_hook=run_egress_hook,
                egress_prepare=prepare_egress_hook,
                runtime=runtime,
            )
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        self._closed = False
        self._close_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    @contextmanager
    def open(
        cls,
        root: str | os.PathLike[str] | None = None,
        *,
        timeout: float | None = None,
        read_only: bool = False,
        runtime: str | None = None,
    ) -> Iterator[Pachlet]:
        """Open a root for the duration of a ``with`` block (lock held throughout unless read-only)."""
        p = cls(root, timeout=timeout, read_only=read_only, runtime=runtime)
        try:
            yield p
        finally:
            p.close()

    def close(self) -> None:
        """Release the root lock and the database connections. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._pps.request_stop()
            self._store.close()
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> Pachlet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ pipelines
    def create_pipeline(
        self,
        spec: Mapping[str, Any],
        *,
        update: bool = False,
        reprocess: bool = False,
        source: str | None = None,
    ) -> PipelineInfo:
        """Create (or with ``update``, update) a pipeline from a spec dict (camelCase or snake_case;
        normalized and validated by ``pachlet.spec``; ``source`` names the file in errors). Creates the
        output repo (and cron repos) and queues a job over the current input data in a new global ID.
        ``update`` keeps the salt (so unchanged datums are skipped) unless ``reprocess``."""
        return self._pps.create_pipeline(spec, update=update, reprocess=reprocess, source=source)

    def list_pipelines(self) -> list[PipelineInfo]:
        """Every pipeline, newest first."""
        return self._pps.list_pipelines()

    def inspect_pipeline(self, name: str) -> PipelineInfo:
        """One pipeline; ``NotFoundError`` if absent."""
        return self._pps.inspect_pipeline(name)

    def delete_pipeline(self, name: str, *, force: bool = False, keep_repo: bool = False) -> None:
        """Delete a pipeline, its jobs, its cron repos and (unless ``keep_repo``) its output repo.
        Refused while another pipeline reads its output, unless ``force``."""
        self._pps.delete_pipeline(name, force=force, keep_repo=keep_repo)

    def run_cron(self, pipeline: str, *, now: datetime | None = None) -> str:
        """Tick every cron input of ``pipeline`` at ``now`` (default: the current time), honouring
        ``overwrite``, all in one new global ID, which is returned. Jobs are queued, not run."""
        return self._pps.run_cron(pipeline, now=now)

    def due_cron_ticks(self, now: datetime | None = None, *, limit: int = 1000) -> list[CronTick]:
        """Ticks owed at ``now`` by every cron input (catch-up from the later of its last tick and its
        ``start``, or the pipeline's creation), oldest first. The server's scheduler applies them with
        ``apply_cron_ticks``."""
        return self._pps.due_cron_ticks(now, limit=limit)

    def apply_cron_ticks(self, ticks: Sequence[CronTick]) -> list[str]:
        """Write the given ticks (one global ID per tick), queueing jobs; returns the global IDs."""
        return self._pps.apply_cron_ticks(ticks)

    # ------------------------------------------------------------------ jobs and datums
    def list_jobs(self, pipeline: str | None = None, global_id: str | None = None) -> list[JobInfo]:
        """Jobs, newest first, filtered by pipeline and/or global ID."""
        return self._pps.list_jobs(pipeline, global_id)

    def inspect_job(self, pipeline: str, job_id: str) -> JobInfo:
        """One job; ``NotFoundError`` if absent."""
        return self._pps.inspect_job(pipeline, job_id)

    def list_datums(self, pipeline: str, job_id: str) -> list[DatumRecord]:
        """The datums of a job in Pachyderm's order, with state, hash, inputs and timing."""
        return self._pps.list_datums(pipeline, job_id)

    def inspect_datum(self, pipeline: str, job_id: str, datum_id: str) -> DatumRecord:
        """One datum of a job; ``NotFoundError`` if absent."""
        return self._pps.inspect_datum(pipeline, job_id, datum_id)

    def datums_for_spec(self, spec: Mapping[str, Any]) -> list[Datum]:
        """The datums (``pachlet.pps.datums.Datum``) a spec's input would produce now, without running or
        creating anything. The spec is normalized first (not validated against existing pipelines)."""
        return self._pps.datums_for_spec(spec)

    def logs(self, pipeline: str, job_id: str | None = None, datum_id: str | None = None) -> list[LogLine]:
        """Datum output lines (stdout and stderr) of a pipeline: every job, oldest first, unless
        ``job_id``; optionally one datum. Secret values are replaced by ``[REDACTED]``."""
        return self._pps.logs(pipeline, job_id, datum_id)

    def follow_logs(
        self, pipeline: str, job_id: str | None = None, datum_id: str | None = None, *, master: bool = False
    ) -> LogFollower:
        """A reader of log lines as they are written (``poll()`` returns the new ones): datum output, or
        with ``master`` the lines pachd's worker master logs about the pipeline's jobs."""
        return self._pps.log_follower(pipeline, job_id, datum_id, master=master)

    def log_filter(self, pipeline: str, data_filters: Sequence[str]) -> Callable[[LogLine], bool]:
        """A predicate keeping the log lines of datums whose inputs match every filter (an input path or
        hash, as pachd's ``GetLogs`` ``data_filters``)."""
        return self._pps.log_filter(pipeline, data_filters)

    # ------------------------------------------------------------------ lifecycle
    def stop_pipeline(self, name: str) -> None:
        """Stop a pipeline (PIPELINE_PAUSED): it starts no job, its unfinished jobs are killed."""
        self._pps.stop_pipeline(name)

    def start_pipeline(self, name: str) -> str | None:
        """Restart a stopped pipeline: a job in a new global ID reads its inputs' latest commits; returns
        that ID (None if the pipeline was not stopped)."""
        return self._pps.start_pipeline(name)

    def stop_job(self, pipeline: str, job_id: str, reason: str = "") -> JobInfo:
        """Kill a job (JOB_KILLED; its output commit finished with the error); ended jobs stay as they are."""
        return self._pps.stop_job(pipeline, job_id, reason)

    def delete_job(self, pipeline: str, job_id: str) -> None:
        """Stop a job and forget it (its output commit stays)."""
        self._pps.delete_job(pipeline, job_id)

    def restart_datum(self, pipeline: str, job_id: str, data_filters: Sequence[str]) -> list[str]:
        """End the current attempt of the job's running datums matching the filters (they are retried)."""
        return self._pps.restart_datum(pipeline, job_id, data_filters)

    # ------------------------------------------------------------------ engine
    def process_pending(
        self,
        progress: ProgressCallback | None = None,
        *,
        limit: int | None = None,
        follow: Follow | None = None,
    ) -> list[JobInfo]:
        """Run queued jobs in dependency order (at most ``limit`` jobs); returns the jobs that ended.
        ``follow`` keeps the run going for a server (``pachlet.pps.scheduler.Follow``)."""
        return self._pps.process_pending(progress, limit=limit, follow=follow)

    def poke_jobs(self) -> None:
        """Something changed: a ``process_pending(follow=...)`` in another thread re-checks what can start."""
        self._pps.scheduler.poke()

    def run_until_idle(self, progress: ProgressCallback | None = None) -> list[JobInfo]:
        """Run every queued job, including the downstream jobs they trigger; returns the jobs that ended."""
        return self._pps.process_pending(progress, limit=None)

    # ------------------------------------------------------------------ runtime
    def runtime_settings(self) -> RuntimeSettings:
        """The root's runtime settings (``runtime.json``; defaults when absent)."""
        return load_settings(self.root)

    def set_runtime_settings(self, settings: RuntimeSettings) -> None:
        """Replace the root's runtime settings (used by jobs that start after this call)."""
        if self.read_only:
            raise PachletError(f"pachlet root {self.root} is open read-only")
        save_settings(self.root, settings)
        self._pps.runner.forget_runtime()

    def pending_jobs(self) -> list[JobInfo]:
        """Jobs not yet in a terminal state, oldest first."""
        return self._pps.pending_jobs()

    def spout_supervisor(self, pachd_address: str) -> SpoutSupervisor:
        """What runs the spouts' user code for a server reachable at ``pachd_address`` (``pachlet serve``'s
        scheduler calls its ``sync`` each round and ``stop`` at the end; see ``pachlet.pps.spout``)."""
        return self._pps.spout_supervisor(pachd_address)

    def request_stop(self) -> None:
        """Ask a running ``run_until_idle`` (another thread) to stop after its in-flight datums; the
        interrupted job stays queued and resumes on the next run."""
        self._pps.request_stop()

    # ------------------------------------------------------------------ secrets
    def create_secret(self, manifest: Mapping[str, Any] | SecretManifest) -> SecretInfo:
        """Store a Kubernetes Secret manifest (``data`` base64, ``stringData`` plain; both merged).
        Replaces a secret of the same name. Values are kept under the root and never printed."""
        return self._pps.secrets.create(manifest)

    def list_secrets(self) -> list[SecretInfo]:
        """Every secret's metadata (no values)."""
        return self._pps.secrets.list()

    def inspect_secret(self, name: str) -> SecretInfo:
        """One secret's metadata; ``NotFoundError`` if absent."""
        return self._pps.secrets.inspect(name)

    def delete_secret(self, name: str) -> None:
        """Delete a secret; ``NotFoundError`` if absent."""
        self._pps.secrets.delete(name)

    def secret_value(self, name: str, key: str) -> str:
        """One value of a secret (for the egress); ``NotFoundError`` naming secret and key."""
        return self._pps.secrets.value(name, key)

    # ------------------------------------------------------------------ maintenance
    def fsck(self, *, fix: bool = False) -> FsckReport:
        """Check the store: objects missing or corrupt, orphan objects and temp files, staged files of
        finished commits, open commits and running jobs left by dead processes. With ``fix``: remove
        orphans, abandon dead open commits (their jobs become KILLED) and clear stale scratch dirs."""
        return self._pps.fsck(fix=fix)

    def mount(self, target: str | os.PathLike[str], repos: Sequence[str] | None = None) -> list[Path]:
        """Materialize repos read-only under ``target/<repo>/`` by hard links (copies across devices).
        ``repos`` entries are ``repo`` or ``repo@ref`` (default: every repo at ``master``). Replaces
        what an earlier mount put there; returns the directories written."""
        return self._pfs.mount(Path(target), repos)

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def atomically(self, global_id: str | None = None) -> Iterator[sqlite3.Connection]:
        """Run several facade calls as one store transaction: all of them apply or none does (an
        exception, or a crash, rolls every one back); new commits and jobs take ``global_id``. Yields
        the connection (``pachlet.transactions`` keeps its pending transactions in it)."""
        with self._store.tx() as c, global_id_scope(global_id):
            yield c

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A consistent read of the store across several queries (read-only roots too)."""
        with self._store.snapshot() as c:
            yield c
