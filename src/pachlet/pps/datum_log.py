"""A datum's log: written as the datum's output streams, redacted before any byte reaches the disk.

``DatumLog(path, secrets, mask)`` is what a datum's processes write to. Passed as ``stdout`` to
``subprocess.Popen`` (it has a ``fileno``), it hands the process the write end of a pipe; a reader thread
masks every secret value in what comes through (``pachlet.redact.StreamRedactor``: a value split across
reads is masked too) and only then appends it to the log file. The file is created 0600 (its directory
0700, ``private_dir``), so neither the clear value nor the masked log is readable by other users.

``end_process(proc)`` is called once the datum's process has exited (or was killed): its process group
(the datum runs in its own session) is ended with SIGKILL, so a background process it started cannot
write afterwards, and the stragglers are reported in the log; then the pipe is drained and closed. A
process that left the group (``setsid``) and still holds the pipe gets it closed under it after
``DRAIN_SECONDS``; nothing it writes later reaches the log.

``scrub_log(path, secrets)`` masks the values in a log left by an interrupted datum (a crash of an
older pachlet, or any log written without streaming redaction); ``fsck --fix`` and the next run call it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pachlet.pps import running
from pachlet.projects import DEFAULT_PROJECT, path_segment, split
from pachlet.redact import StreamRedactor, redact_values
from pachlet.secrets import Secrets

log = logging.getLogger("pachlet.pps.datum_log")

LOG_MASK = "[REDACTED]"
"""What a secret value becomes in a datum's log."""
FILE_MODE = 0o600
DIR_MODE = 0o700
DRAIN_SECONDS = 0.5
"""How long the output pipe is read after the datum's process group was ended, if it stays open."""
_CHUNK = 65536


def private_dir(path: Path, *, top: Path | None = None) -> Path:
    """Create ``path`` (and its parents) and make it, and every directory from ``top`` down to it,
    mode 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    chain = [path]
    if top is not None and top in path.parents:
        chain += [p for p in path.parents if p == top or top in p.parents]
    for d in chain:
        os.chmod(d, DIR_MODE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file created 0600 (a secret file under ``mountPath``)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def scrub_log(path: Path, secrets: Iterable[str], mask: str) -> int:
    """Mask ``secrets`` in the log at ``path`` (rewritten 0600 in place, atomically); returns how many
    values were found (0: the file is left as is)."""
    values = [s for s in secrets if s]
    try:
        data = path.read_bytes()
    except OSError:
        return 0
    found = sum(data.count(v.encode()) for v in values)
    if found:
        tmp = path.with_name(f".{path.name}.scrub")
        write_private(tmp, redact_values(data, values, mask=mask))
        os.replace(tmp, path)
    return found


def secret_values(secrets: Secrets) -> list[str]:
    """Every value of every secret of the root that redaction masks (4 characters or more, as for a
    running datum): what a log of an interrupted datum is scrubbed of."""
    return sorted(
        {v for info in secrets.list() for v in secrets.values(info.name).values() if len(v) >= 4},
        key=len,
        reverse=True,
    )


def scrub_job_logs(logs_root: Path, secrets: Secrets, pipeline: str, job_id: str, *, fix: bool) -> list[str]:
    """The logs of one job (``logs_root/<pipeline>/<job id>/``) holding a secret value in clear, as
    ``"<path> (<n> value(s))"``; masked in place with ``fix``."""
    job_dir = logs_root / path_segment(pipeline) / job_id
    if not job_dir.is_dir():
        return []
    values = secret_values(secrets)
    if not values:
        return []
    found = []
    for path in sorted(job_dir.glob("*.log")):
        if fix:
            n = scrub_log(path, values, LOG_MASK)
        else:
            data = path.read_bytes()
            n = sum(data.count(v.encode()) for v in values)
        if n:
            found.append(f"{path} ({n} value(s))")
    return found


def _group_members(pgid: int) -> list[int]:
    """Live processes of process group ``pgid`` (Linux /proc; elsewhere [] or [pgid] if it exists)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except OSError:
            return []
        return [pgid]
    members = []
    # plain os calls, bytes: this runs once per datum (a sandbox's reaped helpers linger as zombies of
    # pid 1 on some hosts), and pathlib's per-entry objects cost more than the reads themselves
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            fd = os.open(f"/proc/{name}/stat", os.O_RDONLY)
        except OSError:
            continue
        try:
            stat = os.read(fd, 1024)
        except OSError:
            continue
        finally:
            os.close(fd)
        # pid (comm) state ppid pgrp ...; comm may hold blanks and parentheses
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and fields[0] != b"Z" and int(fields[2]) == pgid:
            members.append(int(name))
    return members


