"""Datum batching in the sandbox (bubblewrap) and container (podman/docker) runtimes: python-pachyderm's
own ``batch_all_datums`` loop reaches the worker API on the host's loopback and sees each datum at the
literal ``/pfs`` paths, its variables loaded from ``/pfs/.env`` (pachd's TestDatumBatching "Basic" and
"Env"). Skipped, naming the missing tool, where bubblewrap or the container engine cannot run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import REPO_ROOT
from pachlet.api import Pachlet
from pachlet.runtimes.sandbox import sandbox_problem

LOOP = """
import os, pathlib, shutil
from python_pachyderm import batch_all_datums

@batch_all_datums
def datum():
    src = pathlib.Path(os.environ["data"])  # /pfs/data/<file>, from /pfs/.env
    shutil.copy(src, "/pfs/out/" + src.name)
    pathlib.Path("/pfs/out/" + src.name + ".id").write_text(os.environ["PACH_DATUM_ID"])

datum()
"""


def run_batched(p: Pachlet, cmd: list[str], **transform: Any) -> Any:
    p.create_repo("data")
    for i in range(3):
        p.put_file("data", "master", f"/f{i}", f"v{i}\n".encode())
    p.create_pipeline(
        {
            "pipeline": {"name": "b"},
            "input": {"pfs": {"repo": "data", "glob": "/*"}},
            "transform": {"cmd": cmd, "datumBatching": True, **transform},
        }
    )
    job = p.run_until_idle()[-1]
    assert job.state == "JOB_SUCCESS", job.reason
    ids = {d.datum_id for d in p.list_datums("b", job.id)}
    files = {f.path: p.get_file("b", "master", f.path) for f in p.walk_files("b", "master", "/")}
    assert {k: v for k, v in files.items() if not k.endswith(".id")} == {
        f"/f{i}": f"v{i}\n".encode() for i in range(3)
    }
    assert {v.decode() for k, v in files.items() if k.endswith(".id")} == ids
    return job


@pytest.mark.skipif(bool(sandbox_problem()), reason=f"bubblewrap (bwrap) unavailable: {sandbox_problem()}")
def test_sandbox_batch_all_datums(tmp_path: Path) -> None:
    loop = tmp_path / "loop.py"
    loop.write_text(LOOP)
    p = Pachlet(tmp_path / "root", timeout=5, runtime="sandbox")
    try:
        job = run_batched(p, [sys.executable, str(loop)])
        assert job.runtime == "sandbox"
    finally:
        p.close()


def _engine_problem(image: str) -> str:
    engine = shutil.which("podman") or shutil.which("docker")
    if engine is None:
        return "neither podman nor docker is installed"
    probe = subprocess.run([engine, "image", "inspect", image], capture_output=True, timeout=60, check=False)
    if probe.returncode != 0:
        return f"{engine}: no image {image} (make image builds it)"
    return ""


@pytest.mark.slow
def test_container_batch_all_datums(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = "churn-pachlet:dev"
    problem = _engine_problem(image)
    if problem:
        pytest.skip(f"container runtime unavailable: {problem}")
    if not os.environ.get("CONTAINERS_CONF") and Path("/sys/fs/cgroup").exists():
        fs = subprocess.run(
            ["stat", "-fc", "%T", "/sys/fs/cgroup"], capture_output=True, text=True
        ).stdout.strip()
        if fs != "cgroup2fs":  # as the Makefile and tests/pachlet/runtimes/test_container.py do
            monkeypatch.setenv(
                "CONTAINERS_CONF", str(REPO_ROOT / "images" / "containers-hybrid-cgroups.conf")
            )
    p = Pachlet(tmp_path / "root", timeout=5, runtime="container")
    try:
        job = run_batched(p, ["python", "-c", LOOP], image=image)
        assert job.runtime == "container"
    finally:
        p.close()
