"""Starting and stopping ``pachlet serve``: the gRPC server, the scheduler, the console and the root lock.

``Server`` opens the root (taking the root lock for its whole life), registers the servicers, binds
(127.0.0.1 by default), starts the scheduler and (with ``console_port``) the read-only web console in
a uvicorn thread on the same address, and on ``stop`` (SIGTERM / SIGINT under ``run``) stops the
console, stops accepting calls, lets the running datums finish (the interrupted job stays queued:
nothing half-committed), and releases the lock.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from concurrent import futures
from pathlib import Path
from types import FrameType
from typing import Any

import grpc
from python_pachyderm.proto.v2.admin import admin_pb2_grpc
from python_pachyderm.proto.v2.auth import auth_pb2_grpc
from python_pachyderm.proto.v2.enterprise import enterprise_pb2_grpc
from python_pachyderm.proto.v2.identity import identity_pb2_grpc
from python_pachyderm.proto.v2.license import license_pb2_grpc
from python_pachyderm.proto.v2.pfs import pfs_pb2_grpc
from python_pachyderm.proto.v2.pps import pps_pb2_grpc
from python_pachyderm.proto.v2.transaction import transaction_pb2_grpc
from python_pachyderm.proto.v2.version.versionpb import version_pb2_grpc

from pachlet.api import Pachlet
from pachlet.pps.spout import loopback_address
from pachlet.server import misc
from pachlet.server.pfs import PFSServicer
from pachlet.server.pps import PPSServicer
from pachlet.server.scheduler import DEFAULT_POLL_SECONDS, Scheduler
from pachlet.server.state import ServerState
from pachlet.server.transaction import TransactionInterceptor, TransactionServicer
from pachlet.server.v28 import UnknownMethodHandler, V28Handler

log = logging.getLogger("pachlet.server")

DEFAULT_PORT = 30650
DEFAULT_ADDRESS = "127.0.0.1"
MAX_MESSAGE_BYTES = 64 << 20  # python-pachyderm sends put-file chunks of up to 19 MiB
SHUTDOWN_GRACE_SECONDS = 5.0
DEFAULT_CONSOLE_PORT = 4000
CONSOLE_START_SECONDS = 10.0
SERVE_INFO = "serve.json"
"""Under the root while serving: {"pid", "address"} (HOST:PORT bound), so the CLI on the root talks to it."""
SERVICES = ["pfs_v2.API", "pps_v2.API", "versionpb_v2.API", "admin_v2.API", "transaction_v2.API"]


class Server:
    """A running ``pachlet serve``: call ``start``, then ``stop`` (or ``run`` for both with signals)."""

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        address: str = DEFAULT_ADDRESS,
        port: int = DEFAULT_PORT,
        lock_timeout: float | None = None,
        poll: float = DEFAULT_POLL_SECONDS,
        cron: bool = True,
        max_workers: int = 32,
        console_port: int | None = None,
        console_required: bool = True,
        console_hosts: Sequence[str] = (),
        runtime: str | None = None,
    ) -> None:
        """``runtime``: where datums run (``Pachlet(runtime=...)``). ``console_port`` starts the web console on ``address`` (0: a free port; None: no console).
        If that port cannot be bound, ``start`` fails when ``console_required``, else it goes on
        without the console and ``console_error`` says why. The console answers only to requests whose
        ``Host`` is loopback, ``address`` or one of ``console_hosts``."""
        self.address = address
        self.requested_port = port
        self.port: int | None = None
        self.pachlet = Pachlet(root, timeout=lock_timeout, runtime=runtime)
        self.state = ServerState(self.pachlet)
        self.scheduler = Scheduler(self.state, poll=poll, cron=cron)
        self._max_workers = max_workers
        self._grpc: grpc.Server | None = None
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self.console_requested_port = console_port
        self.console_required = console_required
        self.console_hosts = tuple(console_hosts)
        self.console_port: int | None = None
        self.console_error: str | None = None
        self._console: Any = None  # uvicorn.Server
        self._console_thread: threading.Thread | None = None

    @property
    def root(self) -> Path:
        """The served root."""
        return self.pachlet.root

    @property
    def console_url(self) -> str | None:
        """``http://address:port/`` of the running console, or None."""
        if self.console_port is None:
            return None
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.console_port}/"

    def _bind_console(self) -> socket.socket | None:
        assert self.console_requested_port is not None
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.address, self.console_requested_port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            msg = f"cannot listen on {self.address}:{self.console_requested_port} for the console ({exc.strerror or exc})"
            if self.console_required:
                raise OSError(msg + "; choose another --console-port or pass --no-console") from None
            self.console_error = msg
            log.warning("%s; serving without the console", msg)
            return None
        return sock

    def _start_console(self, sock: socket.socket) -> None:
        import uvicorn

        from pachlet.console.app import create_app

        app = create_app(self.pachlet, address=self.address, hosts=self.console_hosts)
        config = uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="pachlet-console", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + CONSOLE_START_SECONDS
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not server.started:
            server.should_exit = True
            thread.join(2)
            sock.close()
            raise OSError("the console did not start (see the log)")
        self._console, self._console_thread = server, thread
        self.console_port = sock.getsockname()[1]
        log.info("console on %s", self.console_url)

    def _stop_console(self) -> None:
        server, thread = self._console, self._console_thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(SHUTDOWN_GRACE_SECONDS)
        if thread.is_alive():
            server.force_exit = True
            thread.join(SHUTDOWN_GRACE_SECONDS)
        self._console = self._console_thread = None

    def _build(self) -> grpc.Server:
        transactions = TransactionServicer(self.state)
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="pachlet-rpc"),
            interceptors=[TransactionInterceptor(transactions)],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        state = self.state
        pfs_pb2_grpc.add_APIServicer_to_server(PFSServicer(state), server)
        pps_pb2_grpc.add_APIServicer_to_server(PPSServicer(state), server)
        version_pb2_grpc.add_APIServicer_to_server(misc.VersionServicer(), server)
        admin_pb2_grpc.add_APIServicer_to_server(misc.AdminServicer(state), server)
        enterprise_pb2_grpc.add_APIServicer_to_server(misc.EnterpriseServicer(), server)
        auth_pb2_grpc.add_APIServicer_to_server(misc.AuthServicer(), server)
        identity_pb2_grpc.add_APIServicer_to_server(misc.IdentityServicer(), server)
        license_pb2_grpc.add_APIServicer_to_server(misc.LicenseServicer(), server)
        transaction_pb2_grpc.add_APIServicer_to_server(transactions, server)
        misc.add_health(server, misc.health_servicer(SERVICES))
        # the 2.8+ methods (pachyderm-sdk, jupyterlab-pachyderm), then any other method: UNIMPLEMENTED naming it
        server.add_generic_rpc_handlers((V28Handler(state), UnknownMethodHandler()))
        return server

    def start(self) -> int:
        """Bind, start serving, start the console (if asked) and the scheduler; returns the bound port."""
        console_sock: socket.socket | None = None
        server: grpc.Server | None = None
        try:
            server = self._build()
            host = f"[{self.address}]" if ":" in self.address else self.address
            port = server.add_insecure_port(f"{host}:{self.requested_port}")
            if port == 0:
                raise OSError(f"cannot listen on {self.address}:{self.requested_port} (address in use?)")
            if self.console_requested_port is not None:
                console_sock = self._bind_console()
            server.start()
            if console_sock is not None:
                self._start_console(console_sock)
        except BaseException:
            if console_sock is not None:
                console_sock.close()
            if server is not None:
                server.stop(0)
            self.pachlet.close()
            raise
        self._grpc = server
        self.port = port
        self._write_serve_info(host, port)
        self.scheduler.pachd_address = loopback_address(self.address, port)  # spouts reach the server here
        self.scheduler.start()
        log.info("serving root %s on %s:%d", self.root, self.address, port)
        return port

    def _write_serve_info(self, host: str, port: int) -> None:
        connect = (
            "127.0.0.1" if self.address in ("0.0.0.0", "") else "[::1]" if self.address == "::" else host
        )
        info = {"pid": os.getpid(), "address": f"{connect}:{port}"}
        tmp = self.root / (SERVE_INFO + ".tmp")
        tmp.write_text(json.dumps(info) + "\n")
        os.replace(tmp, self.root / SERVE_INFO)

    def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop accepting calls, let in-flight calls end (waits are cancelled), stop the scheduler after
        its running datums, and release the root. Idempotent."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            self._stop_console()
            self.scheduler.stop()
            if self._grpc is not None:
                self._grpc.stop(grace).wait()
            if self.scheduler.is_alive():
                self.scheduler.join()
            (self.root / SERVE_INFO).unlink(missing_ok=True)
            self.pachlet.close()
            self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until ``stop`` completed (or ``timeout``); returns whether it did."""
        return self._stopped.wait(timeout)

    def run(self, *, announce: bool = True) -> int:
        """Start, serve until SIGTERM or SIGINT, stop cleanly; returns the exit status (0). A second
        signal while stopping exits at once (the root stays consistent: unfinished commits are not
        visible and the interrupted job is rerun on the next start)."""
        stop_requested = threading.Event()
        signals = {"count": 0}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            signals["count"] += 1
            if signals["count"] > 1:
                print("pachlet serve: second signal, exiting now", file=sys.stderr, flush=True)
                os._exit(1)
            print(
                f"pachlet serve: {signal.Signals(signum).name} received, finishing the running datums and stopping",
                file=sys.stderr,
                flush=True,
            )
            stop_requested.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            port = self.start()
            if announce:
                print(f"pachlet serve: listening on {self.address}:{port} (root {self.root})", flush=True)
                if self.console_url:
                    print(f"pachlet serve: console on {self.console_url}", flush=True)
                elif self.console_error:
                    print(
                        f"pachlet serve: WARNING: {self.console_error}; no console",
                        file=sys.stderr,
                        flush=True,
                    )
            while not stop_requested.wait(0.5):
                pass
            self.stop()
            print("pachlet serve: stopped", flush=True)
            return 0
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.stop()
