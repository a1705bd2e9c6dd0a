"""PPS: pipelines, jobs and their execution, with Pachyderm 2.x semantics.

- A finished commit on a branch some pipeline reads queues a job for that pipeline and for every pipeline
  downstream of it, all in the commit's global ID: each job gets an open AUTO output commit
  ``<pipeline>@<global id>`` on its output branch, whose provenance is the input commits it will read
  (the commit of the same global ID where there is one, else the branch's latest commit).
- Jobs run one at a time in creation order, once every input commit is finished; a job whose input
  commit carries an error is JOB_UNRUNNABLE ("unrunnable because the following upstream pipelines
  failed: ...", as pachd says).
- A job's datums come from ``pachlet.datums``; a datum whose hash matches a successful datum of the last
  successful job of the pipeline is SKIPPED and its output carried over. The output commit is the union
  of every current datum's output (so outputs of removed or changed datums disappear); two datums writing
  one path fail the job with pachd's "duplicate path output by different datums (...)" message.
- A job that fails finishes its output commit with ``error`` set and the *parent's* file tree: the failed
  job's partial output is never visible, and downstream jobs become unrunnable.
- Everything a job produces (datums, outputs, the output commit, the job's final state) is written in one
  SQLite transaction; a process killed mid-job leaves the job queued, resumed by the next run.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pachlet.errors import AlreadyExistsError, NotFoundError, PachletError
from pachlet.pfs import PFS, find_collision
from pachlet.records import (
    DATUM_FAILED,
    DATUM_RECOVERED,
    DATUM_SKIPPED,
    DATUM_SUCCESS,
    JOB_CREATED,
    JOB_EGRESSING,
    JOB_FAILURE,
    JOB_FINISHING,
    JOB_KILLED,
    JOB_RUNNING,
    JOB_STARTING,
    JOB_SUCCESS,
    JOB_UNRUNNABLE,
    ORIGIN_AUTO,
    PIPELINE_RUNNING,
    CommitInfo,
    CronTick,
    DatumInputRecord,
    DatumRecord,
    JobInfo,
    LogLine,
    PipelineInfo,
)
from pachlet.runner import DatumResult, JobContext, parse_duration, run_datum
from pachlet.secrets import Secrets
from pachlet.store import Store, new_id, now_ts, to_dt, to_ts

if TYPE_CHECKING:
    from pachlet.api import Pachlet

ProgressCallback = Callable[[JobInfo, int, int], None]
ACTIVE_STATES = (JOB_STARTING, JOB_RUNNING, JOB_FINISHING, JOB_EGRESSING)


def _spec() -> Any:
    return importlib.import_module("pachlet.spec")


def _datums() -> Any:
    return importlib.import_module("pachlet.datums")


def _cronspec() -> Any:
    return importlib.import_module("pachlet.cronspec")


def _parse_time(value: Any) -> datetime | None:
    """An RFC3339 string or a protobuf Timestamp dict as an aware datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, dict):
        return datetime.fromtimestamp(float(value.get("seconds", 0)) + value.get("nanos", 0) / 1e9, UTC)
    text = str(value).replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class Engine:
    """The pipeline system of one root."""

    def __init__(self, pachlet: Pachlet, store: Store, pfs: PFS) -> None:
        self.pachlet = pachlet
        self.store = store
        self.pfs = pfs
        self.secrets = Secrets(store)
        self.run_lock = threading.Lock()
        self._stop = threading.Event()

    # ------------------------------------------------------------------ pipelines
    def _pipeline_rows(self, c: Any) -> dict[str, dict[str, Any]]:
        return {r["name"]: json.loads(r["spec"]) for r in c.execute("SELECT name, spec FROM pipelines")}

    @staticmethod
    def _output_branch(spec: Mapping[str, Any]) -> str:
        return spec.get("outputBranch") or "master"

    def _cron_inputs(self, spec: Mapping[str, Any]) -> list[dict[str, Any]]:
        return list(_spec().cron_inputs(dict(spec)))

    def _cron_repo(self, pipeline: str, cin: Mapping[str, Any]) -> str:
        return cin.get("repo") or f"{pipeline}_{cin['name']}"

    def _input_branches(self, name: str, spec: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(repo, branch) pairs a pipeline reads, cron repos included, without duplicates."""
        seen: list[tuple[str, str]] = []
        for _n, repo, branch in _spec().input_repos(spec.get("input") or {}, name):
            if (repo, branch or "master") not in seen:
                seen.append((repo, branch or "master"))
        for cin in self._cron_inputs(spec):
            pair = (self._cron_repo(name, cin), "master")
            if pair not in seen:
                seen.append(pair)
        return seen

    def create_pipeline(
        self, spec: Mapping[str, Any], *, update: bool, reprocess: bool, source: str | None
    ) -> PipelineInfo:
        """See ``Pachlet.create_pipeline``."""
        specmod = _spec()
        norm = specmod.normalize_spec(dict(spec), source=source)
        name = norm["pipeline"]["name"]
        with self.store.tx() as c:
            existing = c.execute("SELECT * FROM pipelines WHERE name=?", (name,)).fetchone()
            if existing is not None and not update:
                raise AlreadyExistsError(f"pipeline {name} already exists (use update pipeline)")
            repo = c.execute("SELECT * FROM repos WHERE name=?", (name,)).fetchone()
            if existing is None and repo is not None and repo["pipeline"] != name:
                raise AlreadyExistsError(
                    f"cannot create pipeline {name}: repo {name} already exists (the output repo takes "
                    "the pipeline's name)"
                )
            others = {n: s for n, s in self._pipeline_rows(c).items() if n != name}
            own_repos = {name} | {self._cron_repo(name, ci) for ci in self._cron_inputs(norm)}
            known = {r[0] for r in c.execute("SELECT name FROM repos")} - own_repos
            specmod.validate_spec(norm, known_repos=known, pipelines=others)
            ts = now_ts()
            if existing is None:
                version, salt, created = 1, new_id(), ts
            else:
                version = existing["version"] + 1
                salt = new_id() if reprocess else existing["salt"]
                created = existing["created"]
            norm.setdefault("salt", salt)
            norm["salt"] = salt
            blob = json.dumps(norm, sort_keys=True)
            c.execute(
                "INSERT OR REPLACE INTO pipelines(name, spec, version, salt, state, created, updated)"
                " VALUES(?,?,?,?,?,?,?)",
                (name, blob, version, salt, PIPELINE_RUNNING, created, ts if existing is not None else None),
            )
            c.execute(
                "INSERT OR REPLACE INTO pipeline_versions(name, version, spec, salt, created) VALUES(?,?,?,?,?)",
                (name, version, blob, salt, ts),
            )
            if repo is None:
                self.pfs.create_repo(name, f"Output repo for pipeline {name}.", pipeline=name, kind="output")
            prov = self._input_branches(name, norm)
            self.pfs.set_branch(c, name, self._output_branch(norm), None, provenance=prov, move=False)
            for cin in self._cron_inputs(norm):
                crepo = self._cron_repo(name, cin)
                if c.execute("SELECT 1 FROM repos WHERE name=?", (crepo,)).fetchone() is None:
                    self.pfs.create_repo(
                        crepo, f"Cron tick repo for pipeline {name}.", pipeline=name, kind="cron"
                    )
            self._create_jobs(c, new_id(), [name])
        return self.inspect_pipeline(name)

    def _pipeline_info(self, c: Any, row: Any) -> PipelineInfo:
        spec = json.loads(row["spec"])
        last = c.execute(
            "SELECT id, state FROM jobs WHERE pipeline=? ORDER BY seq DESC LIMIT 1", (row["name"],)
        ).fetchone()
        return PipelineInfo(
            name=row["name"],
            spec=spec,
            version=row["version"],
            salt=row["salt"],
            state=row["state"],
            created=to_dt(row["created"]),  # type: ignore[arg-type]
            updated=to_dt(row["updated"]),
            last_job_state=last["state"] if last else None,
            last_job_id=last["id"] if last else None,
            output_repo=row["name"],
            description=spec.get("description") or "",
        )

    def list_pipelines(self) -> list[PipelineInfo]:
        """Every pipeline, newest first."""
        with self.store.snapshot() as c:
            rows = c.execute("SELECT * FROM pipelines ORDER BY created DESC, name").fetchall()
            return [self._pipeline_info(c, r) for r in rows]

    def inspect_pipeline(self, name: str) -> PipelineInfo:
        """One pipeline."""
        with self.store.snapshot() as c:
            row = c.execute("SELECT * FROM pipelines WHERE name=?", (name,)).fetchone()
            if row is None:
                raise NotFoundError(f"pipeline {name} not found")
            return self._pipeline_info(c, row)

    def _readers_of(self, c: Any, repo: str) -> list[str]:
        return sorted(
            n for n, s in self._pipeline_rows(c).items() if repo in {r for r, _ in self._input_branches(n, s)}
        )

    def check_repo_deletable(self, name: str, *, force: bool) -> None:
        """Refuse to delete a pipeline's output repo or a repo a pipeline reads (unless ``force``)."""
        if force:
            return
        c = self.store.conn()
        row = c.execute("SELECT * FROM repos WHERE name=?", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"repo {name} not found")
        if (
            row["pipeline"]
            and c.execute("SELECT 1 FROM pipelines WHERE name=?", (row["pipeline"],)).fetchone()
        ):
            raise PachletError(
                f"cannot delete repo {name}: it belongs to pipeline {row['pipeline']} (delete the pipeline)"
            )
        readers = self._readers_of(c, name)
        if readers:
            raise PachletError(
                f"cannot delete repo {name}: pipeline(s) {', '.join(readers)} read it (use --force)"
            )

    def delete_pipeline(self, name: str, *, force: bool, keep_repo: bool) -> None:
        """See ``Pachlet.delete_pipeline``."""
        with self.store.tx() as c:
            row = c.execute("SELECT * FROM pipelines WHERE name=?", (name,)).fetchone()
            if row is None:
                raise NotFoundError(f"pipeline {name} not found")
            readers = [r for r in self._readers_of(c, name) if r != name]
            if readers and not force:
                raise PachletError(
                    f"cannot delete pipeline {name}: pipeline(s) {', '.join(readers)} read its output (use --force)"
                )
            spec = json.loads(row["spec"])
            for table in ("jobs", "datums", "datum_outputs", "cron_ticks"):
                c.execute(f"DELETE FROM {table} WHERE pipeline=?", (name,))
            c.execute("DELETE FROM pipelines WHERE name=?", (name,))
            c.execute("DELETE FROM pipeline_versions WHERE name=?", (name,))
            for cin in self._cron_inputs(spec):
                crepo = self._cron_repo(name, cin)
                if c.execute("SELECT 1 FROM repos WHERE name=?", (crepo,)).fetchone():
                    self.pfs.delete_repo(crepo)
            if keep_repo:
                for r in c.execute(
                    "SELECT id FROM commits WHERE repo=? AND finished IS NULL", (name,)
                ).fetchall():
                    self.pfs._abandon(c, name, r[0])
                c.execute("UPDATE repos SET pipeline=NULL, kind='user' WHERE name=?", (name,))
            elif c.execute("SELECT 1 FROM repos WHERE name=?", (name,)).fetchone():
                self.pfs.delete_repo(name)
        shutil.rmtree(self.store.logs / name, ignore_errors=True)

    # ------------------------------------------------------------------ triggering
    def on_commits_finished(self, commits: Sequence[CommitInfo]) -> None:
        """Queue jobs (and their output commits) for every pipeline reading the finished commits'
        branches, and for everything downstream, in each commit's global ID."""
        by_gid: dict[str, set[tuple[str, str]]] = {}
        for ci in commits:
            by_gid.setdefault(ci.id, set()).add((ci.repo, ci.branch))
        with self.store.tx() as c:
            specs = self._pipeline_rows(c)
            if not specs:
                return
            for gid, branches in by_gid.items():
                seeds = [n for n, s in specs.items() if branches & set(self._input_branches(n, s))]
                if seeds:
                    self._create_jobs(c, gid, seeds, specs)

    def _create_jobs(
        self, c: Any, gid: str, seeds: Sequence[str], specs: dict[str, dict[str, Any]] | None = None
    ) -> None:
        specs = specs if specs is not None else self._pipeline_rows(c)
        inputs = {n: self._input_branches(n, s) for n, s in specs.items()}
        closure = set(seeds)
        grew = True
        while grew:
            grew = False
            for n in specs:
                if n not in closure and any(r in closure for r, _ in inputs[n]):
                    closure.add(n)
                    grew = True
        # topological order (upstream first); ties by name for determinism
        order: list[str] = []
        pending = set(closure)
        while pending:
            ready = sorted(n for n in pending if not any(r in pending and r != n for r, _ in inputs[n]))
            if not ready:  # a cycle (validation forbids it); run the rest in name order
                ready = sorted(pending)
            for n in ready:
                order.append(n)
                pending.discard(n)
        ts = now_ts()
        for name in order:
            if c.execute("SELECT 1 FROM jobs WHERE pipeline=? AND id=?", (name, gid)).fetchone():
                continue
            prov: list[tuple[str, str, str]] = []
            for repo, branch in inputs[name]:
                cid = self._input_commit(c, repo, branch, gid)
                if cid is not None:
                    prov.append((repo, branch, cid))
            out_branch = self._output_branch(specs[name])
            b = c.execute("SELECT head FROM branches WHERE repo=? AND name=?", (name, out_branch)).fetchone()
            parent = b[0] if b else None
            self.pfs.insert_commit(
                c, name, out_branch, gid, origin=ORIGIN_AUTO, parent=parent, provenance=prov
            )
            version = c.execute("SELECT version FROM pipelines WHERE name=?", (name,)).fetchone()[0]
            c.execute(
                "INSERT INTO jobs(pipeline, id, state, created, pipeline_version) VALUES(?,?,?,?,?)",
                (name, gid, JOB_CREATED, ts, version),
            )

    def _input_commit(self, c: Any, repo: str, branch: str, gid: str) -> str | None:
        """The commit a job of global ID ``gid`` reads from ``repo@branch``: the commit of the same
        global ID if any, else the branch head (an open AUTO head is waited for; an open USER head is
        passed over for its latest finished ancestor)."""
        row = c.execute("SELECT id, branch FROM commits WHERE repo=? AND id=?", (repo, gid)).fetchone()
        if row is not None and row["branch"] == branch:
            return gid
        b = c.execute("SELECT head FROM branches WHERE repo=? AND name=?", (repo, branch)).fetchone()
        cid = b[0] if b else None
        while cid is not None:
            r = c.execute(
                "SELECT parent, finished, origin FROM commits WHERE repo=? AND id=?", (repo, cid)
            ).fetchone()
            if r is None:
                return None
            if r["finished"] is not None or r["origin"] == ORIGIN_AUTO:
                return cid
            cid = r["parent"]
        return None

    # ------------------------------------------------------------------ jobs: queries
    @staticmethod
    def _job_info(row: Any) -> JobInfo:
        return JobInfo(
            pipeline=row["pipeline"],
            id=row["id"],
            state=row["state"],
            created=to_dt(row["created"]),  # type: ignore[arg-type]
            started=to_dt(row["started"]),
            finished=to_dt(row["finished"]),
            data_processed=row["processed"],
            data_skipped=row["skipped"],
            data_failed=row["failed"],
            data_recovered=row["recovered"],
            data_total=row["total"],
            reason=row["reason"],
            output_commit=row["id"],
            pipeline_version=row["pipeline_version"],
            restart=row["restart"],
            upload_bytes=row["upload_bytes"],
            download_bytes=row["download_bytes"],
        )

    def list_jobs(self, pipeline: str | None, global_id: str | None) -> list[JobInfo]:
        """Jobs, newest first."""
        where, args = [], []
        c = self.store.conn()
        if pipeline is not None:
            if c.execute("SELECT 1 FROM pipelines WHERE name=?", (pipeline,)).fetchone() is None:
                raise NotFoundError(f"pipeline {pipeline} not found")
            where.append("pipeline=?")
            args.append(pipeline)
        if global_id is not None:
            where.append("id=?")
            args.append(global_id)
        sql = "SELECT * FROM jobs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq DESC"
        return [self._job_info(r) for r in c.execute(sql, args).fetchall()]

    def inspect_job(self, pipeline: str, job_id: str) -> JobInfo:
        """One job."""
        row = (
            self.store.conn()
            .execute("SELECT * FROM jobs WHERE pipeline=? AND id=?", (pipeline, job_id))
            .fetchone()
        )
        if row is None:
            raise NotFoundError(f"job {pipeline}@{job_id} not found")
        return self._job_info(row)

    def pending_jobs(self) -> list[JobInfo]:
        """Non-terminal jobs, oldest first."""
        rows = (
            self.store.conn()
            .execute(
                "SELECT * FROM jobs WHERE state IN (?,?,?,?,?) ORDER BY seq", (JOB_CREATED, *ACTIVE_STATES)
            )
            .fetchall()
        )
        return [self._job_info(r) for r in rows]

    @staticmethod
    def _datum_record(row: Any) -> DatumRecord:
        inputs = tuple(DatumInputRecord(*i) for i in json.loads(row["inputs"]))
        return DatumRecord(
            pipeline=row["pipeline"],
            job_id=row["job_id"],
            datum_id=row["datum_id"],
            state=row["state"],
            hash=row["hash"],
            inputs=inputs,
            duration=row["duration"],
            logs_path=row["logs_path"],
            attempts=row["attempts"],
            reason=row["reason"],
        )

    def list_datums(self, pipeline: str, job_id: str) -> list[DatumRecord]:
        """A job's datums in order."""
        self.inspect_job(pipeline, job_id)
        rows = (
            self.store.conn()
            .execute("SELECT * FROM datums WHERE pipeline=? AND job_id=? ORDER BY idx", (pipeline, job_id))
            .fetchall()
        )
        return [self._datum_record(r) for r in rows]

    def inspect_datum(self, pipeline: str, job_id: str, datum_id: str) -> DatumRecord:
        """One datum."""
        row = (
            self.store.conn()
            .execute(
                "SELECT * FROM datums WHERE pipeline=? AND job_id=? AND datum_id=?",
                (pipeline, job_id, datum_id),
            )
            .fetchone()
        )
        if row is None:
            self.inspect_job(pipeline, job_id)
            raise NotFoundError(f"datum {datum_id} not found in job {pipeline}@{job_id}")
        return self._datum_record(row)

    def logs(self, pipeline: str, job_id: str | None, datum_id: str | None) -> list[LogLine]:
        """Datum log lines: every job of the pipeline (oldest first) unless ``job_id``."""
        self.inspect_pipeline(pipeline)
        c = self.store.conn()
        sql = "SELECT d.* FROM datums d JOIN jobs j ON j.pipeline=d.pipeline AND j.id=d.job_id WHERE d.pipeline=?"
        args: list[Any] = [pipeline]
        if job_id is not None:
            self.inspect_job(pipeline, job_id)
            sql += " AND d.job_id=?"
            args.append(job_id)
        if datum_id is not None:
            sql += " AND d.datum_id=?"
            args.append(datum_id)
        sql += " AND d.logs_path != '' ORDER BY j.seq, d.idx"
        out: list[LogLine] = []
        for r in c.execute(sql, args).fetchall():
            try:
                text = Path(r["logs_path"]).read_text(errors="replace")
            except OSError:
                continue
            out.extend(LogLine(pipeline, r["job_id"], r["datum_id"], line) for line in text.splitlines())
        return out

    # ------------------------------------------------------------------ resolving inputs
    def _commit_files(self, c: Any, repo: str, branch: str, cid: str) -> Any:
        dm = _datums()
        files = tuple(
            dm.FileInfo(r[0], r[1], r[2])
            for r in c.execute(
                "SELECT path, hash, size FROM files WHERE repo=? AND commit_id=? ORDER BY path", (repo, cid)
            )
        )
        return dm.CommitFiles(repo, branch, cid, files)

    def _head_resolver(self) -> Callable[[str, str], Any]:
        """Resolve (repo, branch) to its latest finished commit (for ``list datum -f``)."""

        def resolve(repo: str, branch: str) -> Any:
            with self.store.snapshot() as c:
                self.pfs.repo_row(c, repo)
                b = c.execute("SELECT head FROM branches WHERE repo=? AND name=?", (repo, branch)).fetchone()
                cid = b[0] if b else None
                while cid is not None:
                    r = c.execute(
                        "SELECT parent, finished FROM commits WHERE repo=? AND id=?", (repo, cid)
                    ).fetchone()
                    if r is None:
                        return None
                    if r["finished"] is not None:
                        return self._commit_files(c, repo, branch, cid)
                    cid = r["parent"]
                return None

        return resolve

    def datums_for_spec(self, spec: Mapping[str, Any]) -> list[Any]:
        """See ``Pachlet.datums_for_spec``."""
        norm = _spec().normalize_spec(dict(spec))
        return list(
            _datums().compute_datums(norm.get("input"), norm["pipeline"]["name"], self._head_resolver())
        )

    # ------------------------------------------------------------------ running jobs
    def request_stop(self) -> None:
        """Stop after the in-flight datums."""
        self._stop.set()

    def process_pending(self, progress: ProgressCallback | None, *, limit: int | None) -> list[JobInfo]:
        """Run runnable jobs in order until none is left (or ``limit`` ran)."""
        if self.store.read_only:
            raise PachletError("cannot run jobs: the pachlet root is open read-only")
        done: list[JobInfo] = []
        with self.run_lock:
            self._stop.clear()
            self._recover_interrupted()
            while not self._stop.is_set():
                job = self._next_runnable()
                if job is None:
                    break
                try:
                    result = self._run_job(job, progress)
                except Exception as exc:  # a bug or an environment failure must not wedge the queue
                    result = self._finish_unsuccessful(
                        self._job_row(job["pipeline"], job["id"]),
                        JOB_FAILURE,
                        f"pachlet could not run the job: {type(exc).__name__}: {exc}",
                    )
                if result is None:
                    break
                done.append(result)
                if limit is not None and len(done) >= limit:
                    break
        return done

    def _recover_interrupted(self) -> None:
        """Jobs left active by a dead process (or an interrupted run) go back to the queue."""
        with self.store.tx() as c:
            rows = c.execute(
                "SELECT pipeline, id, state FROM jobs WHERE state IN (?,?,?,?) AND owner_pid IS NOT NULL",
                ACTIVE_STATES,
            ).fetchall()
            for r in rows:
                committed = c.execute(
                    "SELECT finished FROM commits WHERE repo=? AND id=?", (r["pipeline"], r["id"])
                ).fetchone()
                state = JOB_EGRESSING if committed and committed[0] is not None else JOB_CREATED
                c.execute(
                    "UPDATE jobs SET state=?, restart=restart+1, owner_pid=NULL WHERE pipeline=? AND id=?",
                    (state, r["pipeline"], r["id"]),
                )
                self._clear_scratch(r["id"], r["pipeline"])

    def _clear_scratch(self, gid: str, pipeline: str) -> None:
        shutil.rmtree(self.store.scratch / gid / pipeline, ignore_errors=True)
        with contextlib.suppress(OSError):
            (self.store.scratch / gid).rmdir()

    def interrupted_jobs(self) -> list[JobInfo]:
        """Jobs some process was running (an owner pid is set); fsck decides whether it died."""
        rows = (
            self.store.conn()
            .execute(
                "SELECT * FROM jobs WHERE state IN (?,?,?,?) AND owner_pid IS NOT NULL ORDER BY seq",
                ACTIVE_STATES,
            )
            .fetchall()
        )
        return [self._job_info(r) for r in rows]

    def _next_runnable(self) -> Any:
        c = self.store.conn()
        rows = c.execute(
            "SELECT * FROM jobs WHERE state IN (?,?) ORDER BY seq", (JOB_CREATED, JOB_EGRESSING)
        ).fetchall()
        for job in rows:
            out = c.execute(
                "SELECT * FROM commits WHERE repo=? AND id=?", (job["pipeline"], job["id"])
            ).fetchone()
            if out is None:
                continue
            if job["state"] == JOB_EGRESSING:
                return job
            if out["parent"] is not None:
                p = c.execute(
                    "SELECT finished FROM commits WHERE repo=? AND id=?", (job["pipeline"], out["parent"])
                ).fetchone()
                if p is not None and p[0] is None:
                    continue
            ready = True
            for pr in c.execute(
                "SELECT prov_repo, prov_commit FROM provenance WHERE repo=? AND commit_id=?",
                (job["pipeline"], job["id"]),
            ):
                f = c.execute("SELECT finished FROM commits WHERE repo=? AND id=?", (pr[0], pr[1])).fetchone()
                if f is not None and f[0] is None:
                    ready = False
                    break
            if ready:
                return job
        return None

    def _set_job(self, c: Any, job: Any, **fields: Any) -> None:
        cols = ", ".join(f"{k}=?" for k in fields)
        c.execute(
            f"UPDATE jobs SET {cols} WHERE pipeline=? AND id=?",
            (*fields.values(), job["pipeline"], job["id"]),
        )

    def _job_row(self, pipeline: str, job_id: str) -> Any:
        return (
            self.store.conn()
            .execute("SELECT * FROM jobs WHERE pipeline=? AND id=?", (pipeline, job_id))
            .fetchone()
        )

    def _finish_unsuccessful(self, job: Any, state: str, reason: str, **extra: Any) -> JobInfo:
        """End a job without output: its commit gets the parent's tree and the error."""
        with self.store.tx() as c:
            out = c.execute(
                "SELECT * FROM commits WHERE repo=? AND id=?", (job["pipeline"], job["id"])
            ).fetchone()
            tree = self._parent_tree(c, job["pipeline"], out["parent"]) if out is not None else {}
            if out is not None:
                self.pfs.finish_output_commit(c, job["pipeline"], job["id"], tree, error=reason)
            self._set_job(c, job, state=state, reason=reason, finished=now_ts(), owner_pid=None, **extra)
        return self._job_info(self._job_row(job["pipeline"], job["id"]))

    def _parent_tree(self, c: Any, repo: str, parent: str | None) -> dict[str, tuple[str, int]]:
        if parent is None:
            return {}
        return self.pfs._finished_tree(c, repo, parent)

    def _failed_inputs(self, c: Any, job: Any) -> list[str]:
        failed = []
        for pr in c.execute(
            "SELECT prov_repo, prov_commit FROM provenance WHERE repo=? AND commit_id=? ORDER BY rowid",
            (job["pipeline"], job["id"]),
        ).fetchall():
            r = c.execute("SELECT error FROM commits WHERE repo=? AND id=?", (pr[0], pr[1])).fetchone()
            if r is not None and r[0]:
                failed.append(pr[0])
        return failed

    def _parent_job(self, c: Any, pipeline: str, parent: str | None) -> str | None:
        """The last successful job along the output commit's ancestry (the skip and merge base)."""
        while parent is not None:
            j = c.execute("SELECT state FROM jobs WHERE pipeline=? AND id=?", (pipeline, parent)).fetchone()
            if j is not None and j[0] == JOB_SUCCESS:
                return parent
            r = c.execute("SELECT parent FROM commits WHERE repo=? AND id=?", (pipeline, parent)).fetchone()
            parent = r[0] if r else None
        return None

    def _job_context(self, pipeline: str, job_id: str, spec: dict[str, Any]) -> JobContext:
        transform = dict(spec.get("transform") or {})
        env = dict(os.environ)
        pybin = str(Path(sys.executable).parent)
        env["PATH"] = pybin + os.pathsep + env.get("PATH", "")
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
        par = spec.get("parallelismSpec") or {}
        tries = int(spec.get("datumTries") or 3)
        accept = frozenset(int(x) for x in (transform.get("acceptReturnCode") or []))
        log_dir = self.store.logs / pipeline / job_id
        if log_dir.exists():
            shutil.rmtree(log_dir, ignore_errors=True)
        log_dir.mkdir(parents=True, exist_ok=True)
        scratch = self.store.scratch / job_id / pipeline
        scratch.mkdir(parents=True, exist_ok=True)
        return JobContext(
            pipeline=pipeline,
            job_id=job_id,
            transform=transform,
            base_env=env,
            secret_files=secret_files,
            secret_values=[v for v in secret_values if len(v) >= 4],
            tries=max(tries, 1),
            timeout=parse_duration(spec.get("datumTimeout")),
            accept=accept,
            store=self.store,
            log_dir=log_dir,
            scratch_dir=scratch,
            stop=self._stop,
            mount_paths=mount_paths,
            parallelism=max(1, min(int(par.get("constant") or 1), os.cpu_count() or 1)),
        )

    def _run_job(self, job: Any, progress: ProgressCallback | None) -> JobInfo | None:
        pipeline, gid = job["pipeline"], job["id"]
        c = self.store.conn()
        vrow = c.execute(
            "SELECT spec, salt FROM pipeline_versions WHERE name=? AND version=?",
            (pipeline, job["pipeline_version"]),
        ).fetchone()
        spec = json.loads(vrow["spec"])
        salt = vrow["salt"]
        if job["state"] == JOB_EGRESSING:
            return self._egress(pipeline, gid, spec)
        with self.store.tx() as c:
            self._set_job(
                c, job, state=JOB_RUNNING, started=job["started"] or now_ts(), owner_pid=os.getpid()
            )
            failed = self._failed_inputs(c, job)
            out = c.execute("SELECT * FROM commits WHERE repo=? AND id=?", (pipeline, gid)).fetchone()
            prov = {
                (r[0], r[1]): r[2]
                for r in c.execute(
                    "SELECT prov_repo, prov_branch, prov_commit FROM provenance WHERE repo=? AND commit_id=?",
                    (pipeline, gid),
                )
            }
            parent_job = self._parent_job(c, pipeline, out["parent"])
        if failed:
            return self._finish_unsuccessful(
                job,
                JOB_UNRUNNABLE,
                f"unrunnable because the following upstream pipelines failed: {', '.join(failed)}",
            )

        def resolve(repo: str, branch: str) -> Any:
            with self.store.snapshot() as rc:
                self.pfs.repo_row(rc, repo)
                cid = prov.get((repo, branch))
                return None if cid is None else self._commit_files(rc, repo, branch, cid)

        try:
            datums = list(_datums().compute_datums(spec.get("input"), pipeline, resolve))
            ctx = self._job_context(pipeline, gid, spec)
        except PachletError as exc:
            return self._finish_unsuccessful(job, JOB_FAILURE, str(exc))
        # what the parent job did: datum hash -> datum id, datum id -> outputs
        parent_by_hash: dict[str, str] = {}
        parent_outputs: dict[str, list[tuple[str, str, int]]] = {}
        noskip = (spec.get("reprocessSpec") or "until_success") == "every_job"
        if parent_job is not None and not noskip:
            for r in c.execute(
                "SELECT datum_id, hash FROM datums WHERE pipeline=? AND job_id=? AND state IN (?,?)",
                (pipeline, parent_job, DATUM_SUCCESS, DATUM_SKIPPED),
            ):
                parent_by_hash[r[1]] = r[0]
            for r in c.execute(
                "SELECT datum_id, path, hash, size FROM datum_outputs WHERE pipeline=? AND job_id=?",
                (pipeline, parent_job),
            ):
                parent_outputs.setdefault(r[0], []).append((r[1], r[2], r[3]))
        total = len(datums)
        hashes = [d.hash(salt) for d in datums]
        results: dict[str, DatumResult] = {}
        to_run = []
        for d, h in zip(datums, hashes, strict=True):
            if parent_by_hash.get(h) == d.id:
                results[d.id] = DatumResult(d.id, DATUM_SKIPPED, parent_outputs.get(d.id, []), 0.0, 0, "", "")
            else:
                to_run.append(d)
        with self.store.tx() as wc:
            self._set_job(wc, job, total=total, skipped=len(results))
        counts = {"processed": 0, "failed": 0, "recovered": 0}

        def report() -> None:
            if progress is not None:
                info = self._job_info(self._job_row(pipeline, gid))
                progress(
                    info,
                    len(results),
                    total,
                )

        report()
        env_common = {"PACH_JOB_ID": gid, "PACH_OUTPUT_COMMIT_ID": gid, "PPS_PIPELINE_NAME": pipeline}
        self._execute(ctx, to_run, results, env_common, counts, report)
        if self._stop.is_set() and len(results) < total:
            with self.store.tx() as wc:
                self._set_job(wc, job, state=JOB_CREATED, owner_pid=None)
            return None
        return self._commit_job(job, spec, datums, hashes, results)

    def _execute(
        self,
        ctx: JobContext,
        to_run: list[Any],
        results: dict[str, DatumResult],
        env_common: dict[str, str],
        counts: dict[str, int],
        report: Callable[[], None],
    ) -> None:
        def one(d: Any) -> DatumResult:
            return run_datum(ctx, d, {**env_common, "PACH_DATUM_ID": d.id})

        par = ctx.parallelism
        if par <= 1:
            for d in to_run:
                if self._stop.is_set():
                    break
                results[d.id] = one(d)
                report()
            return
        with ThreadPoolExecutor(max_workers=par, thread_name_prefix="pachlet-datum") as pool:
            it = iter(to_run)
            running: set[Future[DatumResult]] = set()
            while True:
                while len(running) < par * 2 and not self._stop.is_set():
                    d = next(it, None)
                    if d is None:
                        break
                    running.add(pool.submit(one, d))
                if not running:
                    break
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for f in finished:
                    r = f.result()
                    results[r.datum_id] = r
                report()

    def _commit_job(
        self,
        job: Any,
        spec: dict[str, Any],
        datums: list[Any],
        hashes: list[str],
        results: dict[str, DatumResult],
    ) -> JobInfo:
        pipeline, gid = job["pipeline"], job["id"]
        states = [results[d.id].state for d in datums]
        processed = states.count(DATUM_SUCCESS)
        skipped = states.count(DATUM_SKIPPED)
        failed = states.count(DATUM_FAILED)
        recovered = states.count(DATUM_RECOVERED)
        reason = ""
        first_failed = next((d.id for d in datums if results[d.id].state == DATUM_FAILED), None)
        if first_failed is not None:
            reason = f"datum {first_failed} failed"
        tree: dict[str, tuple[str, int]] = {}
        if not reason:
            entries = sorted(
                (p, d.id, h, s)
                for d in datums
                if results[d.id].state in (DATUM_SUCCESS, DATUM_SKIPPED)
                for p, h, s in results[d.id].outputs
            )
            prev: tuple[str, str] | None = None
            for p, did, h, s in entries:
                if prev is not None and prev[0] == p:
                    reason = (
                        f"duplicate path output by different datums ({p} from {prev[1]} and {p} from {did})"
                    )
                    break
                tree[p] = (h, s)
                prev = (p, did)
            if not reason:
                clash = find_collision(tree)
                if clash is not None:
                    reason = f"file / directory path collision ({clash})"
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
        upload = sum(r.upload_bytes for r in results.values())
        download = sum(r.download_bytes for r in results.values())
        with self.store.tx() as c:
            c.execute("DELETE FROM datums WHERE pipeline=? AND job_id=?", (pipeline, gid))
            c.execute("DELETE FROM datum_outputs WHERE pipeline=? AND job_id=?", (pipeline, gid))
            c.executemany("INSERT INTO datums VALUES(?,?,?,?,?,?,?,?,?,?,?)", datum_rows)
            c.executemany("INSERT OR REPLACE INTO datum_outputs VALUES(?,?,?,?,?,?)", output_rows)
            counts = dict(
                processed=processed,
                skipped=skipped,
                failed=failed,
                recovered=recovered,
                total=len(datums),
                upload_bytes=upload,
                download_bytes=download,
            )
            if reason:
                out = c.execute(
                    "SELECT parent FROM commits WHERE repo=? AND id=?", (pipeline, gid)
                ).fetchone()
                self.pfs.finish_output_commit(
                    c, pipeline, gid, self._parent_tree(c, pipeline, out[0]), error=reason
                )
                self._set_job(
                    c, job, state=JOB_FAILURE, reason=reason, finished=now_ts(), owner_pid=None, **counts
                )
            else:
                self.pfs.finish_output_commit(c, pipeline, gid, tree)
                state = JOB_EGRESSING if spec.get("egress") else JOB_SUCCESS
                fin = None if spec.get("egress") else now_ts()
                self._set_job(c, job, state=state, finished=fin, **counts)
        self._clear_scratch(gid, pipeline)
        if not reason and spec.get("egress"):
            return self._egress(pipeline, gid, spec)
        return self._job_info(self._job_row(pipeline, gid))

    def _egress(self, pipeline: str, gid: str, spec: dict[str, Any]) -> JobInfo:
        """Run the egress hook on a finished output commit (job in JOB_EGRESSING)."""
        job = self._job_row(pipeline, gid)
        with self.store.tx() as c:
            self._set_job(c, job, owner_pid=os.getpid())
        reason = ""
        if importlib.util.find_spec("pachlet.egress") is not None:
            hook = getattr(importlib.import_module("pachlet.egress"), "run_egress", None)
            if hook is not None:
                try:
                    hook(
                        self.pachlet,
                        self.inspect_pipeline(pipeline),
                        self._job_info(job),
                        self.pfs.inspect_commit(pipeline, gid),
                    )
                except Exception as exc:  # the egress's message becomes the job's reason
                    reason = str(exc) or type(exc).__name__
        with self.store.tx() as c:
            if reason:
                c.execute("UPDATE commits SET error=? WHERE repo=? AND id=?", (reason, pipeline, gid))
                self._set_job(c, job, state=JOB_FAILURE, reason=reason, finished=now_ts(), owner_pid=None)
            else:
                self._set_job(c, job, state=JOB_SUCCESS, finished=now_ts(), owner_pid=None)
        return self._job_info(self._job_row(pipeline, gid))

    def kill_interrupted(self, job: JobInfo, reason: str) -> None:
        """Mark an interrupted job KILLED and finish its output commit with the error."""
        row = self._job_row(job.pipeline, job.id)
        self._finish_unsuccessful(row, JOB_KILLED, reason)

    # ------------------------------------------------------------------ waiting
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
        spec = self.inspect_pipeline(pipeline).spec
        crons = self._cron_inputs(spec)
        if not crons:
            raise PachletError(f"pipeline {pipeline} has no cron input")
        at = now or datetime.now(UTC)
        return self._tick(pipeline, [(cin, at) for cin in crons])

    def _tick(self, pipeline: str, items: Sequence[tuple[dict[str, Any], datetime]]) -> str:
        gid = new_id()
        empty, _ = self.store.put_bytes(b"")
        tick_name = _cronspec().tick_name
        with self.store.tx() as c:
            finished = []
            for cin, at in items:
                repo = self._cron_repo(pipeline, cin)
                ci = self.pfs.start_commit(repo, "master", commit_id=gid, description="cron tick")
                if cin.get("overwrite"):
                    self.pfs.delete_all(c, ci)
                self.pfs._stage(c, ci, [("/" + tick_name(at), empty, 0, 0)])
                finished.append(self.pfs.finish_commit(repo, gid))
                c.execute(
                    "INSERT INTO cron_ticks(pipeline, input_name, last_tick) VALUES(?,?,?)"
                    " ON CONFLICT(pipeline, input_name) DO UPDATE SET last_tick=max(last_tick, excluded.last_tick)",
                    (pipeline, cin["name"], to_ts(at)),
                )
            self.on_commits_finished(finished)
        return gid

    def due_cron_ticks(self, now: datetime | None, *, limit: int) -> list[CronTick]:
        """Ticks owed at ``now``, oldest first."""
        now = now or datetime.now(UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        cron = _cronspec()
        c = self.store.conn()
        ticks: list[CronTick] = []
        for p in self.list_pipelines():
            for cin in self._cron_inputs(p.spec):
                sched = cron.parse_schedule(cin["spec"])
                row = c.execute(
                    "SELECT last_tick FROM cron_ticks WHERE pipeline=? AND input_name=?",
                    (p.name, cin["name"]),
                ).fetchone()
                candidates = [t for t in (to_dt(row[0]) if row else None, _parse_time(cin.get("start"))) if t]
                since = max(candidates) if candidates else p.created
                ticks.extend(
                    CronTick(p.name, cin["name"], t) for t in cron.ticks_between(sched, since, now, limit)
                )
        ticks.sort(key=lambda k: (k.at, k.pipeline, k.input_name))
        return ticks[:limit]

    def apply_cron_ticks(self, ticks: Sequence[CronTick]) -> list[str]:
        """Write ticks, one global ID each."""
        out = []
        for tick in ticks:
            spec = self.inspect_pipeline(tick.pipeline).spec
            cin = next((ci for ci in self._cron_inputs(spec) if ci["name"] == tick.input_name), None)
            if cin is None:
                raise NotFoundError(f"pipeline {tick.pipeline} has no cron input {tick.input_name}")
            out.append(self._tick(tick.pipeline, [(cin, tick.at)]))
        return out
