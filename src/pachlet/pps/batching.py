"""Datum batching (``transform.datumBatching: true``) as pachd 2.7 runs it: the user code is started once
per worker and asks for each next datum through the worker API's ``NextDatum`` RPC.

Followed from v2.7.6 ``src/server/worker/pipeline/transform/worker.go`` (``handleDatumSetBatching``),
``status.go`` (``NextDatum``: hand the reported error to the datum loop, block until the next datum is
set up, answer with its environment), ``src/server/worker/server/api_server.go`` and
``src/server/worker/datum/datum.go`` (``/pfs/.env``):

- each worker serves ``pachyderm.worker.Worker`` (python-pachyderm's generated classes) on a free
  loopback port, given to the user code as ``PPS_WORKER_GRPC_PORT``; python-pachyderm's
  ``Client().worker`` / ``batch_all_datums`` and ``pachctl next datum`` reach it at ``localhost``;
- the user code starts with the worker's environment (no datum variables) and is ready once it first
  calls ``NextDatum``; each later call reports the current datum (``error`` empty: success) and blocks
  until the next datum's ``/pfs`` is laid out; the response's ``env`` and ``/pfs/.env`` hold the datum's
  variables (``<input>``, ``<input>_COMMIT``, ``PACH_DATUM_ID``, ``PACH_JOB_ID``, ...);
- a reported error, the user code exiting (exit 0 too: "user code exited prematurely") or a
  ``datumTimeout`` fails the attempt, and the user code is killed and started again; ``datumTries``,
  ``errCmd`` and the datum's record, log, outputs and skipping are those of an unbatched datum;
- when the worker has no datum left, the user code (blocked in ``NextDatum``) is killed.

``parallelismSpec`` gives several workers, each its own process, port and scratch root
``scratch/<job>/<pipeline>/worker-<n>/`` whose ``pfs/`` is emptied and refilled for every datum (the
sandbox and container runtimes mount it whole at ``/pfs``; the host runtime rewrites ``/pfs`` in the
command and in the datum variables). The user code's output goes to the current datum's log, and outside a
datum to ``logs/<pipeline>/<job>/worker-<n>.log``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from python_pachyderm.proto.v2.pps import pps_pb2
from python_pachyderm.proto.v2.worker import worker_pb2, worker_pb2_grpc

from pachlet.errors import PachletError
from pachlet.pps.datum_log import LOG_MASK, DatumLog
from pachlet.pps.datums import Datum
from pachlet.pps.worker import (
    DatumResult,
    JobContext,
    collect_outputs,
    lay_out_inputs,
    spawn_command,
    start_process,
    write_secret_files,
)
from pachlet.records import DATUM_FAILED, DATUM_RECOVERED, DATUM_SUCCESS
from pachlet.redact import StreamRedactor
from pachlet.runtimes import DatumView, HostRuntime, Launch, WorkerCommand, map_paths, stdin_bytes
from pachlet.runtimes.host import path_mapping

PORT_ENV = "PPS_WORKER_GRPC_PORT"
"""The variable naming the worker API's port (pachd's worker sets it; python-pachyderm reads it)."""

ENV_FILE = ".env"
"""``/pfs/.env``: the datum's variables, one ``NAME=value`` a line (pachd's ``common.EnvFileName``)."""

_POLL = 0.1
BIND_ATTEMPTS = 5


class WorkerAPI(worker_pb2_grpc.WorkerServicer):
    """pachd's worker gRPC API for one batched worker."""

    def __init__(self, worker: BatchWorker) -> None:
        self.worker = worker

    def Status(self, request: Any, context: grpc.ServicerContext) -> pps_pb2.WorkerStatus:  # noqa: N802
        """The worker's job and current datum."""
        return pps_pb2.WorkerStatus(
            worker_id=self.worker.name,
            job_id=self.worker.ctx.job_id,
            datum_status=pps_pb2.DatumStatus(data=[]) if self.worker.datum_id else None,
        )

    def Cancel(self, request: worker_pb2.CancelRequest, context: grpc.ServicerContext) -> Any:  # noqa: N802
        """Not supported by pachlet (pachd cancels a datum matching a filter): answers ``success: false``."""
        return worker_pb2.CancelResponse(success=False)

    def NextDatum(self, request: worker_pb2.NextDatumRequest, context: grpc.ServicerContext) -> Any:  # noqa: N802
        """Report the current datum (``error``: its failure) and wait for the next one."""
        env = self.worker.next_datum(request.error, context.is_active)
        if env is None:
            context.abort(grpc.StatusCode.CANCELLED, "the worker has no datum for this process")
        return worker_pb2.NextDatumResponse(env=env)


