"""Spouts (``spout: {}``) and pipelines without input: no jobs; a spout's user code runs continuously.

As pachd 2.7 (v2.7.6 ``src/server/worker/pipeline/spout/spout.go``: the worker runs the user code once,
until it is cancelled; ``api_server.go`` ``propagateJobs``: "Don't create jobs for spouts";
``spout_test.go`` ``TestSpoutPachctl``: the code writes with ``pachctl put file $PPS_PIPELINE_NAME@master``
into its own output repo, whose first commit is the empty head made at creation):

- creating a spout, or a pipeline version without input, queues no job; the output branch gets an empty
  head commit if it has none (``empty_output_head``);
- under ``pachlet serve`` the ``SpoutSupervisor`` keeps each spout's ``transform.cmd`` running in the
  root's runtime, with what a worker gives its user code to reach pachd: ``PPS_PIPELINE_NAME``,
  ``PPS_PROJECT_NAME``, ``PACHD_ADDRESS`` (``pachlet put file`` goes to the server),
  ``PACHD_PEER_SERVICE_HOST``/``_PORT`` (python-pachyderm's ``Client.new_in_cluster()``) and
  ``PACH_CONFIG`` (a pachctl config naming the server, read by ``python_pachyderm.Client()``); the
  process runs in the host's network (the container runtime: ``--network host``);
- a spout whose code exits is started again, as Kubernetes restarts a worker (after 1 s, doubling up to
  30 s while it keeps exiting within a minute); a new version of the spec restarts it; deleting or
  pausing the pipeline, or stopping the server, kills it. Without ``pachlet serve`` nothing runs a spout.

The output goes to ``logs/<pipeline>/spout/run-<n>.log`` (one file per start, redacted like a datum's).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pachlet.pfs.driver import PFS
from pachlet.pps.datum_log import LOG_MASK, DatumLog
from pachlet.pps.pending_job import JobRunner
from pachlet.pps.pipelines import PipelineRegistry, output_branch
from pachlet.pps.worker import JobContext, start_process
from pachlet.records import PIPELINE_PAUSED
from pachlet.runtimes import DatumView, Launch, WorkerCommand, stdin_bytes

log = logging.getLogger("pachlet.pps.spout")

CONFIG_PATH = "/pfs/.pachyderm/config.json"
"""Where the spout's pachctl config (naming the server) is, as its ``PACH_CONFIG``."""

RESTART_MIN_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
HEALTHY_SECONDS = 60.0
"""A spout that ran this long before exiting restarts after ``RESTART_MIN_SECONDS`` again."""


def empty_output_head(pfs: PFS, norm: Mapping[str, Any], gid: str) -> None:
    """Give the pipeline's output branch an empty finished head commit (in ``gid``) if it has none."""
    name = norm["pipeline"]["name"]
    branch = output_branch(norm)
    if pfs.branch_head(name, branch) is None:
        pfs.start_output_commit(name, branch, gid, [])
        pfs.finish_output_commit(name, gid, {})


