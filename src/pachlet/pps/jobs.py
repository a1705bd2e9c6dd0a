"""PPS jobs: the typed ``Job`` record, the job state machine and the registry of the ``jobs`` table.

As pachd's ``src/server/worker/pipeline/transform/registry.go`` tracks a pipeline's jobs, the registry
creates jobs (one per pipeline per global ID, each with an open AUTO output commit), answers job queries,
moves jobs through the states below and picks the next runnable job::

    JOB_CREATED -> JOB_RUNNING -> (JOB_EGRESSING) -> JOB_SUCCESS
                              \\-> JOB_FAILURE / JOB_UNRUNNABLE / JOB_KILLED

An interrupted job (its process died, or a stop was requested) goes back to JOB_CREATED (or stays
JOB_EGRESSING once its output commit is finished) and resumes on the next run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from pachlet.errors import NotFoundError, PachletError
from pachlet.pfs.driver import PFS
from pachlet.records import (
    JOB_CREATED,
    JOB_EGRESSING,
    JOB_FAILURE,
    JOB_FINISHING,
    JOB_KILLED,
    JOB_RUNNING,
    JOB_STARTING,
    JOB_SUCCESS,
    JOB_UNRUNNABLE,
    JobInfo,
)
from pachlet.store import Store
from pachlet.timeutil import now_ts, to_dt

ACTIVE_STATES = (JOB_STARTING, JOB_RUNNING, JOB_FINISHING, JOB_EGRESSING)

TRANSITIONS: Mapping[str, frozenset[str]] = {
    JOB_CREATED: frozenset({JOB_RUNNING, JOB_EGRESSING, JOB_FAILURE, JOB_UNRUNNABLE, JOB_KILLED}),
    JOB_STARTING: frozenset({JOB_CREATED, JOB_RUNNING, JOB_FAILURE, JOB_UNRUNNABLE, JOB_KILLED}),
    JOB_RUNNING: frozenset(
        {JOB_CREATED, JOB_EGRESSING, JOB_SUCCESS, JOB_FAILURE, JOB_UNRUNNABLE, JOB_KILLED}
    ),
    JOB_FINISHING: frozenset({JOB_CREATED, JOB_EGRESSING, JOB_SUCCESS, JOB_FAILURE, JOB_KILLED}),
    JOB_EGRESSING: frozenset({JOB_CREATED, JOB_SUCCESS, JOB_FAILURE, JOB_KILLED}),
}
"""Allowed state changes (staying in a state is always allowed); terminal states have none."""


@dataclass(frozen=True)
class Job:
    """One row of the ``jobs`` table; times are stored UNIX timestamps."""

    seq: int
    pipeline: str
    id: str
    state: str
    created: float
    started: float | None
    finished: float | None
    processed: int
    skipped: int
    failed: int
    recovered: int
    total: int
    reason: str
    pipeline_version: int
    restart: int
    owner_pid: int | None
    parent_job: str | None
    upload_bytes: int
    download_bytes: int
    runtime: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        """A job from its database row (a root opened read-only before its migration has no runtime)."""
        have = set(row.keys())
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in have})

    def info(self) -> JobInfo:
        """The job as the facade returns it."""
        return JobInfo(
            pipeline=self.pipeline,
            id=self.id,
            state=self.state,
            created=to_dt(self.created),  # type: ignore[arg-type]
            started=to_dt(self.started),
            finished=to_dt(self.finished),
            data_processed=self.processed,
            data_skipped=self.skipped,
            data_failed=self.failed,
            data_recovered=self.recovered,
            data_total=self.total,
            reason=self.reason,
            output_commit=self.id,
            pipeline_version=self.pipeline_version,
            restart=self.restart,
            upload_bytes=self.upload_bytes,
            download_bytes=self.download_bytes,
            runtime=self.runtime,
        )


class JobRegistry:
    """The ``jobs`` table: creation, queries, state changes, and which job runs next."""

    def __init__(self, store: Store, pfs: PFS) -> None:
        self.store = store
        self.pfs = pfs

    # ------------------------------------------------------------------ queries
    def get(self, pipeline: str, job_id: str) -> Job | None:
        """One job, or None."""
        row = (
            self.store.conn()
            .execute("SELECT * FROM jobs WHERE pipeline=? AND id=?", (pipeline, job_id))
            .fetchone()
        )
        return None if row is None else Job.from_row(row)

    def require(self, pipeline: str, job_id: str) -> Job:
        """One job; ``NotFoundError`` if absent."""
        job = self.get(pipeline, job_id)
        if job is None:
            raise NotFoundError(f"job {pipeline}@{job_id} not found")
        return job

    def list(self, pipeline: str | None, global_id: str | None) -> list[Job]:
        """Jobs, newest first, filtered by pipeline and/or global ID (the pipeline must exist)."""
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
        return [Job.from_row(r) for r in c.execute(sql, args).fetchall()]

    def pending(self) -> list[Job]:
        """Non-terminal jobs, oldest first."""
        rows = (
            self.store.conn()
            .execute(
                "SELECT * FROM jobs WHERE state IN (?,?,?,?,?) ORDER BY seq", (JOB_CREATED, *ACTIVE_STATES)
            )
            .fetchall()
        )
        return [Job.from_row(r) for r in rows]

    def interrupted(self) -> list[Job]:
        """Jobs some process was running (an owner pid is set); fsck decides whether it died."""
        rows = (
            self.store.conn()
            .execute(
                "SELECT * FROM jobs WHERE state IN (?,?,?,?) AND owner_pid IS NOT NULL ORDER BY seq",
                ACTIVE_STATES,
            )
            .fetchall()
        )
        return [Job.from_row(r) for r in rows]

    def queued_count(self) -> int:
        """How many jobs wait in JOB_CREATED."""
        return int(
            self.store.conn().execute("SELECT count(*) FROM jobs WHERE state=?", (JOB_CREATED,)).fetchone()[0]
        )

    def all_jobs(self) -> list[Job]:
        """Every job, oldest first."""
        return [
            Job.from_row(r) for r in self.store.conn().execute("SELECT * FROM jobs ORDER BY seq").fetchall()
        ]

    # ------------------------------------------------------------------ creation
    def create_jobs(
        self,
        gid: str,
        seeds: Sequence[str],
        specs: Mapping[str, Mapping[str, Any]],
        inputs: Mapping[str, list[tuple[str, str]]],
        output_branch: Callable[[Mapping[str, Any]], str],
    ) -> None:
        """Queue a job in ``gid`` for each seed pipeline and everything downstream of it (upstream first,
        ties by name), each with its open output commit. ``inputs``: (repo, branch) pairs per pipeline."""
        closure = set(seeds)
        grew = True
        while grew:
            grew = False
            for n in specs:
                if n not in closure and any(r in closure for r, _ in inputs[n]):
                    closure.add(n)
                    grew = True
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
        with self.store.tx() as c:
            for name in order:
                if c.execute("SELECT 1 FROM jobs WHERE pipeline=? AND id=?", (name, gid)).fetchone():
                    continue
                prov: list[tuple[str, str, str]] = []
                for repo, branch in inputs[name]:
                    cid = self.pfs.input_commit(repo, branch, gid)
                    if cid is not None:
                        prov.append((repo, branch, cid))
                self.pfs.start_output_commit(name, output_branch(specs[name]), gid, prov)
                version = c.execute("SELECT version FROM pipelines WHERE name=?", (name,)).fetchone()[0]
                c.execute(
                    "INSERT INTO jobs(pipeline, id, state, created, pipeline_version) VALUES(?,?,?,?,?)",
                    (name, gid, JOB_CREATED, ts, version),
                )

    # ------------------------------------------------------------------ state changes
    def update(self, job: Job, **changes: Any) -> None:
        """Change a job's columns (in the caller's transaction, if any); a ``state`` change must be one
        ``TRANSITIONS`` allows."""
        new_state = changes.get("state")
        if new_state is not None:
            current = self.require(job.pipeline, job.id).state
            if new_state != current and new_state not in TRANSITIONS.get(current, frozenset()):
                raise PachletError(f"job {job.pipeline}@{job.id}: cannot go from {current} to {new_state}")
        cols = ", ".join(f"{k}=?" for k in changes)
        with self.store.tx() as c:
            c.execute(
                f"UPDATE jobs SET {cols} WHERE pipeline=? AND id=?", (*changes.values(), job.pipeline, job.id)
            )

    def requeue_interrupted(self, on_requeue: Callable[[Job], None]) -> None:
        """Jobs left active by a dead process (or an interrupted run) go back to the queue: JOB_EGRESSING
        when their output commit is finished, else JOB_CREATED; ``restart`` counts it."""
        with self.store.tx() as c:
            for job in self.interrupted():
                out = self.pfs.find_commit(job.pipeline, job.id)
                state = JOB_EGRESSING if out is not None and out.finished is not None else JOB_CREATED
                c.execute(
                    "UPDATE jobs SET state=?, restart=restart+1, owner_pid=NULL WHERE pipeline=? AND id=?",
                    (state, job.pipeline, job.id),
                )
                on_requeue(job)

    def delete_pipeline_jobs(self, pipeline: str) -> None:
        """Remove a pipeline's jobs."""
        with self.store.tx() as c:
            c.execute("DELETE FROM jobs WHERE pipeline=?", (pipeline,))

    # ------------------------------------------------------------------ scheduling
    def next_runnable(self) -> Job | None:
        """The oldest job that can run now: JOB_EGRESSING ones, or JOB_CREATED ones whose output
        commit's parent and input commits are all finished."""
        rows = (
            self.store.conn()
            .execute("SELECT * FROM jobs WHERE state IN (?,?) ORDER BY seq", (JOB_CREATED, JOB_EGRESSING))
            .fetchall()
        )
        for job in map(Job.from_row, rows):
            out = self.pfs.find_commit(job.pipeline, job.id)
            if out is None:
                continue
            if job.state == JOB_EGRESSING:
                return job
            if out.parent is not None:
                parent = self.pfs.find_commit(job.pipeline, out.parent)
                if parent is not None and parent.finished is None:
                    continue
            ready = True
            for prov_repo, _branch, prov_commit in out.provenance:
                f = self.pfs.find_commit(prov_repo, prov_commit)
                if f is not None and f.finished is None:
                    ready = False
                    break
            if ready:
                return job
        return None

    def failed_inputs(self, job: Job) -> list[str]:
        """Input repos whose commit (in the job's provenance) carries an error."""
        out = self.pfs.find_commit(job.pipeline, job.id)
        failed = []
        for prov_repo, _branch, prov_commit in out.provenance if out is not None else ():
            f = self.pfs.find_commit(prov_repo, prov_commit)
            if f is not None and f.error:
                failed.append(prov_repo)
        return failed

    def parent_job(self, pipeline: str, parent: str | None) -> str | None:
        """The last successful job along the output commit's ancestry (the skip and merge base)."""
        while parent is not None:
            j = self.get(pipeline, parent)
            if j is not None and j.state == JOB_SUCCESS:
                return parent
            commit = self.pfs.find_commit(pipeline, parent)
            parent = commit.parent if commit is not None else None
        return None
