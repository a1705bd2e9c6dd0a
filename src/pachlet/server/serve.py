"""Starting and stopping ``pachlet serve``: the gRPC server, the scheduler and the root lock.

``Server`` opens the root (taking the root lock for its whole life), registers the servicers, binds
(127.0.0.1 by default), starts the scheduler, and on ``stop`` (SIGTERM / SIGINT under ``run``) stops
accepting calls, lets the running datums finish (the interrupted job stays queued: nothing
half-committed), and releases the lock.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path
from types import FrameType

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

from pachlet.api import DEFAULT_LOCK_TIMEOUT, Pachlet
from pachlet.server import misc
from pachlet.server.pfs import PFSServicer
from pachlet.server.pps import PPSServicer
from pachlet.server.scheduler import DEFAULT_POLL_SECONDS, Scheduler
from pachlet.server.state import ServerState

log = logging.getLogger("pachlet.server")

DEFAULT_PORT = 30650
DEFAULT_ADDRESS = "127.0.0.1"
MAX_MESSAGE_BYTES = 64 << 20  # python-pachyderm sends put-file chunks of up to 19 MiB
SHUTDOWN_GRACE_SECONDS = 5.0
SERVICES = ["pfs_v2.API", "pps_v2.API", "versionpb_v2.API", "admin_v2.API", "transaction_v2.API"]


class Server:
    """A running ``pachlet serve``: call ``start``, then ``stop`` (or ``run`` for both with signals)."""

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        address: str = DEFAULT_ADDRESS,
        port: int = DEFAULT_PORT,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        poll: float = DEFAULT_POLL_SECONDS,
        cron: bool = True,
        max_workers: int = 32,
    ) -> None:
        self.address = address
        self.requested_port = port
        self.port: int | None = None
        self.pachlet = Pachlet(root, timeout=lock_timeout)
        self.state = ServerState(self.pachlet)
        self.scheduler = Scheduler(self.state, poll=poll, cron=cron)
        self._max_workers = max_workers
        self._grpc: grpc.Server | None = None
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()

    @property
    def root(self) -> Path:
        """The served root."""
        return self.pachlet.root

    def _build(self) -> grpc.Server:
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="pachlet-rpc"),
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
        transaction_pb2_grpc.add_APIServicer_to_server(misc.TransactionServicer(), server)
        misc.add_health(server, misc.health_servicer(SERVICES))
        return server

    def start(self) -> int:
        """Bind, start serving and start the scheduler; returns the bound port."""
        try:
            server = self._build()
            host = f"[{self.address}]" if ":" in self.address else self.address
            port = server.add_insecure_port(f"{host}:{self.requested_port}")
            if port == 0:
                raise OSError(f"cannot listen on {self.address}:{self.requested_port} (address in use?)")
            server.start()
        except BaseException:
            self.pachlet.close()
            raise
        self._grpc = server
        self.port = port
        self.scheduler.start()
        log.info("serving root %s on %s:%d", self.root, self.address, port)
        return port

    def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop accepting calls, let in-flight calls end (waits are cancelled), stop the scheduler after
        its running datums, and release the root. Idempotent."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            self.scheduler.stop()
            if self._grpc is not None:
                self._grpc.stop(grace).wait()
            if self.scheduler.is_alive():
                self.scheduler.join()
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
            while not stop_requested.wait(0.5):
                pass
            self.stop()
            print("pachlet serve: stopped", flush=True)
            return 0
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.stop()