def loopback_address(address: str, port: int) -> str:
    """``host:port`` a local process reaches a server bound to ``address`` at (wildcards -> loopback)."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(address, address)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class _Spout:
    version: int
    ctx: JobContext
    proc: subprocess.Popen[bytes] | None = None
    launch: Launch | None = None
    log: DatumLog | None = None
    starts: int = 0
    failures: int = 0
    started_at: float = 0.0
    next_start: float = 0.0


class SpoutSupervisor:
    """Keeps every spout pipeline's user code running (``pachlet serve``'s scheduler calls ``sync``)."""

    def __init__(self, pipelines: PipelineRegistry, runner: JobRunner, pachd_address: str) -> None:
        self.pipelines = pipelines
        self.runner = runner
        self.pachd_address = pachd_address
        self._spouts: dict[str, _Spout] = {}
        self._lock = threading.Lock()

    def pids(self) -> dict[str, int]:
        """Running spouts: pipeline -> pid of its process."""
        with self._lock:
            return {
                n: s.proc.pid for n, s in self._spouts.items() if s.proc is not None and s.proc.poll() is None
            }

    def sync(self) -> None:
        """Start the spouts that should run, restart exited ones (with back-off), end removed ones."""
        wanted = {
            i.name: i
            for i in self.pipelines.list()
            if i.spec.get("spout") is not None and i.state != PIPELINE_PAUSED
        }
        with self._lock:
            for name in list(self._spouts):
                info = wanted.get(name)
                if info is None or info.version != self._spouts[name].version:
                    self._end(self._spouts.pop(name))
            now = time.monotonic()
            for name, info in wanted.items():
                sp = self._spouts.get(name)
                if sp is None:
                    ctx = self.runner.job_context(name, "spout", info.spec)
                    sp = self._spouts[name] = _Spout(version=info.version, ctx=ctx)
                if sp.proc is not None:
                    code = sp.proc.poll()
                    if code is None:
                        continue
                    ran = now - sp.started_at
                    sp.failures = 1 if ran >= HEALTHY_SECONDS else sp.failures + 1
                    delay = min(RESTART_MIN_SECONDS * 2 ** (sp.failures - 1), RESTART_MAX_SECONDS)
                    log.warning("spout %s exited with code %s; restarting in %.0fs", name, code, delay)
                    self._end(
                        sp, note=f"pachlet: spout exited with code {code}; restarting in {delay:.0f}s\n"
                    )
                    sp.next_start = now + delay
                if now >= sp.next_start:
                    self._start(name, sp)

    def stop(self) -> None:
        """Kill every spout's process."""
        with self._lock:
            for sp in self._spouts.values():
                self._end(sp)
            self._spouts.clear()

    def _start(self, name: str, sp: _Spout) -> None:
        ctx = sp.ctx
        root = ctx.scratch_dir / "spout"
        (root / "pfs" / "out").mkdir(parents=True, exist_ok=True)
        config = root / "pfs" / ".pachyderm" / "config.json"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(
            json.dumps(
                {
                    "v2": {
                        "active_context": "pachlet",
                        "contexts": {"pachlet": {"pachd_address": f"grpc://{self.pachd_address}"}},
                    }
                }
            )
        )
        host, _, port = self.pachd_address.rpartition(":")
        env = {
            **ctx.base_env,
            "PPS_PIPELINE_NAME": name,
            "PPS_PROJECT_NAME": "default",
            "PACHD_ADDRESS": f"grpc://{self.pachd_address}",
            "PACHD_PEER_SERVICE_HOST": host.strip("[]"),
            "PACHD_PEER_SERVICE_PORT": port,
            "PACHD_SERVICE_HOST": host.strip("[]"),
            "PACHD_SERVICE_PORT": port,
            "PACH_CONFIG": CONFIG_PATH,
        }
        t = ctx.transform
        command = WorkerCommand(
            cmd=[str(a) for a in (t.get("cmd") or [])],
            stdin=stdin_bytes(t.get("stdin")),
            env=env,
            transform=t,
            pipeline=name,
            needs_network=True,
            host_network=True,
        )
        view = DatumView(root=root, whole_pfs=True)
        sp.starts += 1
        sp.started_at = time.monotonic()
        sp.log = DatumLog(ctx.log_dir / f"run-{sp.starts}.log", ctx.secret_values, LOG_MASK)
        try:
            ctx.runtime.prepare(view, command)
            launch = ctx.runtime.launch(view, command)
            proc = start_process(launch, sp.log)
        except Exception as exc:  # noqa: BLE001 - reported in the spout's log, retried with back-off
            sp.log.write(f"pachlet: could not start the spout: {exc}\n".encode())
            sp.log.close()
            sp.log = None
            sp.failures += 1
            sp.next_start = time.monotonic() + min(
                RESTART_MIN_SECONDS * 2 ** (sp.failures - 1), RESTART_MAX_SECONDS
            )
            return
        if launch.stdin is not None and proc.stdin is not None:
            threading.Thread(target=_feed, args=(proc.stdin, launch.stdin), daemon=True).start()
        sp.proc, sp.launch = proc, launch
        log.info("spout %s started (pid %d, run %d)", name, proc.pid, sp.starts)

    @staticmethod
    def _end(sp: _Spout, note: str = "") -> None:
        proc, launch, lg = sp.proc, sp.launch, sp.log
        sp.proc = sp.launch = sp.log = None
        if proc is not None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            if launch is not None and launch.cleanup:
                subprocess.run(
                    launch.cleanup, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
                )
        if lg is not None:
            lg.end_process(proc)
            if note:
                lg.write(note.encode())
            lg.close()


def _feed(pipe: Any, data: bytes) -> None:
    with contextlib.suppress(OSError):
        pipe.write(data)
        pipe.close()