class _OutputPump:
    """The user code's stdout+stderr: a pipe whose bytes go, redacted, to the log of the moment."""

    def __init__(self, target: DatumLog, secrets: Sequence[str]) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._r, self.w = os.pipe()
        self._redactor = StreamRedactor(secrets, mask=LOG_MASK)
        self._open = True
        self._poller = select.poll()
        self._poller.register(self._r, select.POLLIN)
        self._thread = threading.Thread(target=self._pump, daemon=True, name="pachlet-batch-log")
        self._thread.start()

    def switch(self, target: DatumLog) -> None:
        """Send what follows to ``target``: what the code wrote before (the pipe's content now) goes to
        the current log first, so a line printed before ``NextDatum`` stays with its datum."""
        with self._lock:
            while self._open and select.select([self._r], [], [], 0)[0]:  # not the pump's poller
                if not self._read():
                    break
            self.target.write(self._redactor.flush())
            self.target = target

    def _read(self) -> bool:
        """Move one chunk from the pipe to the current log (the lock held); False at EOF."""
        chunk = os.read(self._r, 65536)
        if not chunk:
            self._open = False
            return False
        self.target.write(self._redactor.feed(chunk))
        return True

    def _pump(self) -> None:
        try:
            while self._open:
                if self._poller.poll(_POLL * 1000):
                    with self._lock:
                        if self._open:
                            self._read()
        except OSError:
            pass
        finally:
            with self._lock:
                self._open = False
                self.target.write(self._redactor.flush())
                os.close(self._r)

    def close_write_end(self) -> None:
        """The child has its copy: the parent's goes."""
        with contextlib.suppress(OSError):
            os.close(self.w)

    def join(self, timeout: float = 2.0) -> None:
        """Wait for the output to drain (a process outside the group may keep the pipe open)."""
        self._thread.join(timeout)


def _empty_dir(d: Path) -> None:
    for entry in d.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


