"""The container runtime for real: ``make image``'s build (cached by the engine between runs), then the
churn clean, features, train and predict stages in ``churn-pachlet:dev`` on fixture data, byte-identical
to the host runtime. Skipped, naming why, where no container engine runs containers here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO_ROOT, churn_dag

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HYBRID_CONF = REPO_ROOT / "images" / "containers-hybrid-cgroups.conf"


def engine_problem() -> str:
    """Why containers cannot run here ("" when they can)."""
    engine = shutil.which("podman") or shutil.which("docker")
    if engine is None:
        return "neither podman nor docker is installed"
    probe = subprocess.run([engine, "info"], capture_output=True, timeout=60, check=False)
    if probe.returncode != 0:
        return f"{engine} info failed: {probe.stderr.decode(errors='replace').strip()[:200]}"
    return ""


@pytest.fixture(scope="module")
def image() -> str:
    """``churn-pachlet:dev`` built by ``images/build.py`` (the engine's layer cache makes reruns fast)."""
    if not os.environ.get("CONTAINERS_CONF") and Path("/sys/fs/cgroup").exists():
        fs = subprocess.run(
            ["stat", "-fc", "%T", "/sys/fs/cgroup"], capture_output=True, text=True
        ).stdout.strip()
        if fs != "cgroup2fs":  # what the Makefile does on such machines; not pachlet's business
            os.environ["CONTAINERS_CONF"] = str(HYBRID_CONF)
    problem = engine_problem()
    if problem:
        pytest.skip(f"container runtime unavailable: {problem}")
    build = subprocess.run(
        [sys.executable, str(REPO_ROOT / "images" / "build.py")], capture_output=True, text=True, timeout=1800
    )
    assert build.returncode == 0, f"image build failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}"
    return "churn-pachlet:dev"


def test_churn_stages_in_the_container_byte_identical_to_host(image: str, tmp_path: Path) -> None:
    data = churn_dag.ingest(tmp_path)
    host = churn_dag.run_stages(tmp_path / "host", "host", data)
    container = churn_dag.run_stages(tmp_path / "container", "container", data)
    assert any(p.endswith(".parquet") for p in host["churn_train_features"]) and host["churn_predict"]
    assert container == host
