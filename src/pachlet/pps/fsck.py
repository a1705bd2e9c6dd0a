"""The PPS half of fsck: jobs left running by a process that died go back to the queue (the next run
resumes them, as pachd restarts a job after a worker dies), jobs without an output commit are reported,
stale per-datum scratch roots are deleted, logs of interrupted datums are scrubbed of secret values. The PFS half is ``pachlet.pfs.fsck``."""

from __future__ import annotations

import shutil
from collections.abc import Callable

from pachlet.pfs.driver import PFS
from pachlet.pfs.fsck import owner_dead, recorder
from pachlet.pps.datum_log import end_orphans, scrub_job_logs
from pachlet.pps.jobs import JobRegistry
from pachlet.records import FsckReport
from pachlet.secrets import Secrets
from pachlet.store import Store


def check_jobs(
    jobs: JobRegistry, report: FsckReport, *, fix: bool, writer: bool, requeue: Callable[[], None]
) -> None:
    """Interrupted jobs (requeued with ``fix`` by ``requeue``) and the queue length."""
    found = recorder(report)
    interrupted = [j for j in jobs.interrupted() if owner_dead(j.owner_pid, writer=writer)]
    if interrupted and fix:
        requeue()
    for j in interrupted:
        found(
            f"job {j.pipeline}@{j.id} was interrupted ({j.state}, process {j.owner_pid} died); it resumes on the next run",
            fix,
        )
    queued = jobs.queued_count()
    if queued:
        report.notes.append(f"{queued} job(s) queued")


def check_interrupted_logs(
    store: Store, secrets: Secrets, jobs: JobRegistry, report: FsckReport, *, fix: bool, writer: bool
) -> None:
    """Datum processes of interrupted jobs still running (ended with ``fix``), and logs of interrupted
    datums that hold a secret value in clear (masked with ``fix``). Datum output is masked as it
    streams, so this finds only logs of an older pachlet or of a partial write."""
    found = recorder(report)
    for j in jobs.interrupted():
        if not owner_dead(j.owner_pid, writer=writer):
            continue
        if fix and (ended := end_orphans(j.pipeline, j.id)):
            found(f"ended {len(ended)} datum process(es) of interrupted job {j.pipeline}@{j.id}", fix)
        for what in scrub_job_logs(store.logs, secrets, j.pipeline, j.id, fix=fix):
            found(f"log {what} of interrupted job {j.pipeline}@{j.id} held secret values in clear", fix)


def check_outputs_and_scratch(
    store: Store, pfs: PFS, jobs: JobRegistry, report: FsckReport, *, fix: bool
) -> None:
    """Jobs whose output commit is missing (reported) and stale scratch dirs (deleted with ``fix``)."""
    found = recorder(report)
    for j in jobs.all_jobs():
        if pfs.find_commit(j.pipeline, j.id) is None:
            found(f"job {j.pipeline}@{j.id} has no output commit", False)
    scratch = list(store.scratch.iterdir()) if store.scratch.exists() else []
    if scratch:
        if fix:
            for s in scratch:
                shutil.rmtree(s, ignore_errors=True)
        found(f"{len(scratch)} stale scratch dir(s) in {store.scratch}", fix)


def referenced_objects(store: Store) -> set[str]:
    """Object digests PPS still references (datum outputs carried over by skipping)."""
    return {r[0] for r in store.conn().execute("SELECT hash FROM datum_outputs")}