class BatchWorker:
    """One batched worker: its worker API server, its user-code process and its datum loop."""

    def __init__(
        self, ctx: JobContext, index: int, input_names: Sequence[str], env_common: dict[str, str]
    ) -> None:
        self.ctx = ctx
        self.name = f"pachlet-{ctx.runtime.name}-{index}"
        self.root = ctx.scratch_dir / f"worker-{index}"
        self.pfs = self.root / "pfs"
        self.input_names = tuple(dict.fromkeys(input_names))
        self.env_common = env_common
        self.datum_id = ""
        self.port = 0
        self._cv = threading.Condition()
        self._gen = 0  # bumped at every start/stop: NextDatum calls of an ended process get no datum
        self._reports: list[str] = []
        self._offer: list[str] | None = None
        self._closed = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._launch: Launch | None = None
        self._pump: _OutputPump | None = None
        self._server: grpc.Server | None = None
        self._worker_log = DatumLog(ctx.log_dir / f"worker-{index}.log", ctx.secret_values, LOG_MASK)
        self._secret_dirs: dict[str, Path] = {}

    # ------------------------------------------------------------------ the worker API's side
    def next_datum(self, error: str, is_active: Callable[[], bool]) -> list[str] | None:
        """``NextDatum`` (status.go): report ``error`` for the current datum, then block until the next
        datum is laid out; its env, or None when this call's process gets no more datums."""
        with self._cv:
            if self._closed:
                return None
            gen = self._gen
            self._reports.append(error)
            self._cv.notify_all()
            while True:
                if self._closed or self._gen != gen:
                    return None
                if self._offer is not None:
                    env, self._offer = self._offer, None
                    return env
                self._cv.wait(_POLL)
                if not is_active():
                    return None

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> None:
        """Lay out the worker's scratch root and serve the worker API on a free loopback port."""
        if self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)
        for name in (*self.input_names, "out"):
            (self.pfs / name).mkdir(parents=True, exist_ok=True)
        self._secret_dirs = write_secret_files(self.ctx, self.root)
        # python-pachyderm dials localhost:<port>, which may resolve to ::1 first: the port is bound on
        # every loopback address (``localhost``), so no other server on ::1 can answer in our place
        for _ in range(BIND_ATTEMPTS):
            server = grpc.server(
                futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="pachlet-worker-api"),
                options=[("grpc.so_reuseport", 0)],
            )
            worker_pb2_grpc.add_WorkerServicer_to_server(WorkerAPI(self), server)
            try:
                self.port = server.add_insecure_port("localhost:0")
            except RuntimeError:
                self.port = 0
            if self.port:
                break
        if not self.port:
            raise PachletError("datum batching: no free loopback port for the worker API")
        server.start()
        self._server = server

    def close(self) -> None:
        """Kill the user code, stop serving, remove the scratch root."""
        self._stop_user_code()
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        if self._server is not None:
            self._server.stop(grace=0)
        self._worker_log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def _view(self) -> DatumView:
        return DatumView(
            root=self.root, inputs=self.input_names, secret_dirs=self._secret_dirs, whole_pfs=True
        )

    def _command(self, cmd_key: str, stdin_key: str, env: dict[str, str]) -> WorkerCommand:
        t = self.ctx.transform
        return WorkerCommand(
            cmd=[str(a) for a in (t.get(cmd_key) or [])],
            stdin=stdin_bytes(t.get(stdin_key)),
            env=env,
            transform=t,
            pipeline=self.ctx.pipeline,
            needs_network=self.ctx.needs_network,
            host_network=True,
        )

    def _start_user_code(self) -> str:
        """Start the user code and wait for its first ``NextDatum``; "" or why it failed."""
        self._stop_user_code()
        env = {**self.ctx.base_env, **self.env_common, PORT_ENV: str(self.port)}
        command = self._command("cmd", "stdin", env)
        if not command.cmd:
            return "transform.cmd is empty"
        try:
            self.ctx.runtime.prepare(self._view(), command)
            launch = self.ctx.runtime.launch(self._view(), command)
        except PachletError as exc:
            return str(exc)
        pump = _OutputPump(self._worker_log, self.ctx.secret_values)
        try:
            proc = start_process(launch, pump.w)
        except OSError as exc:
            pump.close_write_end()
            return f"could not start {launch.argv[0]!r}: {exc.strerror or exc}"
        pump.close_write_end()
        if launch.stdin is not None and proc.stdin is not None:
            threading.Thread(target=_feed, args=(proc.stdin, launch.stdin), daemon=True).start()
        with self._cv:
            self._gen += 1
            self._reports.clear()
            self._offer = None
        self._proc, self._launch, self._pump = proc, launch, pump
        kind, value = self._wait(None)
        if kind == "report":
            return ""
        return f"error starting user code: {value}"

    def _stop_user_code(self) -> None:
        proc, launch, pump = self._proc, self._launch, self._pump
        self._proc = self._launch = self._pump = None
        with self._cv:
            self._gen += 1
            self._offer = None
            self._cv.notify_all()
        if proc is None:
            return
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if launch is not None and launch.cleanup:
            subprocess.run(launch.cleanup, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        if pump is not None:
            pump.join()

    def _wait(self, deadline: float | None) -> tuple[str, str]:
        """The user code's next move: ("report", error), ("exit", why), ("timeout", why), ("stop", "")."""
        proc = self._proc
        assert proc is not None
        with self._cv:
            while True:
                if self._reports:
                    return "report", self._reports.pop(0)
                code = proc.poll()
                if code is not None:
                    cmd0 = str((self.ctx.transform.get("cmd") or ["?"])[0])
                    why = "user code exited prematurely" if code == 0 else f"{cmd0} exited with code {code}"
                    return "exit", f"error running user code: {why}"
                if self.ctx.stop.is_set():
                    return "stop", ""
                if deadline is not None and time.monotonic() >= deadline:
                    return "timeout", f"datum timed out after {self.ctx.timeout:g}s"
                self._cv.wait(_POLL)

    # ------------------------------------------------------------------ datums
    def _lay_out(self, datum: Datum) -> tuple[list[str], dict[str, tuple[str, int]], int]:
        """Empty ``pfs/`` and lay out ``datum`` there; (its env as ``NAME=value``, placeholders, bytes)."""
        keep = {*self.input_names, "out"}
        for entry in self.pfs.iterdir():
            if entry.name in keep and entry.is_dir() and not entry.is_symlink():
                _empty_dir(entry)  # a mount point: emptied, never replaced
            elif entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        lay = lay_out_inputs(self.ctx, datum, self.pfs, base_env={})
        env = {**lay.env, "PACH_DATUM_ID": datum.id, **self.env_common}
        if isinstance(self.ctx.runtime, HostRuntime):
            mapping = path_mapping(self._view())
            env = {k: map_paths(v, mapping) for k, v in env.items()}
        lines = [f"{k}={v}" for k, v in env.items()]
        (self.pfs / ENV_FILE).write_text("".join(line + "\n" for line in lines))
        return lines, lay.placeholders, lay.download

    def run_datum(self, datum: Datum) -> DatumResult:
        """Process one datum through the running user code (started or restarted as needed)."""
        ctx = self.ctx
        started = time.monotonic()
        log_path = ctx.log_dir / f"{datum.id}.log"
        attempts, state, reason = 0, DATUM_FAILED, ""
        outputs: list[tuple[str, str, int]] = []
        self.datum_id = datum.id
        with DatumLog(log_path, ctx.secret_values, LOG_MASK) as log:
            if self._pump is not None:
                self._pump.switch(log)
            env_lines, placeholders, download = self._lay_out(datum)
            while attempts < ctx.tries and not ctx.stop.is_set():
                attempts += 1
                if attempts > 1:
                    _empty_dir(self.pfs / "out")
                why = "" if self._proc is not None and self._proc.poll() is None else self._start_user_code()
                if ctx.stop.is_set():
                    break
                if self._pump is not None:
                    self._pump.switch(log)
                if not why:
                    with self._cv:
                        self._offer = env_lines
                        self._cv.notify_all()
                    deadline = time.monotonic() + ctx.timeout if ctx.timeout else None
                    kind, value = self._wait(deadline)
                    if kind == "stop":
                        break
                    if kind == "report" and not value:
                        state, reason = DATUM_SUCCESS, ""
                        break
                    why = value
                reason = why
                log.write(f"pachlet: attempt {attempts}/{ctx.tries} failed: {reason}\n".encode())
                self._stop_user_code()  # pachd restarts the user code after any error
            if state != DATUM_SUCCESS and ctx.transform.get("errCmd") and not ctx.stop.is_set():
                env = dict(ctx.base_env)
                for line in env_lines:
                    k, _, v = line.partition("=")
                    env[k] = v
                code, _ = spawn_command(
                    ctx.runtime, self._view(), self._command("errCmd", "errStdin", env), log, ctx.timeout
                )
                if code == 0:
                    state = DATUM_RECOVERED
            if state == DATUM_SUCCESS:
                outputs = collect_outputs(ctx.store, self.pfs / "out", placeholders)
            if self._pump is not None:
                self._pump.switch(self._worker_log)
        self.datum_id = ""
        return DatumResult.ended(datum.id, state, outputs, started, attempts, reason, log_path, download)


def _feed(pipe: Any, data: bytes) -> None:
    with contextlib.suppress(OSError):
        pipe.write(data)
        pipe.close()


def run_batched(
    ctx: JobContext,
    to_run: Sequence[Datum],
    results: dict[str, DatumResult],
    env_common: dict[str, str],
    report: Callable[[], None],
) -> None:
    """``run_datums`` for ``datumBatching``: ``ctx.parallelism`` workers, each one user-code process that
    takes datums one after another from a shared queue; stops taking datums once ``ctx.stop`` is set."""
    if not to_run:
        return
    names = [inp.name for d in to_run for inp in d.inputs]
    lock = threading.Lock()
    it: Iterator[Datum] = iter(to_run)

    def take() -> Datum | None:
        with lock:
            return None if ctx.stop.is_set() else next(it, None)

    def work(index: int, sink: Callable[[DatumResult], None]) -> None:
        worker = BatchWorker(ctx, index, names, env_common)
        try:
            worker.open()
            while (d := take()) is not None:
                # a core of the budget all running jobs share, per datum (the user code's start-up is
                # the first datum's): between datums a higher-priority job's datum may take it
                with ctx.core():
                    result = worker.run_datum(d)
                sink(result)
        finally:
            worker.close()

    def file(r: DatumResult) -> None:
        results[r.datum_id] = r
        report()

    par = min(ctx.parallelism, len(to_run))
    if par <= 1:
        work(0, file)
        return
    done: queue.Queue[DatumResult] = queue.Queue()  # results are filed (and reported) on this thread
    with futures.ThreadPoolExecutor(max_workers=par, thread_name_prefix="pachlet-batch") as pool:
        running = [pool.submit(work, i, done.put) for i in range(par)]
        while True:
            try:
                file(done.get(timeout=_POLL))
            except queue.Empty:
                if all(f.done() for f in running) and done.empty():
                    break
        for f in running:
            f.result()
