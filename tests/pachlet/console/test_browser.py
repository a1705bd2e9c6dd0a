"""The console end to end: a small churn run on the embedded warehouse, `pachlet serve` with the console,
and headless Chromium (Debian's, through Playwright; no browser download) clicking through the lineage:
DAG -> predict pipeline -> its latest job -> a datum's logs -> the model's metrics -> provenance back to
the ingest commit -> the SQL text; then a score looked up by MSNO. Screenshots go to
test-artifacts/console/ (git-ignored)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import REPO_ROOT

BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts" / "console"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ORDER = [
    "churn_train_queries",
    "churn_train_data",
    "churn_train_clean",
    "churn_train_features",
    "churn_model",
    "churn_score_queries",
    "churn_score_data",
    "churn_score_clean",
    "churn_score_features",
    "churn_predict",
]
SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "snowflakesecret"},
    "stringData": {"PACHYDERM_SQL_PASSWORD": "embedded"},
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (make browser)"
    ),
]


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    """Run a console script of the venv; fail the fixture with its stderr."""
    proc = subprocess.run(
        [str(BIN / args[0]), *args[1:]], env=env, input=stdin, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A churn run (1,500 members) served by `pachlet serve` with the churn console plugin."""
    base = tmp_path_factory.mktemp("console-e2e")
    env = {
        **os.environ,
        "CHURN_HOME": str(base / "churn-home"),
        "PACHLET_ROOT": str(base / "root"),
        "PACHYDERM_SQL_PASSWORD": "embedded",
        # until the entry point is registered in pyproject; harmless after
        "PACHLET_CONSOLE_PLUGINS": "churn=churn.console_plugin",
    }
    env.pop("CHURN_WAREHOUSE_URL", None)
    env.pop("PACHD_ADDRESS", None)
    run(["churn", "warehouse", "init"], env)
    run(["churn", "warehouse", "seed", "--members", "1500", "--seed", "1", "--no-progress"], env)
    (base / "secret.json").write_text(json.dumps(SECRET))
    run(["pachlet", "create", "secret", "-f", str(base / "secret.json")], env)
    # the local target's datums reach the embedded warehouse through the root's runtime settings (the
    # sandbox passes no host environment), as docs/serve.md tells a user to set them
    warehouse = base / "churn-home" / "warehouse"
    run(["pachlet", "runtime", "--env", f"CHURN_WAREHOUSE_DIR={warehouse}", "--mount", str(warehouse)], env)
    specs = [json.loads((REPO_ROOT / "specs" / "local" / f"{name}.json").read_text()) for name in ORDER]
    run(["pachlet", "create", "pipeline", "-f", "-", "--no-wait"], env, stdin=json.dumps(specs))
    run(["pachlet", "run", "cron", "churn_train_queries", "--no-wait"], env)
    run(["pachlet", "run", "cron", "churn_score_queries"], env)

    from pachlet.api import Pachlet

    with Pachlet.open(base / "root", read_only=True) as p:
        predict_job = p.list_jobs("churn_predict")[0]
        assert predict_job.state == "JOB_SUCCESS", predict_job.reason
        shard = p.get_file("churn_predict", "master", "/CHURN_SCORES/shard-00.csv").decode()
        msno = shard.splitlines()[1].split(",")[0]

    port = free_port()
    err = open(base / "serve.err", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(BIN / "pachlet"), "serve", "--port", "0", "--console-port", str(port), "--no-cron"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first, second = proc.stdout.readline(), proc.stdout.readline()
        assert "listening on" in first, (first, (base / "serve.err").read_text())
        m = re.search(r"console on (http://\S+)", second)
        assert m, (second, (base / "serve.err").read_text())
        yield {"url": m.group(1).rstrip("/"), "msno": msno, "predict_job": predict_job.id, "base": base}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        err.close()
    assert proc.returncode == 0, (base / "serve.err").read_text()
    assert "stopped" in out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, served: dict[str, Any]) -> Iterator[Any]:
    """A fresh page that records every request it makes (all must go to the console: no CDN)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    requests: list[str] = []
    errors: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    foreign = [u for u in requests if not u.startswith(served["url"])]
    assert not foreign, f"requests outside the console: {foreign}"
    assert not errors, errors


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot under test-artifacts/console/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_click_through_lineage_from_dag_to_sql(page: Any, served: dict[str, Any]) -> None:
    url = served["url"]
    page.goto(url + "/")
    dag = page.locator("svg.dag")
    assert dag.is_visible()
    predict = page.locator('svg.dag a[data-kind="pipeline"][data-node="churn_predict"]')
    assert "success" in (predict.get_attribute("class") or "")
    assert page.locator('svg.dag [data-kind="egress"]').count() == 1
    shot(page, "01-dag")

    # DAG -> the predict pipeline (it writes CHURN_SCORES) -> its latest job
    predict.click()
    page.wait_for_url(url + "/pipelines/churn_predict")
    assert "CHURN_SCORES" in page.locator("pre.spec").inner_text()
    shot(page, "02-pipeline")
    page.locator("table.jobs tbody tr").first.locator("a.job").click()
    page.wait_for_url(re.compile(r".*/pipelines/churn_predict/jobs/[0-9a-f]{32}$"))
    assert page.url.endswith(served["predict_job"])
    assert page.locator("h1 .state").inner_text() == "success"
    assert page.locator('table.datums tr[data-state="SUCCESS"]').count() == 8
    shot(page, "03-job")

    # filter by state, then a datum's logs
    page.locator('nav.filter a[data-state="FAILED"]').click()
    page.wait_for_url(re.compile(r".*\?state=FAILED$"))
    assert page.locator("table.datums tbody tr[data-state]").count() == 0
    page.go_back()
    page.locator("table.datums a.logs").first.click()
    page.wait_for_url(re.compile(r".*/datums/[0-9a-f]{64}$"))
    logs = page.locator("pre.logs").inner_text()
    assert "churn-predict: shard-" in logs and "rows scored" in logs
    shot(page, "04-datum-logs")

    # the model's metrics (churn plugin)
    page.locator("header.top nav a", has_text="Model").click()
    page.wait_for_url(url + "/churn/model")
    auc = page.locator('table.metrics tr[data-metric="auc"] td').nth(1).inner_text()
    value, interval = auc.split(" ", 1)  # "0.8733 [0.85, 0.89]": the estimate and its bootstrap 95 % interval
    lo, hi = (float(x) for x in interval.strip("[]").split(","))
    assert 0.5 <= lo <= float(value) <= hi <= 1.0
    img = page.locator("img.calibration")
    img.scroll_into_view_if_needed()
    assert page.evaluate("(el) => el.complete && el.naturalWidth > 0", img.element_handle())
    shot(page, "05-model-metrics")

    # provenance back to the ingest commit, then to the query commit and its SQL text
    page.locator("dl.facts a.commit").first.click()
    page.wait_for_url(re.compile(r".*/repos/churn_model/commits/[0-9a-f]{32}$"))
    page.locator('table.lineage tr[data-repo="churn_train_data"] a.commit').first.click()
    page.wait_for_url(re.compile(r".*/repos/churn_train_data/commits/[0-9a-f]{32}$"))
    assert page.locator('table.lineage tr[data-repo="churn_train_queries"]').count() == 1
    shot(page, "06-ingest-commit")
    page.locator('table.lineage tr[data-repo="churn_train_queries"] a.commit').first.click()
    page.wait_for_url(re.compile(r".*/repos/churn_train_queries/commits/[0-9a-f]{32}$"))
    page.locator("table.files a.file", has_text="0000").click()
    page.wait_for_url(re.compile(r".*/files/0000$"))
    sql = page.locator("pre.preview").inner_text()
    assert "churn train query" in sql and "SELECT" in sql and "FROM TRAIN" in sql
    shot(page, "07-ingest-sql")


def test_score_lookup_by_msno(page: Any, served: dict[str, Any]) -> None:
    page.goto(served["url"] + "/churn/scores")
    page.fill("#msno", served["msno"])
    page.click("form.lookup button")
    page.wait_for_url(re.compile(r".*/churn/scores\?msno=.+"))
    assert page.locator("p.banner").count() == 0, page.locator("p.banner").all_inner_texts()
    row = page.locator("table.score tbody td").first.inner_text()
    assert row == served["msno"]
    assert page.locator("pre.sql").count() == 2  # the train and the score ingest queries
    shot(page, "08-score-lineage")
    # the page's URL is shareable: opening it again shows the same lineage
    again = page.url
    page.goto(served["url"] + "/")
    page.goto(again)
    assert page.locator("table.score tbody td").first.inner_text() == served["msno"]
