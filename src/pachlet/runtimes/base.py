"""What every runtime shares: the view of one datum's scratch root and the process a runtime launches.

A runtime turns a datum's *worker view* (the spec's command with literal ``/pfs`` paths, the worker's
environment, ``transform.workingDir``) into one ``Launch``: the argv, environment and working directory
of the process pachlet starts (the user's command itself on the host, or bubblewrap / podman wrapping
it). Runtimes build command lines only; ``pachlet.pps.worker`` starts and ends the processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

PFS_ROOT = "/pfs"
"""Where a Pachyderm worker sees its inputs and output."""


@dataclass(frozen=True)
class DatumView:
    """One datum's scratch root as laid out by the worker.

    ``root/pfs/<input>`` holds each input's files (hard links into the object store: never writable),
    ``root/pfs/out`` the output, and ``secret_dirs`` maps each ``transform.secrets[].mountPath`` to the
    host directory holding its files.
    """

    root: Path
    inputs: tuple[str, ...] = ()
    secret_dirs: Mapping[str, Path] = field(default_factory=dict)
    whole_pfs: bool = False
    """Mount all of ``root/pfs`` at ``/pfs`` (then the inputs read-only over it): datum batching, where
    one process sees datum after datum in the same directories and ``/pfs/.env`` changes per datum."""

    @property
    def pfs(self) -> Path:
        """The host directory that stands for ``/pfs``."""
        return self.root / "pfs"

    @property
    def out(self) -> Path:
        """The host directory that stands for ``/pfs/out``."""
        return self.pfs / "out"


@dataclass(frozen=True)
class Launch:
    """One process to start: argv, its complete environment, working directory (None: inherit), stdin.

    Secret values travel in ``env`` only, never in ``argv`` (argv is visible to every local user).
    """

    argv: list[str]
    env: dict[str, str]
    cwd: str | None = None
    stdin: bytes | None = None
    cleanup: list[str] | None = None
    """A command to run when the process was killed (timeout): e.g. removing a container the engine
    keeps running after its client died."""


@dataclass(frozen=True)
class WorkerCommand:
    """A datum's command as a worker would run it: literal paths, the worker's environment."""

    cmd: list[str]
    stdin: bytes | None
    env: dict[str, str]
    transform: Mapping[str, Any]
    pipeline: str
    needs_network: bool = False
    host_network: bool = False
    """The process must reach a port on the host's loopback (datum batching's worker API)."""


class Runtime(Protocol):
    """Where and how a datum's process runs (``host``, ``sandbox`` or ``container``)."""

    name: str

    def launch(self, view: DatumView, command: WorkerCommand) -> Launch:
        """The process that runs ``command`` against ``view``."""
        ...

    def prepare(self, view: DatumView, command: WorkerCommand) -> None:
        """Make the scratch root usable by the process (e.g. ``/pfs/out`` owned by the image's user)."""
        ...


def stdin_bytes(lines: list[str] | None) -> bytes | None:
    """``transform.stdin`` as the worker feeds it: the lines joined by newlines plus a final newline."""
    return ("\n".join(lines) + "\n").encode() if lines else None


def needs_network(spec: Mapping[str, Any], network_pipelines: frozenset[str] = frozenset()) -> bool:
    """Whether a pipeline's datums get a network (``container`` runtime; the others share the host's).

    A cluster gives every worker a network; pachlet's container runtime gives one only where a datum
    plausibly talks to a service: a pipeline with ``transform.secrets`` (credentials are for something
    remote: the Snowflake ingest), a ``spout`` or ``service``, an ``egress`` to a URL, or a pipeline the
    root's runtime settings name in ``network``. Everything else runs with ``--network none``.
    """
    name = (spec.get("pipeline") or {}).get("name", "")
    transform = spec.get("transform") or {}
    return bool(
        name in network_pipelines
        or transform.get("secrets")
        or spec.get("spout")
        or spec.get("service")
        or (spec.get("egress") or {}).get("URL")
    )