EXIT_GRACE_SECONDS = 0.2
"""How long processes of a finished datum's group may take to exit by themselves (a runtime's own
helpers, such as bubblewrap's monitor, exit right after the command) before they count as left running."""


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process (Linux /proc)."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return False
    try:
        stat = os.read(fd, 1024)
    except OSError:
        return False
    finally:
        os.close(fd)
    fields = stat[stat.rfind(b")") + 2 :].split()
    return bool(fields) and fields[0] != b"Z"


def _lingering_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` still alive once the grace period for exiting on their own is over.

    The group is listed in full (a /proc scan) first and last; in between only the members found are
    watched (every millisecond), and once they are gone the group is listed again, so a process they
    started meanwhile still counts."""
    deadline = time.monotonic() + EXIT_GRACE_SECONDS
    while True:
        try:
            os.killpg(pgid, 0)
        except OSError:  # the group is empty (the usual case)
            return []
        members = [p for p in _group_members(pgid) if p != os.getpid()]
        if not members or time.monotonic() >= deadline:
            return members
        while members and time.monotonic() < deadline:
            time.sleep(0.001)
            members = [p for p in members if _alive(p)]


def end_orphans(pipeline: str, job_id: str) -> list[int]:
    """Kill (SIGKILL, by process group) the processes still running datums of job ``pipeline@job_id``
    after the pachlet that ran them died (a datum has its own session, so it outlives a kill -9 of
    pachlet); found by their ``PPS_PIPELINE_NAME`` and ``PACH_JOB_ID`` (Linux /proc; elsewhere none).
    Returns the pids ended."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    project, bare_name = split(pipeline)
    wanted = {f"PPS_PIPELINE_NAME={bare_name}".encode(), f"PACH_JOB_ID={job_id}".encode()}
    if project != DEFAULT_PROJECT:
        wanted.add(f"PPS_PROJECT_NAME={project}".encode())
    mine = {os.getpid(), os.getppid()}
    ended = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            env = set((entry / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if wanted <= env:
            pid = int(entry.name)
            with contextlib.suppress(OSError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
                ended.append(pid)
    return ended


class DatumLog:
    """The log of one datum (every attempt and ``errCmd``), redacted as it streams; see the module doc."""

    def __init__(self, path: Path, secrets: Sequence[str], mask: str) -> None:
        self.path = path
        self.secrets = [s for s in secrets if s]
        self.mask = mask
        self._fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), FILE_MODE
        )
        os.fchmod(self._fd, FILE_MODE)
        self._write_lock = threading.Lock()
        self._pipe_w: int | None = None
        self._reader: threading.Thread | None = None
        self._reader_stop = threading.Event()
        self.stragglers: list[int] = []

    # ------------------------------------------------------------------ file-like, for Popen and notes
    def fileno(self) -> int:
        """The write end of a fresh output pipe for the next process (``Popen(stdout=log)``)."""
        self._end_pipe()
        r, w = os.pipe()
        self._pipe_w = w
        self._reader_stop.clear()
        self._reader = threading.Thread(
            target=self._pump, args=(r, StreamRedactor(self.secrets, mask=self.mask)), daemon=True
        )
        self._reader.name = f"pachlet-datum-log-{self.path.stem[:12]}"
        self._reader.start()
        return w

    def write(self, data: bytes) -> int:
        """Append pachlet's own line (e.g. a failed attempt), masked too."""
        self._append(redact_values(data, self.secrets, mask=self.mask))
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered in the process: writes go straight to the file."""

    def _append(self, data: bytes) -> None:
        if not data:
            return
        with self._write_lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]

    def _pump(self, r: int, redactor: StreamRedactor) -> None:
        deadline: float | None = None
        poller = select.poll()
        poller.register(r, select.POLLIN)
        try:
            while True:
                if self._reader_stop.is_set() and deadline is None:
                    deadline = time.monotonic() + DRAIN_SECONDS
                wait = 0.2 if deadline is None else deadline - time.monotonic()
                if wait <= 0:
                    break  # a process outside the group still holds the pipe: stop listening to it
                if not poller.poll(wait * 1000):
                    continue
                chunk = os.read(r, _CHUNK)
                if not chunk:
                    break
                self._append(redactor.feed(chunk))
        except OSError as exc:
            log.warning("datum log %s: reading the output failed: %s", self.path, exc)
        finally:
            self._append(redactor.flush())
            os.close(r)

    def _end_pipe(self) -> None:
        """Close the parent's write end and wait for the reader to see EOF (or give up on it)."""
        if self._pipe_w is not None:
            os.close(self._pipe_w)
            self._pipe_w = None
        if self._reader is not None:
            self._reader_stop.set()
            self._reader.join()
            self._reader = None

    # ------------------------------------------------------------------ the datum's end
    def started(self, proc: Any) -> None:
        """The datum's process (``Popen``) started: ``stop job`` and ``restart datum`` may end it
        (``pachlet.pps.running``)."""
        running.track(self.path, proc)

    def end_process(self, proc: Any | None) -> None:
        """The datum's process (``Popen``, already exited or killed; None if it never started) is over:
        end its process group, report stragglers in the log, drain and close the output pipe."""
        if proc is not None:
            running.untrack(self.path, proc)
            pgid = proc.pid
            members = _lingering_members(pgid)
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
            if members:
                self.stragglers += members
                note = (
                    f"pachlet: ended {len(members)} process(es) the datum left running "
                    f"(pids {', '.join(map(str, sorted(members)))}); their later output is not logged\n"
                )
                self._end_pipe()
                self._append(note.encode())
                log.warning("%s: %s", self.path, note.strip())
                return
        self._end_pipe()

    def close(self) -> None:
        """End the pipe (if a caller did not) and close the file."""
        self._end_pipe()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> DatumLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


MASTER_LOG = "master.jsonl"
"""A pipeline's master log (``logs/<pipeline>/master.jsonl``): one JSON object per line."""


def write_master_line(logs_root: Path, pipeline: str, job_id: str, message: str) -> None:
    """Append a line to the pipeline's master log: what pachd's worker master logs for a job (registry.go
    ``succeedJob``, ``failJob``, ``markJobUnrunnable``, ``killJob``), tagged with the job ID."""
    path = private_dir(logs_root / path_segment(pipeline), top=logs_root) / MASTER_LOG
    line = json.dumps({"ts": datetime.now(UTC).isoformat(), "job": job_id, "message": message}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_master_lines(logs_root: Path, pipeline: str, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The pipeline's master log entries from byte ``offset`` on (complete lines only), and the offset
    after them."""
    lines, offset = read_new_lines(logs_root / path_segment(pipeline) / MASTER_LOG, offset)
    out = []
    for text in lines:
        with contextlib.suppress(ValueError):
            out.append(json.loads(text))
    return out, offset


def read_new_lines(path: Path, offset: int) -> tuple[list[str], int]:
    """The complete lines of a growing file from byte ``offset`` on, and the offset after the last one
    (a file that shrank, e.g. rewritten by a retried job, is read from the start)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < offset:
                offset = 0
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1
    text = data[:end].decode(errors="replace")
    return text.splitlines(), offset + end
