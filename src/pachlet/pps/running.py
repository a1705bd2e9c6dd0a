"""The datums running now, per job, so that ``stop job`` and ``restart datum`` can end their processes.

pachd cancels a job's context when the job is killed (the worker's ``pendingJob`` notices the state
change) and ``RestartDatum`` cancels the context of the datum a worker is processing when its inputs
match the filter (worker ``Status.Cancel``, ``common.MatchDatum``): the attempt fails and the datum is
retried as any failed attempt is. Here the runner registers each job it runs under its log directory
(``logs/<pipeline>/<job id>``), each datum's log (``<datum id>.log`` in it) registers the processes it
is given, and ``kill_job`` / ``restart_datums`` end their process groups (a datum runs in its own session).
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pachlet.pps.datums import Datum


@dataclass
class _RunningJob:
    datums: Mapping[str, Datum]
    killed: threading.Event = field(default_factory=threading.Event)
    procs: dict[str, set[Any]] = field(default_factory=dict)  # datum id -> Popen objects


_LOCK = threading.Lock()
_JOBS: dict[Path, _RunningJob] = {}


def _end(proc: Any) -> None:
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)


class JobStop(threading.Event):
    """What a running job's datums check to stop starting attempts: set when the engine is asked to stop
    (``base``) or when the job was killed."""

    def __init__(self, base: threading.Event, killed: threading.Event) -> None:
        super().__init__()
        self.base = base
        self.killed = killed

    def is_set(self) -> bool:
        """Whether the engine stops or the job was killed."""
        return self.base.is_set() or self.killed.is_set()


@contextmanager
def running_job(log_dir: Path, datums: Sequence[Datum]) -> Iterator[threading.Event]:
    """Register a job while its datums run; yields the event ``kill_job`` sets."""
    job = _RunningJob({d.id: d for d in datums})
    with _LOCK:
        _JOBS[log_dir] = job
    try:
        yield job.killed
    finally:
        with _LOCK:
            if _JOBS.get(log_dir) is job:
                del _JOBS[log_dir]


def track(log_path: Path, proc: Any) -> None:
    """A datum's process started (its log is ``log_path``); ended at once if its job was killed."""
    with _LOCK:
        job = _JOBS.get(log_path.parent)
        if job is None:
            return
        job.procs.setdefault(log_path.stem, set()).add(proc)
        killed = job.killed.is_set()
    if killed:
        _end(proc)


def untrack(log_path: Path, proc: Any) -> None:
    """A datum's process is over."""
    with _LOCK:
        job = _JOBS.get(log_path.parent)
        if job is not None:
            job.procs.get(log_path.stem, set()).discard(proc)


def kill_job(log_dir: Path) -> bool:
    """Mark the job running under ``log_dir`` killed and end its datums' processes (False: not running)."""
    with _LOCK:
        job = _JOBS.get(log_dir)
        if job is None:
            return False
        job.killed.set()
        procs = [p for ps in job.procs.values() for p in ps]
    for proc in procs:
        _end(proc)
    return True


def _b64(digest: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(digest)).decode()
    except ValueError:
        return ""


def match_inputs(filters: Sequence[str], datum_id: str, inputs: Sequence[tuple[str, str]]) -> bool:
    """worker/common ``MatchDatum``: every filter names some input, given as (path, hex hash) pairs, by
    its path or by its hash (hex or base64); pachlet also accepts the datum ID."""
    return all(
        f == datum_id or any(f in (path, digest, _b64(digest)) for path, digest in inputs) for f in filters
    )


def datum_inputs(datum: Datum) -> list[tuple[str, str]]:
    """A datum's inputs as ``match_inputs`` takes them: each matched path, and each file under it."""
    pairs = [(inp.path, inp.content_hash().decode()) for inp in datum.inputs]
    pairs += [(f.path, f.hash) for inp in datum.inputs for f in inp.files if f.path != inp.path]
    return pairs


def match_datum(filters: Sequence[str], datum: Datum) -> bool:
    """``match_inputs`` for a datum."""
    return match_inputs(filters, datum.id, datum_inputs(datum))


def datum_of(log_dir: Path, datum_id: str) -> Datum | None:
    """A datum of the job running under ``log_dir``, or None."""
    with _LOCK:
        job = _JOBS.get(log_dir)
        return None if job is None else job.datums.get(datum_id)


def restart_datums(log_dir: Path, filters: Sequence[str]) -> list[str]:
    """End the current attempt of each running datum of the job matching ``filters`` (they are retried);
    returns their IDs."""
    with _LOCK:
        job = _JOBS.get(log_dir)
        if job is None:
            return []
        hits = {
            did: list(procs)
            for did, procs in job.procs.items()
            if procs and did in job.datums and match_datum(filters, job.datums[did])
        }
    for procs in hits.values():
        for proc in procs:
            _end(proc)
    return sorted(hits)
