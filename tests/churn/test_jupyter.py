"""`churn jupyter` (behind `make jupyter`) on `pachlet serve`: JupyterLab with jupyterlab-pachyderm
2.12.2 (from .venv-jupyter) configured through its own PACH_CONFIG, the walkthrough notebook
`notebooks/jupyter_mount.ipynb` executed on a real kernel reading the repos through the extension's
explore and test modes, and the user's ~/.pachyderm/config.json never written."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import REPO_ROOT
from helpers.mini_dag import MINE, OTHER, build_dag
from helpers.sdk_venvs import venv_bin
from helpers.served import Served

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The mini DAG served, and `churn jupyter` on it (its own HOME, so a write there would show)."""
    jupyter_lab = venv_bin("sdk210", "jupyter-lab")
    base = tmp_path_factory.mktemp("jupyter")
    build_dag(base / "root")
    served = Served(base / "root")
    port, token = free_port(), "churn-test-token"
    env = {**os.environ, "HOME": str(base / "home"), "CHURN_HOME": str(base / "churn-home")}
    env.pop("PACH_CONFIG", None)
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("churn")),
            "jupyter",
            "--pachd",
            served.address,
            "--port",
            str(port),
            "--token",
            token,
            "--no-browser",
            "--notebooks",
            str(REPO_ROOT / "notebooks"),
            "--jupyter",
            str(jupyter_lab),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if "JupyterLab on" not in line:
        proc.kill()
        _, err = proc.communicate(timeout=30)
        served.stop()
        raise AssertionError(f"churn jupyter did not start: {line!r} {err}")
    yield {"url": f"http://127.0.0.1:{port}/", "token": token, "base": base, "served": served, "line": line}
    proc.terminate()
    proc.communicate(timeout=60)
    served.stop()


def test_lab_has_its_own_pach_config(lab: dict[str, Any]) -> None:
    config = lab["base"] / "churn-home" / "jupyter" / "config.json"
    doc = json.loads(config.read_text())
    assert (
        doc["v2"]["contexts"][doc["v2"]["active_context"]]["pachd_address"]
        == f"grpc://{lab['served'].address}"
    )
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert not (lab["base"] / "home" / ".pachyderm").exists()  # the user's config is never written
    assert str(config) in lab["line"]


def test_walkthrough_reads_through_the_extension(lab: dict[str, Any], tmp_path: Path) -> None:
    """The notebook on a real kernel: explore mode (churn_model@master, metrics.json), test mode
    (churn_predict's input: two datums, a file of each, commit times not 1970), the datum at /pfs."""
    nbconvert = venv_bin("sdk210", "jupyter-nbconvert")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(CHURN_JUPYTER_URL=lab["url"], CHURN_JUPYTER_TOKEN=lab["token"], HOME=str(lab["base"] / "home"))
    proc = subprocess.run(
        [
            str(nbconvert),
            "--to",
            "notebook",
            "--execute",
            "--output-dir",
            str(tmp_path),
            str(REPO_ROOT / "notebooks" / "jupyter_mount.ipynb"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-1500:]
    nb = json.loads((tmp_path / "jupyter_mount.ipynb").read_text())
    text = "\n".join(
        "".join(o.get("text", ""))
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
    )
    assert "churn_model, churn_predict" in text
    assert "churn_model@master: ['metrics.json']" in text and '"roc_auc": 0.75' in text
    assert "datums: 2" in text
    assert f"churn_score_features/{MINE}/f.csv" in text and f"churn_score_features/{OTHER}/f.csv" in text
    assert "datum 1 ['churn_model/metrics.json'" in text  # stepped to the next datum
    assert "committed 1970" not in text and "committed 20" in text
    assert "holds ['u1']" in text or "holds ['u2']" in text  # a file of the datum, read
    downloaded = text.rsplit("pfs: ", 1)[-1]  # the datum at PFS_MOUNT_DIR, as /pfs/<input>/...
    assert "churn_model/metrics.json" in downloaded and "churn_score_features/" in downloaded
