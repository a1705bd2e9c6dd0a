"""PPS datum tasks (pachd's worker.go): running one datum: a scratch root laid out like a worker's ``/pfs``, the user's command as a
subprocess, retries, timeout, ``errCmd``, and collection of ``/pfs/out`` into the object store.

Layout of a datum's scratch root ``scratch/<job id>/<datum id>/``::

    pfs/<input name>/<repo path>   input files, hard-linked from the object store (mode 0444)
    pfs/out/                       the datum's output
    secrets/<mount path>           secret files for ``transform.secrets[].mountPath``

The job's runtime (``pachlet.runtimes``: host, sandbox or container) turns the worker's view of a datum
(literal ``/pfs`` paths, the worker's environment) into the process started here: the ``sandbox`` and
``container`` runtimes mount the scratch root at the literal ``/pfs``; the ``host`` runtime rewrites
``/pfs`` prefixes in ``transform.cmd``, ``transform.stdin`` and env values to ``<scratch root>/pfs``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pachlet.errors import PachletError
from pachlet.pps.datum_log import LOG_MASK, DatumLog, private_dir, write_private
from pachlet.pps.datums import Datum
from pachlet.records import DATUM_FAILED, DATUM_RECOVERED, DATUM_SUCCESS
from pachlet.runtimes import DatumView, HostRuntime, Launch, Runtime, WorkerCommand, stdin_bytes
from pachlet.store import Store


@dataclass
class JobContext:
    """Everything the datums of one job share."""

    pipeline: str
    job_id: str
    transform: dict[str, Any]
    base_env: dict[str, str]
    secret_files: dict[str, bytes]  # mount path relative file -> content
    secret_values: list[str]
    tries: int
    timeout: float | None
    accept: frozenset[int]
    store: Store
    log_dir: Path
    scratch_dir: Path
    stop: threading.Event
    mount_paths: list[str] = field(default_factory=list)
    parallelism: int = 1
    runtime: Runtime = field(default_factory=HostRuntime)
    needs_network: bool = False
    core: Callable[[], AbstractContextManager[None]] = nullcontext
    """One core of the budget all running jobs share (``pps.scheduler.CoreBudget.core``), held while a
    datum runs."""


@dataclass
class DatumResult:
    """What running one datum produced."""

    datum_id: str
    state: str
    outputs: list[tuple[str, str, int]]
    duration: float
    attempts: int
    reason: str
    logs_path: str
    download_bytes: int = 0
    upload_bytes: int = 0

    @classmethod
    def ended(
        cls,
        datum_id: str,
        state: str,
        outputs: list[tuple[str, str, int]],
        started: float,
        attempts: int,
        reason: str,
        logs_path: Path,
        download_bytes: int,
    ) -> DatumResult:
        """The result of a datum that ran from ``started`` (``time.monotonic()``) until now."""
        return cls(
            datum_id=datum_id,
            state=state,
            outputs=outputs,
            duration=time.monotonic() - started,
            attempts=attempts,
            reason=reason,
            logs_path=str(logs_path),
            download_bytes=download_bytes,
            upload_bytes=sum(size for _, _, size in outputs),
        )


def start_process(launch: Launch, stdout: Any) -> subprocess.Popen[bytes]:
    """Start a runtime's process: output and errors to ``stdout``, in its own process group (so the
    datum, worker or spout ends with every process it started); raises ``OSError``."""
    return subprocess.Popen(
        launch.argv,
        stdin=subprocess.PIPE if launch.stdin is not None else subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        env=launch.env,
        cwd=launch.cwd,
        start_new_session=True,
    )


def _popen_run(launch: Launch, log: DatumLog, timeout: float | None) -> tuple[int | None, str]:
    """Run a launch; (return code, "") or (None, reason) when it could not run or timed out."""
    try:
        proc = start_process(launch, log)  # ended with the datum (DatumLog.end_process)
    except OSError as exc:
        log.end_process(None)
        return None, f"could not start {launch.argv[0]!r}: {exc.strerror or exc}"
    log.started(proc)  # stop job / restart datum may end it (pachlet.pps.running)
    try:
        proc.communicate(launch.stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        proc.wait()
        return None, f"datum timed out after {timeout:g}s"
    finally:
        log.end_process(proc)  # no process of the datum outlives it; its output is all in the log
    return proc.returncode, ""


def spawn_command(
    runtime: Runtime, view: DatumView, command: WorkerCommand, log: Any, timeout: float | None
) -> tuple[int | None, str]:
    """Start a datum's command through the job's runtime (see ``_popen_run``)."""
    try:
        runtime.prepare(view, command)
        launch = runtime.launch(view, command)
    except PachletError as exc:
        return None, str(exc)
    code, why = _popen_run(launch, log, timeout)
    if code is None and launch.cleanup:
        subprocess.run(launch.cleanup, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return code, why


def _input_object(
    full: Path, pfs_dir: Path, placeholders: dict[str, tuple[str, int]]
) -> tuple[str, int] | None:
    """The input object an output file stands for when it is (or lies under) a symlink to an
    ``emptyFiles`` input's file: datum.go ``handleSymlinks`` copies the PFS file (its content) instead of
    uploading the empty placeholder. The target is matched as a host path or as a literal ``/pfs/...``."""
    if not placeholders:
        return None
    found = placeholders.get(os.path.realpath(full))
    if found is None and full.is_symlink():
        target = os.readlink(full)
        if target.startswith("/pfs/"):
            found = placeholders.get(os.path.realpath(pfs_dir / target[len("/pfs/") :]))
    return found


def collect_outputs(
    store: Store, out_dir: Path, placeholders: dict[str, tuple[str, int]] | None = None
) -> list[tuple[str, str, int]]:
    outputs: list[tuple[str, str, int]] = []
    for dirpath, dirnames, filenames in os.walk(out_dir, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            rel = "/" + full.relative_to(out_dir).as_posix()
            obj = _input_object(full, out_dir.parent, placeholders or {})
            if obj is not None:
                digest, size = obj
            elif full.is_symlink() or not full.is_file():
                if not full.exists():
                    continue  # dangling symlink: Pachyderm uploads nothing for it
                digest, size = store.put_path(full.resolve())
            else:
                digest, size = store.put_path(full, move=True)
            outputs.append((rel, digest, size))
    return outputs


@dataclass
class DatumLayout:
    """What laying out one datum's inputs under ``pfs/`` gave: the worker's env for it (``ctx.base_env``
    plus the input variables), the input names with files, ``emptyFiles`` placeholders, bytes linked."""

    env: dict[str, str]
    names: list[str]
    placeholders: dict[str, tuple[str, int]]
    download: int


def lay_out_inputs(
    ctx: JobContext, datum: Datum, pfs: Path, base_env: dict[str, str] | None = None
) -> DatumLayout:
    """Link a datum's input files under ``pfs/<input name>/`` (directories are created as needed); the
    layout's env is ``base_env`` (default ``ctx.base_env``) plus the datum's input variables."""
    download = 0
    env = dict(ctx.base_env if base_env is None else base_env)
    names: list[str] = []
    placeholders: dict[str, tuple[str, int]] = {}  # emptyFiles placeholder -> the PFS file's object
    for inp in datum.inputs:
        base = pfs / inp.name
        if inp.files:
            base.mkdir(parents=True, exist_ok=True)
            names.append(inp.name)
        made: set[Path] = {base}
        for f in inp.files:
            dest = base / f.path.lstrip("/")
            if dest.parent not in made:
                dest.parent.mkdir(parents=True, exist_ok=True)
                made.add(dest.parent)
            if inp.empty_files:
                dest.touch()
                placeholders[os.path.realpath(dest)] = (f.hash, f.size)
            else:
                ctx.store.link_object(f.hash, dest)
                download += f.size
        env[inp.name] = "/pfs/" + inp.name + inp.path.rstrip("/")
        env[f"{inp.name}_COMMIT"] = inp.commit_id
        if inp.join_on:
            env[f"PACH_DATUM_{inp.name}_JOIN_ON"] = inp.join_on
        if inp.group_by:
            env[f"PACH_DATUM_{inp.name}_GROUP_BY"] = inp.group_by
    return DatumLayout(env=env, names=names, placeholders=placeholders, download=download)


def write_secret_files(ctx: JobContext, root: Path) -> dict[str, Path]:
    """Write the job's ``mountPath`` secret files under ``root/secrets``; mount path -> host directory."""
    if not ctx.secret_files:
        return {}
    sroot = root / "secrets"
    for rel, content in ctx.secret_files.items():
        p = sroot / rel.lstrip("/")
        private_dir(p.parent, top=sroot)  # 0700 dirs, 0600 files: the values are for this user only
        write_private(p, content)
    return {mp: sroot / mp.lstrip("/") for mp in ctx.mount_paths}


