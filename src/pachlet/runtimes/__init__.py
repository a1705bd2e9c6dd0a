"""Where a datum's process runs: ``host``, ``sandbox`` (bubblewrap) or ``container`` (podman/docker).

``pachlet.pps.worker`` lays out a datum's scratch root and asks the job's runtime for the process
(``Runtime.launch``); the runtime is chosen per root or per command (``pachlet.runtimes.config``).
"""

from pachlet.runtimes.base import DatumView, Launch, Runtime, WorkerCommand, needs_network, stdin_bytes
from pachlet.runtimes.config import (
    CHOICES,
    ENV_VAR,
    RUNTIMES,
    RuntimeSettings,
    load_settings,
    save_settings,
    select_runtime,
)
from pachlet.runtimes.container import ContainerRuntime
from pachlet.runtimes.host import HostRuntime, map_paths
from pachlet.runtimes.sandbox import SandboxRuntime

__all__ = [
    "CHOICES",
    "ENV_VAR",
    "RUNTIMES",
    "ContainerRuntime",
    "DatumView",
    "HostRuntime",
    "Launch",
    "Runtime",
    "RuntimeSettings",
    "SandboxRuntime",
    "WorkerCommand",
    "load_settings",
    "map_paths",
    "needs_network",
    "save_settings",
    "select_runtime",
    "stdin_bytes",
]
