"""The ``host`` runtime (pachlet's original behaviour, and the fallback where no sandbox works).

The command runs directly on the host, with pachlet's environment (plus the spec's env, secrets and
Pachyderm's variables) and pachlet's working directory unless ``transform.workingDir`` is set. There is
no ``/pfs`` on the host, so every ``/pfs`` prefix in ``transform.cmd``, ``transform.stdin``, env values
and ``workingDir`` is rewritten to the datum's scratch root (secret mount paths likewise). Paths a
program builds in its own code (``open("/pfs/data/x")``, ``pfs/data`` relative to ``/``) do not resolve:
use the ``sandbox`` or ``container`` runtime for those.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pachlet.runtimes.base import PFS_ROOT, DatumView, Launch, WorkerCommand

WARNING = (
    "pachlet: runtime 'host' (no bubblewrap sandbox or container engine usable here): "
    "a literal /pfs path inside a program's code will not resolve"
)


def map_paths(text: str, mapping: Sequence[tuple[str, str]]) -> str:
    """Rewrite absolute path prefixes (``/pfs`` and secret mount paths) found in ``text``."""
    for src, dst in mapping:
        if src in text:
            text = re.sub(r"(?<![\w.\-/])" + re.escape(src) + r"(?=/|\b|$)", dst.replace("\\", "\\\\"), text)
    return text


def path_mapping(view: DatumView) -> list[tuple[str, str]]:
    """``/pfs`` and each secret mount path -> its host directory."""
    mapping = [(PFS_ROOT, str(view.pfs))]
    mapping += [(mp, str(d)) for mp, d in view.secret_dirs.items()]
    return mapping


def interpreter_path(env: Mapping[str, str]) -> str:
    """``PATH`` with the running interpreter's ``bin`` directory first (the venv's console scripts)."""
    pybin = str(Path(sys.executable).parent)
    return pybin + os.pathsep + env.get("PATH", "")


class HostRuntime:
    """Run datums as plain host processes, rewriting ``/pfs`` in the command's strings."""

    name = "host"

    def __init__(self, base_env: Mapping[str, str] | None = None) -> None:
        self.base_env = dict(os.environ if base_env is None else base_env)

    def prepare(self, view: DatumView, command: WorkerCommand) -> None:
        """Nothing to prepare on the host."""

    def launch(self, view: DatumView, command: WorkerCommand) -> Launch:
        """The command itself, paths rewritten, in pachlet's environment plus the worker's."""
        mapping = path_mapping(view)
        env = dict(self.base_env)
        env["PATH"] = interpreter_path(env)
        env.update({k: map_paths(v, mapping) for k, v in command.env.items()})
        stdin = command.stdin
        if stdin is not None:
            stdin = map_paths(stdin.decode(), mapping).encode()
        wd = command.transform.get("workingDir") or None
        return Launch(
            argv=[map_paths(a, mapping) for a in command.cmd],
            env=env,
            cwd=map_paths(wd, mapping) if wd else None,
            stdin=stdin,
        )
