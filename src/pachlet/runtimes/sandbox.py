"""The ``sandbox`` runtime: the datum runs on the host's interpreter inside a bubblewrap sandbox.

bubblewrap (``bwrap``) gives the process a private mount namespace (in a user namespace, so no root is
needed) whose root is a fresh tmpfs holding:

- every top-level directory of the host, bind-mounted **read-only** (symlinks such as ``/bin`` kept),
  with ``/tmp`` read-write (shared with the host, as on the host runtime), fresh ``/dev`` and ``/proc``;
- ``/pfs/<input>`` read-only and ``/pfs/out`` read-write at their literal paths, and each
  ``transform.secrets[].mountPath`` read-only at its literal path;
- the root settings' ``mounts`` read-write at their own paths (the embedded warehouse, for ingest).

The working directory is ``transform.workingDir``, else ``/`` (so ``pfs/...`` relative paths work, as
in the ``python`` images). The environment is the worker's only (the spec's env, secrets, Pachyderm's
variables) plus what stands for the image's ``ENV``: ``PATH`` (the interpreter's ``bin`` first),
``HOME=/tmp``, ``LANG=C.UTF-8``, the interpreter's ``PYTHONPATH``/``VIRTUAL_ENV`` when pachlet has them,
and the root settings' ``env``. Nothing else of pachlet's environment reaches the datum. The network is
the host's; ``transform.user`` is not applied (the process keeps pachlet's uid).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from pachlet.errors import PachletError
from pachlet.runtimes.base import PFS_ROOT, DatumView, Launch, WorkerCommand
from pachlet.runtimes.host import interpreter_path

SKIP_TOP = frozenset({"proc", "dev", "tmp", "pfs"})
"""Top-level host entries the sandbox does not take from the host."""

INTERPRETER_ENV = ("PYTHONPATH", "VIRTUAL_ENV")
"""Host variables that configure the interpreter the sandbox runs on (the image's ``ENV``)."""


def bwrap_path() -> str | None:
    """The ``bwrap`` executable, or None."""
    return shutil.which("bwrap")


@functools.cache
def sandbox_problem() -> str:
    """Why the sandbox cannot run here ("" when it can): bwrap missing, or user namespaces refused."""
    bwrap = bwrap_path()
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    argv = [bwrap, *root_args(host_top_level()), "--dir", PFS_ROOT, "--unshare-user", "--", "true"]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not run: {exc}"
    if proc.returncode != 0:
        return "bwrap failed: " + (proc.stderr.decode(errors="replace").strip() or f"exit {proc.returncode}")
    return ""


def host_top_level(root: Path = Path("/")) -> list[tuple[str, str | None]]:
    """(name, symlink target or None) of every top-level directory or symlink of the host."""
    entries: list[tuple[str, str | None]] = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name in SKIP_TOP:
            continue
        if entry.is_symlink():
            entries.append((entry.name, os.readlink(entry.path)))
        elif entry.is_dir():
            entries.append((entry.name, None))
    return entries


def root_args(top: Sequence[tuple[str, str | None]]) -> list[str]:
    """bwrap arguments for the host's file system: read-only top level, read-write /tmp, /dev, /proc."""
    args: list[str] = []
    for name, target in top:
        if target is not None:
            args += ["--symlink", target, "/" + name]
        else:
            args += ["--ro-bind", "/" + name, "/" + name]
    return [*args, "--bind", "/tmp", "/tmp", "--dev", "/dev", "--proc", "/proc"]


def secret_mount_args(mount_path: str, host_dir: str, host_root: Path = Path("/")) -> list[str]:
    """bwrap arguments that show ``host_dir`` read-only at ``mount_path`` below a host directory.

    The host's directories are read-only binds, so a mount point that does not exist on the host (a
    secret at ``/etc/db``) cannot be created in them. Then the deepest existing ancestor is rebuilt as
    a tmpfs holding read-only binds of its host entries, the mount point is made in it, and the tmpfs
    is made read-only again, as an image layer would have the directory."""
    target = Path(mount_path)
    if (host_root / mount_path.lstrip("/")).is_dir():
        return ["--ro-bind", host_dir, mount_path]
    ancestor = target.parent
    while not (host_root / str(ancestor).lstrip("/")).is_dir():
        ancestor = ancestor.parent
    base = str(ancestor)
    args = ["--tmpfs", base]
    for entry in sorted(os.scandir(host_root / base.lstrip("/")), key=lambda e: e.name):
        dest = f"{base.rstrip('/')}/{entry.name}"
        if entry.is_symlink():
            args += ["--symlink", os.readlink(entry.path), dest]
        else:
            args += ["--ro-bind-try", entry.path, dest]
    return [*args, "--dir", mount_path, "--ro-bind", host_dir, mount_path, "--remount-ro", base]


def sandbox_env(
    worker_env: Mapping[str, str], host_env: Mapping[str, str], extra: Mapping[str, str]
) -> dict[str, str]:
    """The datum's environment: the image-like base, the root's ``env`` setting, then the worker's."""
    env = {
        "PATH": interpreter_path({"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}),
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
    }
    env.update({k: host_env[k] for k in INTERPRETER_ENV if host_env.get(k)})
    env.update(extra)
    env.update(worker_env)
    return env


class SandboxRuntime:
    """Run datums under bubblewrap with literal ``/pfs`` paths."""

    name = "sandbox"

    def __init__(
        self,
        *,
        bwrap: str = "bwrap",
        env: Mapping[str, str] | None = None,
        mounts: Sequence[str] = (),
        host_env: Mapping[str, str] | None = None,
        top: Sequence[tuple[str, str | None]] | None = None,
    ) -> None:
        self.bwrap = bwrap
        self.extra_env = dict(env or {})
        self.mounts = [str(Path(m).absolute()) for m in mounts]
        self.host_env = dict(os.environ if host_env is None else host_env)
        self._top = list(top) if top is not None else None

    def top(self) -> list[tuple[str, str | None]]:
        """The host's top level, read once."""
        if self._top is None:
            self._top = host_top_level()
        return self._top

    def prepare(self, view: DatumView, command: WorkerCommand) -> None:
        """Nothing to prepare: the sandbox keeps pachlet's uid."""

    def argv_prefix(self, view: DatumView, cwd: str) -> list[str]:
        """The bwrap command line up to (not including) the user's command."""
        top_names = {name for name, _ in self.top()}
        args = [self.bwrap, *root_args(self.top())]
        args += ["--bind", str(view.pfs), PFS_ROOT] if view.whole_pfs else ["--dir", PFS_ROOT]
        for name in view.inputs:
            args += ["--ro-bind", str(view.pfs / name), f"{PFS_ROOT}/{name}"]
        args += ["--bind", str(view.out), f"{PFS_ROOT}/out"]
        for mount_path, host_dir in view.secret_dirs.items():
            first = mount_path.strip("/").split("/", 1)[0]
            if first not in top_names:
                args += ["--dir", mount_path]
                args += ["--ro-bind", str(host_dir), mount_path]
            else:
                args += secret_mount_args(mount_path, str(host_dir))
        for m in self.mounts:
            args += ["--bind", m, m]
        args += ["--chdir", cwd, "--unshare-user", "--unshare-pid", "--unshare-ipc", "--die-with-parent"]
        return [*args, "--"]

    def launch(self, view: DatumView, command: WorkerCommand) -> Launch:
        """bwrap wrapping the command; the environment travels in bwrap's env, not its argv."""
        cwd = str(command.transform.get("workingDir") or "/")
        env = sandbox_env(command.env, self.host_env, self.extra_env)
        exe = command.cmd[0] if command.cmd else ""
        if exe and "/" not in exe and shutil.which(exe, path=env["PATH"]) is None:
            # the sandbox sees the host's directories at their own paths: the host's answer is its answer
            raise PachletError(f"could not start {exe!r}: not found on the sandbox's PATH ({env['PATH']})")
        return Launch(
            argv=[*self.argv_prefix(view, cwd), *command.cmd],
            env=env,
            cwd=None,
            stdin=command.stdin,
        )
