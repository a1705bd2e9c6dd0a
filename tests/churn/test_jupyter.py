"""`churn jupyter` (behind `make jupyter`) on `pachlet serve`: JupyterLab with jupyterlab-pachyderm
2.12.2 (from .venv-jupyter) configured through its own PACH_CONFIG, the walkthrough notebook
`notebooks/jupyter_mount.ipynb` executed on a real kernel reading the repos through the extension's
explore and test modes, and the user's ~/.pachyderm/config.json never written."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.pps import pps_pb2

from helpers import REPO_ROOT
from helpers.mini_dag import MINE, OTHER, PREDICT_INPUT, build_dag
from helpers.sdk_venvs import venv_bin
from helpers.served import Served

pytestmark = pytest.mark.e2e


PUBLISH_NOTEBOOK = "publish_shards.ipynb"
PUBLISH_CODE = """from pathlib import Path
shards = sorted(p.name for p in Path("/pfs/churn_score_features").iterdir())
Path("/pfs/out/shards.txt").write_text("\\n".join(shards) + "\\n")
print("published notebook saw", shards)
"""


def write_publish_notebook(path: Path) -> None:
    """A tiny notebook with the extension's publish settings (metadata ``pachyderm_pps``): it lists
    churn_score_features at literal /pfs and writes the list to /pfs/out."""
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "c1",
                "metadata": {},
                "outputs": [],
                "source": PUBLISH_CODE,
            }
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "pachyderm_pps": {
                "config": {
                    "pipeline": {"name": "nb_draft"},
                    "image": "python:3.11-slim",
                    "input_spec": "pfs:\n  repo: churn_score_features\n  glob: /\n",
                    "gpu_mode": "None",
                }
            },
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1))


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
    notebooks = base / "notebooks"
    notebooks.mkdir()
    shutil.copy(REPO_ROOT / "notebooks" / "jupyter_mount.ipynb", notebooks)
    write_publish_notebook(notebooks / PUBLISH_NOTEBOOK)
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
            str(notebooks),
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
    with socket.socket() as s, pytest.raises(OSError):  # SIGTERM to churn jupyter stopped the lab too
        s.connect(("127.0.0.1", port))


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
    assert f"churn_score_features/{MINE}/f.txt" in text and f"churn_score_features/{OTHER}/f.txt" in text
    assert "datum 1 ['churn_model/metrics.json'" in text  # stepped to the next datum
    assert "committed 1970" not in text and "committed 20" in text
    assert "holds ['u1']" in text or "holds ['u2']" in text  # a file of the datum, read
    downloaded = text.rsplit("pfs: ", 1)[-1]  # the datum at PFS_MOUNT_DIR, as /pfs/<input>/...
    assert "churn_model/metrics.json" in downloaded and "churn_score_features/" in downloaded


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]


@pytest.mark.browser
@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (make browser)"
)
def test_panel_in_a_real_browser(lab: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    """Chromium drives JupyterLab: the Pachyderm panel, churn_model@master mounted and metrics.json
    opened (explore mode), then test mode with churn_predict's input spec, a step to the next datum and
    a file of it opened, then a tiny notebook published as a pipeline whose job succeeds on pachlet.
    Screenshots: test artifacts under a tmp dir (printed)."""
    from playwright.sync_api import expect, sync_playwright

    shots = tmp_path_factory.mktemp("jupyter-screenshots")
    print(f"screenshots in {shots}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{lab['url']}lab?token={lab['token']}")
            page.wait_for_selector("#pachyderm-mount", state="attached", timeout=60_000)
            page.wait_for_timeout(1000)
            repo_box = page.get_by_placeholder("project/repo")
            if not repo_box.is_visible():
                page.locator('li[data-id="pachyderm-mount"]').click()
            panel = page.locator("#pachyderm-mount")
            news = page.get_by_role("button", name="No", exact=True)
            if news.is_visible():
                news.click()

            # explore mode: mount churn_model@master, open metrics.json
            repo_box.click()
            panel.get_by_text("default/churn_model", exact=True).click()
            expect(panel).to_contain_text("default/churn_model@master")
            panel.locator(".jp-DirListing-item", has_text="churn_model").dblclick()
            panel.locator(".jp-DirListing-item", has_text="metrics.json").dblclick()
            viewer = page.locator(".jp-RenderedJSON").last
            expect(viewer).to_contain_text("model", timeout=30_000)
            viewer.get_by_text("model", exact=True).click()
            expect(viewer).to_contain_text("roc_auc")
            page.screenshot(path=str(shots / "1-explore-metrics.png"))

            # test mode: churn_predict's input spec, step to the next datum, open a file of it
            panel.get_by_text("Test", exact=True).click()
            panel.get_by_test_id("Datum__inputSpecInput").fill(json.dumps(PREDICT_INPUT))
            panel.get_by_test_id("Datum__loadDatums").click()
            expect(panel.get_by_test_id("Datum__cycler")).to_contain_text("(1/2)", timeout=30_000)
            panel.get_by_test_id("Datum__cyclerRight").click()
            expect(panel.get_by_test_id("Datum__cycler")).to_contain_text("(2/2)")
            panel.locator(".jp-DirListing-item", has_text="churn_score_features").dblclick()
            shard = panel.locator(".jp-DirListing-item", has_text="shard-")
            expect(shard).to_have_count(1)  # one shard per datum
            shard.dblclick()
            panel.locator(".jp-DirListing-item", has_text="f.txt").dblclick()
            editor = page.locator(".jp-FileEditor").last
            expect(editor).to_contain_text("u", timeout=30_000)
            text = editor.inner_text()
            assert "u1" in text or "u2" in text
            page.screenshot(path=str(shots / "2-test-mode-datum.png"))

            # publish: the notebook becomes a pipeline that runs on pachlet and reads literal /pfs
            page.goto(f"{lab['url']}lab/tree/{PUBLISH_NOTEBOOK}?token={lab['token']}")
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            page.wait_for_selector("#pachyderm-mount", state="attached", timeout=60_000)
            page.wait_for_timeout(1000)
            if not panel.is_visible():  # the reload may restore the lab with the sidebar collapsed
                page.locator('li[data-id="pachyderm-mount"]').click()
            publish = panel.get_by_text("Publish", exact=True)
            expect(publish).to_be_visible(timeout=30_000)
            publish.click()
            expect(panel.get_by_test_id("Pipeline__currentNotebookValue")).to_contain_text(PUBLISH_NOTEBOOK)
            panel.get_by_test_id("Pipeline__inputPipelineName").fill("nb_shards")
            panel.get_by_test_id("Pipeline__create_pipeline").click()
            expect(panel.get_by_test_id("Pipeline__responseMessage")).to_contain_text(
                "Create pipeline request sent", timeout=60_000
            )
            page.screenshot(path=str(shots / "3-published.png"))
        finally:
            browser.close()
    client = lab["served"].client()
    next(iter(client.inspect_commit(("nb_shards", "master"), pfs_pb2.CommitState.FINISHED)))
    job = next(iter(client.list_job("nb_shards")))
    assert pps_pb2.JobState.Name(job.state) == "JOB_SUCCESS", job.reason
    assert client.get_file(("nb_shards", "master"), "/shards.txt").read().decode().split() == sorted(
        [MINE, OTHER]
    )
    logs = [m.message for m in client.get_pipeline_logs("nb_shards")]
    assert f"published notebook saw {sorted([MINE, OTHER])}" in logs
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-explore-metrics.png",
        "2-test-mode-datum.png",
        "3-published.png",
    ]
