"""The ``container`` runtime: the datum runs in the spec's ``transform.image`` with podman or docker.

One ``<engine> run --rm`` per datum attempt:

- ``/pfs/<input>`` mounted read-only (``:ro``; never ``:U`` or writable: input files are hard links
  into pachlet's object store, and a root process in a container would write through them);
- ``/pfs/out`` read-write; before the run pachlet makes it writable by any uid (mode 0777), so an
  image's non-root ``USER`` can write it without ``:U`` (which would chown the scratch root);
- each ``transform.secrets[].mountPath`` read-only; the root settings' ``mounts`` read-write at their
  own paths (a local resource such as the embedded warehouse, never something from the spec);
- ``--network none`` unless the pipeline needs the network (``pachlet.runtimes.base.needs_network``);
- the environment: only the worker's (the spec's env, secrets, Pachyderm's variables) and the root
  settings' ``env``, passed as ``--env NAME`` so values stay out of the command line;
- ``--user`` from ``transform.user``, else the root settings' ``user`` (a local resource's owner, so a
  datum can write a mounted directory), else the image's ``USER``; ``--workdir`` from ``transform.workingDir``, else the image's;
- ``--entrypoint cmd[0]`` (a worker runs ``transform.cmd``, never the image's ENTRYPOINT/CMD);
- ``--name pachlet-<random>``, removed with ``rm -f`` when pachlet kills a timed-out datum (the engine
  would keep the container running after its client died);
- ``--pull=never``: pachlet runs the images ``make image`` built (a machine without a registry works).

Engine quirks of a machine (runc instead of crun, ulimits, cgroup manager) belong in that machine's
``containers.conf`` (``CONTAINERS_CONF``), not here.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping, Sequence

from pachlet.errors import PachletError
from pachlet.runtimes.base import PFS_ROOT, DatumView, Launch, WorkerCommand

ENGINES = ("podman", "docker")
"""Container engines, in the order pachlet looks for them."""


def find_engine(name: str | None = None) -> str | None:
    """The container engine's executable: ``name`` if given, else the first of ``ENGINES`` on PATH."""
    for candidate in (name,) if name else ENGINES:
        path = shutil.which(candidate)
        if path:
            return path
    return None


class ContainerRuntime:
    """Run datums in the spec's image with a podman- or docker-compatible CLI."""

    name = "container"

    def __init__(
        self,
        engine: str,
        *,
        env: Mapping[str, str] | None = None,
        mounts: Sequence[str] = (),
        host_env: Mapping[str, str] | None = None,
        user: str = "",
    ) -> None:
        self.engine = engine
        self.user = user
        self.extra_env = dict(env or {})
        self.mounts = [os.path.abspath(m) for m in mounts]
        self.host_env = dict(os.environ if host_env is None else host_env)

    def prepare(self, view: DatumView, command: WorkerCommand) -> None:
        """``/pfs/out`` writable by the image's user, whatever its uid."""
        os.chmod(view.out, 0o777)

    def run_args(self, view: DatumView, command: WorkerCommand, env_names: Sequence[str]) -> list[str]:
        """``<engine> run ...`` up to and including the image; ``cmd[0]`` is the entrypoint (a worker runs
        ``transform.cmd`` itself, not the image's ENTRYPOINT), ``cmd[1:]`` follow."""
        image = command.transform.get("image") or ""
        if not image:
            raise PachletError(f"pipeline {command.pipeline}: the container runtime needs transform.image")
        args = [self.engine, "run", "--rm", "--pull=never"]
        if command.stdin is not None:
            args.append("-i")
        if command.host_network:
            args += ["--network", "host"]  # the worker API listens on the host's loopback
        elif not command.needs_network:
            args += ["--network", "none"]
        if view.whole_pfs:
            args += ["-v", f"{view.pfs}:{PFS_ROOT}"]
        for name in view.inputs:
            args += ["-v", f"{view.pfs / name}:{PFS_ROOT}/{name}:ro"]
        args += ["-v", f"{view.out}:{PFS_ROOT}/out"]
        for mount_path, host_dir in view.secret_dirs.items():
            args += ["-v", f"{host_dir}:{mount_path}:ro"]
        for m in self.mounts:
            args += ["-v", f"{m}:{m}"]
        user = command.transform.get("user") or self.user
        if user:
            args += ["--user", str(user)]
        wd = command.transform.get("workingDir")
        if wd:
            args += ["--workdir", str(wd)]
        for name in env_names:
            args += ["--env", name]
        return [*args, "--entrypoint", command.cmd[0], str(image)]

    def launch(self, view: DatumView, command: WorkerCommand) -> Launch:
        """The engine's ``run`` with the command; variables reach it through the engine's environment."""
        datum_env = {**self.extra_env, **command.env}
        engine_env = {k: v for k, v in self.host_env.items() if k not in datum_env}
        engine_env.update(datum_env)
        name = f"pachlet-{uuid.uuid4().hex[:16]}"
        run = self.run_args(view, command, sorted(datum_env))
        return Launch(
            argv=[*run[:3], "--name", name, *run[3:], *command.cmd[1:]],
            env=engine_env,
            cwd=None,
            stdin=command.stdin,
            cleanup=[self.engine, "rm", "-f", name],
        )
