"""`churn jupyter` (behind `make jupyter`): JupyterLab with the Pachyderm extension
(``jupyterlab-pachyderm``) pointed at a pachd, and a ``pachlet serve`` started for it when none answers.

The extension reads its pachd from a pachctl config file and prefers ``~/.pachyderm/config.json`` over
``PACHD_ADDRESS``, so the lab gets its own ``PACH_CONFIG`` under ``$CHURN_HOME/jupyter/`` (the user's
file is never read or written), its own ``PFS_MOUNT_DIR`` (where test mode links a datum's files) and
its own Jupyter runtime and config directories.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import grpc

from churn.errors import ChurnError

DEFAULT_PACHD = "localhost:30650"
CONTEXT = "pachlet"
SERVE_START_SECONDS = 30.0
LAB_START_SECONDS = 90.0


class JupyterError(ChurnError):
    """JupyterLab or its pachd could not be started."""


@dataclass(frozen=True)
class LabPaths:
    """Where one lab keeps its state (all under ``$CHURN_HOME/jupyter``)."""

    state: Path

    @property
    def pach_config(self) -> Path:
        """The lab's pachctl config (``PACH_CONFIG``)."""
        return self.state / "config.json"

    @property
    def mount_dir(self) -> Path:
        """The lab's ``PFS_MOUNT_DIR``."""
        return self.state / "pfs"

    @property
    def serve_log(self) -> Path:
        """The log of the ``pachlet serve`` the lab started, if any."""
        return self.state / "pachlet-serve.log"


def lab_paths(churn_home: Path) -> LabPaths:
    """The lab's directories under ``churn_home``, created (0700)."""
    state = churn_home / "jupyter"
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    return LabPaths(state)


def write_pach_config(path: Path, address: str) -> Path:
    """A pachctl config with one active context (``pachlet``) for ``address`` (0600)."""
    url = address if "://" in address else f"grpc://{address}"
    doc = {"v2": {"active_context": CONTEXT, "contexts": {CONTEXT: {"pachd_address": url}}}}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


def pachd_answers(address: str, timeout: float = 2.0) -> bool:
    """Whether a pachd (or pachlet serve) answers the version call at ``address`` (host:port)."""
    from google.protobuf import empty_pb2
    from python_pachyderm.proto.v2.version.versionpb import version_pb2_grpc

    target = address.split("://", 1)[-1].rstrip("/")
    with grpc.insecure_channel(target) as channel:
        try:
            version_pb2_grpc.APIStub(channel).GetVersion(empty_pb2.Empty(), timeout=timeout)
        except grpc.RpcError:
            return False
    return True


def start_serve(root: Path | None, address: str, log: Path) -> subprocess.Popen[bytes]:
    """``pachlet serve`` on ``address``'s port (no console), its output in ``log``; returns once it answers."""
    port = address.rsplit(":", 1)[-1]
    pachlet = shutil.which("pachlet", path=str(Path(sys.executable).parent)) or "pachlet"
    cmd = [pachlet, *(["--root", str(root)] if root else []), "serve", "--port", port, "--no-console"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + SERVE_START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise JupyterError(f"pachlet serve exited with {proc.returncode}; see {log}")
        if pachd_answers(f"localhost:{port}", timeout=0.5):
            return proc
        time.sleep(0.2)
    proc.terminate()
    raise JupyterError(
        f"pachlet serve did not answer on port {port} within {SERVE_START_SECONDS:.0f} s; see {log}"
    )


def lab_env(paths: LabPaths, url: str, token: str) -> dict[str, str]:
    """The lab's environment: its own PACH_CONFIG, PFS_MOUNT_DIR and Jupyter dirs; no PACHD_ADDRESS (the
    config decides) and no PYTHONPATH of ours (the lab's venv has its own packages). Its kernels get
    the lab's URL and token (``CHURN_JUPYTER_URL`` / ``CHURN_JUPYTER_TOKEN``) to call the extension."""
    paths.mount_dir.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PACHD_ADDRESS", "PYTHONPATH")}
    env.update(
        PACH_CONFIG=str(paths.pach_config),
        PFS_MOUNT_DIR=str(paths.mount_dir),
        JUPYTER_RUNTIME_DIR=str(paths.state / "runtime"),
        JUPYTER_CONFIG_DIR=str(paths.state / "config"),
        CHURN_JUPYTER_URL=url,
        CHURN_JUPYTER_TOKEN=token,
    )
    return env


def lab_command(
    jupyter_lab: str, root_dir: Path, notebook: str | None, port: int, token: str, open_browser: bool
) -> list[str]:
    """The ``jupyter-lab`` command line."""
    cmd = [
        jupyter_lab,
        f"--ServerApp.root_dir={root_dir}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
    ]
    if not open_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI VMs run as root
    if notebook:
        cmd.append(notebook)
    return cmd


def wait_for_lab(url: str, token: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Block until the lab's ``/api/status`` answers (``JupyterError`` if it exits or takes too long)."""
    deadline = time.monotonic() + LAB_START_SECONDS
    req = urllib.request.Request(f"{url}api/status", headers={"Authorization": f"token {token}"})
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise JupyterError(f"jupyter-lab exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(req, timeout=2):  # noqa: S310 - our own loopback URL
                return
        except OSError:
            time.sleep(0.3)
    raise JupyterError(f"jupyter-lab did not answer on {url} within {LAB_START_SECONDS:.0f} s; see {log}")


def new_token() -> str:
    """A fresh token for the lab's URL."""
    return secrets.token_hex(16)
