"""End to end: `churn demo` on the embedded warehouse and pachlet, run as the user runs it (real
subprocesses, real fakesnow, real Jsonnet), then a second run that skips, `churn explain`, an
incremental cron rerun after `churn warehouse advance`, and the notebook on a real Jupyter kernel.

The tests share one demo run and are ordered: the rerun and advance tests build on the earlier state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from churn.stages.sharding import shard_of
from helpers import REPO_ROOT

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
MEMBERS = 1500
SHARDS = 8
AFTER_INGEST = ("churn_score_clean", "churn_score_features", "churn_predict")


def run(
    args: list[str], env: dict[str, str], ok: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a console script of the venv in the project directory."""
    proc = subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if ok and proc.returncode != 0:
        raise AssertionError(
            f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One `churn demo` run in its own CHURN_HOME and pachlet root."""
    base = tmp_path_factory.mktemp("demo")
    env = {
        **os.environ,
        "CHURN_HOME": str(base / "churn-home"),
        "PACHLET_ROOT": str(base / "pachlet-root"),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("PACHD_ADDRESS", None)
    env.pop("CHURN_WAREHOUSE_URL", None)
    env.pop("CHURN_WAREHOUSE_DIR", None)
    first = run(["churn", "demo", "--members", str(MEMBERS)], env)
    return {"env": env, "first": first, "root": base / "pachlet-root"}


@pytest.fixture
def as_demo(demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Point this test process at the demo's warehouse and root (in-process reads)."""
    monkeypatch.setenv("CHURN_HOME", demo["env"]["CHURN_HOME"])
    monkeypatch.setenv("PACHLET_ROOT", demo["env"]["PACHLET_ROOT"])
    return demo


def sql(query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of one query on the (current env's) embedded warehouse."""
    from churn.warehouse import connect

    with connect() as conn:
        cur = conn.cursor()
        cur.execute(query, params)
        return list(cur.fetchall())


def jobs_of(root: Path, global_id: str) -> dict[str, Any]:
    """pipeline -> JobInfo of one global ID."""
    from pachlet.api import Pachlet

    with Pachlet.open(root, read_only=True) as p:
        return {j.pipeline: j for j in p.list_jobs(global_id=global_id)}


def test_first_run_fills_churn_scores_with_one_row_per_score_user(as_demo: dict[str, Any]) -> None:
    out = as_demo["first"].stdout
    assert "top 10 users at risk" in out and "lineage of the score of" in out
    (score_users,) = sql("SELECT COUNT(DISTINCT MSNO) FROM SCORE")[0]
    rows, users, no_lineage = sql(
        "SELECT COUNT(*), COUNT(DISTINCT MSNO), "
        "SUM(IFF(MODEL_COMMIT IS NULL OR GLOBAL_ID IS NULL OR SCORED_AT IS NULL OR MODEL_COMMIT = '', 1, 0)) "
        "FROM CHURN_SCORES"
    )[0]
    assert score_users > 0
    assert rows == users == score_users
    assert no_lineage == 0
    assert f"CHURN_SCORES: {rows:,} rows, one per SCORE user" in out
    # the printed top 10 are the table's 10 highest scores
    top = sql("SELECT MSNO FROM CHURN_SCORES ORDER BY CHURN_PROBABILITY DESC, MSNO LIMIT 10")
    for (msno,) in top:
        assert msno in out
    # the metrics printed are the model's metrics.json
    from pachlet.api import Pachlet

    with Pachlet.open(as_demo["root"], read_only=True) as p:
        metrics = json.loads(p.get_file("churn_model", "master", "/metrics.json"))
    assert f"{metrics['model']['auc']:.4f}" in out
    assert metrics["model"]["auc"] > 0.6


def test_second_run_skips_every_datum_after_ingest(as_demo: dict[str, Any]) -> None:
    before = sql("SELECT MSNO, CHURN_PROBABILITY, GLOBAL_ID FROM CHURN_SCORES ORDER BY MSNO")
    second = run(["churn", "demo", "--members", str(MEMBERS)], as_demo["env"])
    assert "already seeded" in second.stdout
    assert "unchanged" in second.stdout and "created" not in second.stdout and "updated" not in second.stdout
    assert "all" in second.stdout and "datums after ingest were skipped" in second.stdout
    ids = second.stdout.split("jobs of this run (")[1].split(")")[0].split(", ")
    assert len(ids) == 2
    for gid in ids:
        jobs = jobs_of(as_demo["root"], gid)
        for name, job in jobs.items():
            if name.endswith(("_queries", "_data")):
                assert job.data_processed == 1, (name, job)
            else:
                assert job.data_processed == 0 and job.data_skipped == job.data_total > 0, (name, job)
    after = sql("SELECT MSNO, CHURN_PROBABILITY, GLOBAL_ID FROM CHURN_SCORES ORDER BY MSNO")
    assert after == before  # the egress replaced the table with the same rows: no duplicates


def test_explain_traces_a_score_to_its_sql_and_tick(as_demo: dict[str, Any]) -> None:
    msno, gid, model = sql("SELECT MSNO, GLOBAL_ID, MODEL_COMMIT FROM CHURN_SCORES ORDER BY MSNO LIMIT 1")[0]
    out = run(["churn", "explain", msno, "-o", "json"], as_demo["env"])
    info = json.loads(out.stdout)
    assert info["score"]["GLOBAL_ID"] == gid and info["predict_job"]["id"] == gid
    assert info["predict_job"]["state"] == "JOB_SUCCESS"
    shard = f"shard-{shard_of(msno, SHARDS):02d}"
    assert info["feature_shard"]["path"] == f"/{shard}/"
    assert info["predict_datum"]["state"] == "SUCCESS"
    assert info["model"]["commit"] == model and info["model"]["training_job"]["state"] == "JOB_SUCCESS"
    assert info["model"]["metrics"]["model"]["auc"] > 0.5
    ingest = {e["repo"]: e for e in info["ingest"]}
    assert set(ingest) == {"churn_score_data", "churn_train_data"}
    for e in ingest.values():
        tick = e["tick"]["time"]
        assert e["sql"].startswith(f"-- {tick}\n"), e["sql"][:80]
        assert "FROM USER_LOGS" in e["sql"]
    assert "FROM SCORE" in ingest["churn_score_data"]["sql"]
    text = run(["churn", "explain", msno], as_demo["env"]).stdout
    assert f"churn_predict@{gid}" in text and f"churn_model@{model}" in text and "SQL" in text


def test_explain_unknown_msno_is_one_clear_line(as_demo: dict[str, Any]) -> None:
    proc = run(["churn", "explain", "no-such-user"], as_demo["env"], ok=False)
    assert proc.returncode == 1
    assert "no CHURN_SCORES row for MSNO 'no-such-user'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cron_rerun_after_advance_touches_only_the_affected_shard(as_demo: dict[str, Any]) -> None:
    users = [m for (m,) in sql("SELECT DISTINCT MSNO FROM SCORE ORDER BY MSNO")]
    target = shard_of(users[0], SHARDS)
    chosen = [m for m in users if shard_of(m, SHARDS) == target][:3]
    old = dict(sql("SELECT MSNO, GLOBAL_ID FROM CHURN_SCORES"))
    run(["churn", "warehouse", "advance", "--members", ",".join(chosen)], as_demo["env"])
    tick = run(["pachlet", "run", "cron", "churn_score_queries"], as_demo["env"])
    gid = tick.stdout.strip().splitlines()[-1]
    assert len(gid) == 32, tick.stdout
    jobs = jobs_of(as_demo["root"], gid)
    assert jobs["churn_score_data"].data_processed == 1
    for name in AFTER_INGEST:
        job = jobs[name]
        assert job.state == "JOB_SUCCESS", (name, job.reason)
        assert (job.data_processed, job.data_skipped) == (1, SHARDS - 1), (name, job)
    assert "churn_model" not in jobs  # the training branch was not ticked
    new = dict(sql("SELECT MSNO, GLOBAL_ID FROM CHURN_SCORES"))
    assert set(new) == set(old)  # still one row per SCORE user
    changed = {m for m in new if new[m] != old[m]}
    moved = {m for m in changed if shard_of(m, SHARDS) == target}
    assert changed == moved and set(chosen) <= changed  # only the affected shard's rows were recomputed
    assert {new[m] for m in changed} == {gid}
    info = json.loads(run(["churn", "explain", chosen[0], "-o", "json"], as_demo["env"]).stdout)
    assert info["predict_job"]["id"] == gid
    assert info["feature_shard"]["commit"] == gid


def test_notebook_executes_on_a_real_kernel(as_demo: dict[str, Any], tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(REPO_ROOT / "notebooks" / "churn_walkthrough.ipynb", as_version=4)
    os.environ["CHURN_NOTEBOOK_MOUNT"] = str(tmp_path / "mnt")
    try:
        NotebookClient(
            nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(REPO_ROOT)}}
        ).execute()
    finally:
        del os.environ["CHURN_NOTEBOOK_MOUNT"]
    outputs = "\n".join(
        str(o.get("text") or (o.get("data") or {}).get("text/plain", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert not any(
        o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "scores for" in outputs and "SCORE users" in outputs
    assert "churn_predict@" in outputs  # the lineage cell ran
    pngs = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in (o.get("data") or {})
    ]
    assert len(pngs) >= 3  # calibration plot, feature/label plots, score histogram
    assert (tmp_path / "mnt" / "churn_model" / "metrics.json").is_file()