def run_datum(ctx: JobContext, datum: Datum, env_extra: dict[str, str]) -> DatumResult:
    """Run one datum to completion, with retries and errCmd."""
    started = time.monotonic()
    root = ctx.scratch_dir / datum.id
    if root.exists():
        shutil.rmtree(root, ignore_errors=True)
    pfs = root / "pfs"
    out = pfs / "out"
    out.mkdir(parents=True)
    lay = lay_out_inputs(ctx, datum, pfs)
    download, env, names, placeholders = lay.download, lay.env, lay.names, lay.placeholders
    secret_dirs = write_secret_files(ctx, root)
    env.update(env_extra)
    view = DatumView(root=root, inputs=tuple(dict.fromkeys(names)), secret_dirs=secret_dirs)
    t = ctx.transform

    def launch_of(cmd_key: str, stdin_key: str) -> WorkerCommand:
        return WorkerCommand(
            cmd=[str(a) for a in (t.get(cmd_key) or [])],
            stdin=stdin_bytes(t.get(stdin_key)),
            env=env,
            transform=t,
            pipeline=ctx.pipeline,
            needs_network=ctx.needs_network,
        )

    main = launch_of("cmd", "stdin")
    cmd = main.cmd
    log_path = ctx.log_dir / f"{datum.id}.log"
    attempts = 0
    reason = ""
    state = DATUM_FAILED
    outputs: list[tuple[str, str, int]] = []
    with DatumLog(log_path, ctx.secret_values, LOG_MASK) as log:  # 0600, redacted as it streams
        if not cmd:
            reason = "transform.cmd is empty"
        while cmd and attempts < ctx.tries and not ctx.stop.is_set():
            attempts += 1
            if attempts > 1:
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir(parents=True)
            code, why = spawn_command(ctx.runtime, view, main, log, ctx.timeout)
            if code is not None and (code == 0 or code in ctx.accept):
                state, reason = DATUM_SUCCESS, ""
                break
            reason = why or f"{cmd[0]} exited with code {code}"
            log.write(f"pachlet: attempt {attempts}/{ctx.tries} failed: {reason}\n".encode())
            log.flush()
        if state != DATUM_SUCCESS and t.get("errCmd") and not ctx.stop.is_set():
            code, why = spawn_command(ctx.runtime, view, launch_of("errCmd", "errStdin"), log, ctx.timeout)
            if code == 0:
                state = DATUM_RECOVERED
    if state == DATUM_SUCCESS:
        outputs = collect_outputs(ctx.store, out, placeholders)
    shutil.rmtree(root, ignore_errors=True)
    return DatumResult.ended(datum.id, state, outputs, started, attempts, reason, log_path, download)


def run_datums(
    ctx: JobContext,
    to_run: Sequence[Datum],
    results: dict[str, DatumResult],
    env_common: dict[str, str],
    report: Callable[[], None],
) -> None:
    """Run datums (``ctx.parallelism`` at a time, each holding a core of ``ctx.core``), filing each result in ``results`` as it ends and
    calling ``report`` after each; stops submitting once ``ctx.stop`` is set."""

    def one(d: Datum) -> DatumResult:
        with ctx.core():
            return run_datum(ctx, d, {**env_common, "PACH_DATUM_ID": d.id})

    par = ctx.parallelism
    if par <= 1:
        for d in to_run:
            if ctx.stop.is_set():
                break
            results[d.id] = one(d)
            report()
        return
    with ThreadPoolExecutor(max_workers=par, thread_name_prefix="pachlet-datum") as pool:
        it = iter(to_run)
        running: set[Future[DatumResult]] = set()
        while True:
            while len(running) < par * 2 and not ctx.stop.is_set():
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
