"""Choosing a root's runtime, and the per-root runtime settings (``<root>/runtime.json``).

The runtime is, first found: the facade's ``runtime=`` option (the CLI's ``--runtime``), the
``PACHLET_RUNTIME`` environment variable, the root's ``runtime.json`` ``"runtime"``, else ``auto``:
``sandbox`` where bubblewrap works (Linux with user namespaces), else ``host`` with a one-line warning.
A runtime named explicitly that cannot run here is an error naming why.

``runtime.json`` (all keys optional)::

    {"runtime": "sandbox",                 # host | sandbox | container | auto
     "engine": "podman",                   # container engine (default: podman, else docker)
     "env": {"CHURN_WAREHOUSE_DIR": "/abs/dir"},   # given to every datum (sandbox, container)
     "mounts": ["/abs/dir"],               # host dirs mounted read-write at their own path
     "network": ["pipeline_name"],         # pipelines whose containers get a network
     "user": "1000:1000"}                  # container datums' user when the spec sets none

These are local settings, never part of a spec: the specs stay the cluster's.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pachlet.errors import PachletError
from pachlet.runtimes.base import Runtime
from pachlet.runtimes.container import ContainerRuntime, find_engine
from pachlet.runtimes.host import WARNING, HostRuntime
from pachlet.runtimes.sandbox import SandboxRuntime, bwrap_path, sandbox_problem

RUNTIMES = ("host", "sandbox", "container")
CHOICES = (*RUNTIMES, "auto")
ENV_VAR = "PACHLET_RUNTIME"
SETTINGS_FILE = "runtime.json"

_warned: list[bool] = []


@dataclass
class RuntimeSettings:
    """A root's runtime settings (see the module's docstring)."""

    runtime: str = "auto"
    engine: str = ""
    env: dict[str, str] = field(default_factory=dict)
    mounts: list[str] = field(default_factory=list)
    network: list[str] = field(default_factory=list)
    user: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str) -> RuntimeSettings:
        """Settings from parsed JSON; ``PachletError`` naming ``source`` and the field when invalid."""
        known = {"runtime", "engine", "env", "mounts", "network", "user"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PachletError(f"{source}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        s = cls(
            runtime=str(data.get("runtime") or "auto"),
            engine=str(data.get("engine") or ""),
            env={str(k): str(v) for k, v in (data.get("env") or {}).items()},
            mounts=[str(m) for m in data.get("mounts") or []],
            network=[str(n) for n in data.get("network") or []],
            user=str(data.get("user") or ""),
        )
        if s.runtime not in CHOICES:
            raise PachletError(
                f"{source}: field 'runtime' is {s.runtime!r}; expected one of {', '.join(CHOICES)}"
            )
        for m in s.mounts:
            if not os.path.isabs(m):
                raise PachletError(f"{source}: field 'mounts' entry {m!r} is not an absolute path")
        return s

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)


def load_settings(root: Path) -> RuntimeSettings:
    """A root's settings (defaults when the file is absent)."""
    path = root / SETTINGS_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return RuntimeSettings()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PachletError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PachletError(f"{path}: expected a JSON object")
    return RuntimeSettings.from_dict(data, str(path))


def save_settings(root: Path, settings: RuntimeSettings) -> None:
    """Write a root's settings (atomically)."""
    RuntimeSettings.from_dict(settings.to_dict(), SETTINGS_FILE)
    path = root / SETTINGS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(settings.to_dict(), indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def chosen_name(explicit: str | None, settings: RuntimeSettings, env: Mapping[str, str] | None = None) -> str:
    """The runtime asked for (maybe ``auto``): explicit, else ``$PACHLET_RUNTIME``, else the setting."""
    env = os.environ if env is None else env
    name = explicit or env.get(ENV_VAR) or settings.runtime or "auto"
    if name not in CHOICES:
        where = "--runtime" if explicit else ENV_VAR if env.get(ENV_VAR) else SETTINGS_FILE
        raise PachletError(f"{where}: unknown runtime {name!r}; expected one of {', '.join(CHOICES)}")
    return name


def make_runtime(name: str, settings: RuntimeSettings) -> Runtime:
    """The runtime object for a name (``auto`` resolved); ``PachletError`` when it cannot run here."""
    if name == "auto":
        if sys.platform.startswith("linux") and not sandbox_problem():
            name = "sandbox"
        else:
            if not _warned:
                _warned.append(True)
                print(WARNING, file=sys.stderr)
            return HostRuntime()
    if name == "host":
        return HostRuntime()
    if name == "sandbox":
        problem = sandbox_problem() if sys.platform.startswith("linux") else "bubblewrap needs Linux"
        if problem:
            raise PachletError(f"runtime 'sandbox' cannot run here: {problem}")
        return SandboxRuntime(bwrap=bwrap_path() or "bwrap", env=settings.env, mounts=settings.mounts)
    engine = find_engine(settings.engine or None)
    if engine is None:
        wanted = settings.engine or " or ".join(("podman", "docker"))
        raise PachletError(f"runtime 'container' cannot run here: no {wanted} on PATH")
    return ContainerRuntime(engine, env=settings.env, mounts=settings.mounts, user=settings.user)


def select_runtime(explicit: str | None, root: Path) -> tuple[Runtime, RuntimeSettings]:
    """The runtime a root's jobs use, and the root's settings."""
    settings = load_settings(root)
    return make_runtime(chosen_name(explicit, settings), settings), settings
