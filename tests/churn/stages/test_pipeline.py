"""Each stage as a subprocess with /pfs-style arguments, on the embedded warehouse seeded with the
generator: queries -> ingest -> clean -> features -> train -> predict, plus the failure modes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from churn.stages import layout
from churn.stages.features import FEATURE_NAMES
from churn.stages.sharding import shard_of
from helpers import REPO_ROOT

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
URL = "snowflake://churn@embedded/KKBOX/PUBLIC?warehouse=LOCAL_WH"
SHARDS = 4
TICK = "2026-11-24T04:00:00Z"


def run(args: list[str], env: dict[str, str], ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a console script from the venv; assert its exit status."""
    proc = subprocess.run(
        [str(BIN / args[0]), *args[1:]], env=env, capture_output=True, text=True, timeout=300
    )
    if ok:
        assert proc.returncode == 0, f"{args[0]} failed:\n{proc.stderr}"
    else:
        assert proc.returncode == 1, f"{args[0]} should fail:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def pfs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A seeded embedded warehouse and every stage's output, like /pfs/<input> and /pfs/out dirs."""
    root = tmp_path_factory.mktemp("pfs")
    env = {**os.environ, "CHURN_HOME": str(root / "churn-home"), "PACHYDERM_SQL_PASSWORD": "unused"}
    env.pop("CHURN_WAREHOUSE_URL", None)
    run(
        ["churn", "warehouse", "seed", "--members", "4000", "--seed", "3", "--no-progress", "--outcomes"], env
    )
    (root / "in").mkdir()
    (root / "in" / TICK).write_text("")
    for window in ("train", "score"):
        w = root / window
        run(
            [
                "churn-queries",
                "--tick-dir",
                str(root / "in"),
                "--query",
                (REPO_ROOT / "pipelines" / "sql" / f"{window}.sql").read_text(),
                "--out",
                str(w / "queries"),
            ],
            env,
        )
        run(
            [
                "churn-ingest",
                "--queries",
                str(w / "queries"),
                "--url",
                URL,
                "--shards",
                str(SHARDS),
                "--out",
                str(w / "data"),
            ],
            env,
        )
        run(["churn-clean", "--input", str(w / "data"), "--out", str(w / "clean")], env)
        run(["churn-features", "--input", str(w / "clean"), "--out", str(w / "features")], env)
    run(
        [
            "churn-train",
            "--input",
            str(root / "train" / "features"),
            "--out",
            str(root / "model"),
            "--seed",
            "7",
        ],
        env,
    )
    penv = {**env, "model_COMMIT": "c0ffee", "PACH_JOB_ID": "job-123"}
    run(
        [
            "churn-predict",
            "--features",
            str(root / "score" / "features"),
            "--model",
            str(root / "model"),
            "--out",
            str(root / "predict"),
        ],
        penv,
    )
    outcomes = root / "outcomes"
    run(
        [
            "churn-queries",
            "--tick-dir",
            str(root / "in"),
            "--query-file",
            str(REPO_ROOT / "pipelines" / "sql" / "outcomes.sql"),
            "--out",
            str(outcomes / "queries"),
        ],
        env,
    )
    run(
        [
            "churn-ingest",
            "--queries",
            str(outcomes / "queries"),
            "--url",
            URL,
            "--shards",
            "1",
            "--out",
            str(outcomes / "data"),
        ],
        env,
    )
    run(
        [
            "churn",
            "monitor",
            "--predict",
            str(root / "predict"),
            "--model",
            str(root / "model"),
            "--features",
            str(root / "score" / "features"),
            "--outcomes",
            str(outcomes / "data"),
            "--out",
            str(root / "monitor"),
        ],
        env,
    )
    return root, env


def test_queries_output(pfs: tuple[Path, dict[str, str]]) -> None:
    root, _ = pfs
    text = (root / "train" / "queries" / "0000").read_text()
    assert text.startswith(f"-- {TICK}\n-- churn train query")


def test_ingest_shards_by_hash_with_header_and_query_columns(pfs: tuple[Path, dict[str, str]]) -> None:
    root, _ = pfs
    files = sorted((root / "train" / "data").iterdir())
    assert [f.name for f in files] == [f"shard-{i:02d}.csv" for i in range(SHARDS)]
    total = 0
    for i, f in enumerate(files):
        df = pd.read_csv(f, dtype={"MSNO": str})
        assert list(df.columns) == layout.columns(True)
        assert all(shard_of(m, SHARDS) == i for m in df["MSNO"])
        assert list(df["MSNO"]) == sorted(df["MSNO"])  # stable order within a shard
        total += len(df)
    assert total > 500
    score = pd.read_csv(root / "score" / "data" / "shard-00.csv", nrows=0)
    assert list(score.columns) == layout.columns(False)


def test_ingest_rerun_is_byte_identical_and_no_header(pfs: tuple[Path, dict[str, str]]) -> None:
    root, env = pfs
    run(
        [
            "churn-ingest",
            "--queries",
            str(root / "train" / "queries"),
            "--url",
            URL,
            "--shards",
            str(SHARDS),
            "--out",
            str(root / "rerun"),
        ],
        env,
    )
    for i in range(SHARDS):
        name = f"shard-{i:02d}.csv"
        assert (root / "rerun" / name).read_bytes() == (root / "train" / "data" / name).read_bytes()
    run(
        [
            "churn-ingest",
            "--queries",
            str(root / "train" / "queries"),
            "--url",
            URL,
            "--shards",
            str(SHARDS),
            "--no-header",
            "--out",
            str(root / "nohdr"),
        ],
        env,
    )
    with_header = (root / "train" / "data" / "shard-00.csv").read_text().splitlines()
    assert (root / "nohdr" / "shard-00.csv").read_text().splitlines() == with_header[1:]


def test_ingest_empty_result_and_sql_error(pfs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    _, env = pfs
    q = tmp_path / "queries"
    q.mkdir()
    (q / "0000").write_text("-- tick\nSELECT MSNO FROM SCORE WHERE 1 = 0 ORDER BY MSNO;\n")
    run(
        ["churn-ingest", "--queries", str(q), "--url", URL, "--shards", "3", "--out", str(tmp_path / "o")],
        env,
    )
    assert [(tmp_path / "o" / f"shard-0{i}.csv").read_text() for i in range(3)] == ["MSNO\n"] * 3
    (q / "0000").write_text("-- tick\nSELECT NOPE FROM NO_SUCH_TABLE\n")
    proc = run(
        ["churn-ingest", "--queries", str(q), "--url", URL, "--shards", "3", "--out", str(tmp_path / "p")],
        env,
        ok=False,
    )
    assert f"query file {q / '0000'}" in proc.stderr and "NO_SUCH_TABLE" in proc.stderr.upper()
    assert len(proc.stderr.strip().splitlines()) == 1


def test_clean_reports_balance(pfs: tuple[Path, dict[str, str]]) -> None:
    root, _ = pfs
    for i in range(SHARDS):
        rep = json.loads((root / "train" / "clean" / "report" / f"shard-{i:02d}.json").read_text())
        assert rep["rows_in"] == rep["rows_out"] + rep["quarantined"] + rep["duplicates_removed"]
        assert rep["repairs"]["gender_missing_set_unknown"] > 0  # the generator's dirt is seen
        assert (root / "train" / "clean" / "quarantine" / f"shard-{i:02d}.csv").exists()


def test_features_train_and_predict_outputs(pfs: tuple[Path, dict[str, str]]) -> None:
    root, _ = pfs
    feats = pd.read_parquet(root / "train" / "features" / "shard-00" / "features.parquet")
    assert list(feats.columns) == ["MSNO", *FEATURE_NAMES, "IS_CHURN"]
    assert "IS_CHURN" not in pd.read_parquet(root / "score" / "features" / "shard-00" / "features.parquet")
    model = root / "model"
    for name in ("model.joblib", "metrics.json", "model_card.md", "calibration.png", "feature_spec.json"):
        assert (model / name).stat().st_size > 0, name
    m = json.loads((model / "metrics.json").read_text())
    for part in ("model", "baseline"):
        assert set(m[part]) >= {"auc", "log_loss", "brier", "precision_top_decile", "recall_top_decile"}
        assert 0.6 < m[part]["auc"] <= 1.0
    assert m["rows"]["train"] + m["rows"]["test"] == m["rows"]["total"]
    assert (model / "calibration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| ROC AUC |" in (model / "model_card.md").read_text()
    scores = pd.read_csv(root / "predict" / "CHURN_SCORES" / "shard-01.csv", dtype={"MSNO": str})
    assert list(scores.columns) == [
        "MSNO",
        "CHURN_PROBABILITY",
        "CHURN_PREDICTION",
        "MODEL_COMMIT",
        "GLOBAL_ID",
        "SCORED_AT",
    ]
    score_feats = pd.read_parquet(root / "score" / "features" / "shard-01" / "features.parquet")
    assert list(scores["MSNO"]) == list(score_feats["MSNO"])
    assert scores["CHURN_PROBABILITY"].between(0, 1, inclusive="neither").all()  # never exactly 0 or 1
    assert set(scores["CHURN_PREDICTION"]) <= {0, 1}
    assert set(scores["MODEL_COMMIT"]) == {"c0ffee"} and set(scores["GLOBAL_ID"]) == {"job-123"}
    assert pd.to_datetime(scores["SCORED_AT"], utc=True).nunique() == 1


def test_selection_calibration_policy_and_importance_in_metrics(pfs: tuple[Path, dict[str, str]]) -> None:
    root, _ = pfs
    m = json.loads((root / "model" / "metrics.json").read_text())
    promo = m["promotion"]
    assert promo["promoted"] in ("boosted", "logistic") and promo["reason"]
    assert m["model"] == m["challenger" if promo["promoted"] == "boosted" else "baseline"]
    for name in ("boosted", "logistic"):
        for k, (lo, hi) in promo["cv"][name]["interval"].items():
            assert lo <= hi, (name, k)
    for part in ("model", "challenger", "baseline"):
        lo, hi = m["intervals"][part]["auc"]
        assert lo < m[part]["auc"] < hi
    assert len(m["tuning"]["trials"]) >= 4 and all(t["iterations"] >= 1 for t in m["tuning"]["trials"])
    assert abs(m["calibration"]["in_the_large"]) < 0.03 and len(m["calibration"]["bins"]) == 10
    assert m["policy"]["rule"] == "top-share" and abs(m["policy"]["expected"]["contacted_share"] - 0.1) < 0.01
    assert {r["feature"] for r in m["importance"]["boosted"]} == set(FEATURE_NAMES)
    card = (root / "model" / "model_card.md").read_text()
    assert "## Campaign policy" in card and "recall" in card and "## Permutation importance" in card
    assert promo["promoted"] in card and "cross-validation" in card
    # the decision follows the policy: the top decile of the scoring population, give or take drift
    scores = pd.concat(pd.read_csv(f) for f in sorted((root / "predict" / "CHURN_SCORES").glob("*.csv")))
    assert 0.04 < scores["CHURN_PREDICTION"].mean() < 0.2


def test_monitor_reports_realized_metrics_and_drift(pfs: tuple[Path, dict[str, str]]) -> None:
    root, _ = pfs
    doc = json.loads((root / "monitor" / "monitor.json").read_text())
    m = json.loads((root / "model" / "metrics.json").read_text())
    assert doc["model_commits"] == ["c0ffee"] and doc["predict_jobs"] == ["job-123"]
    real = doc["realized"]["c0ffee"]
    assert real["rows"] == doc["outcomes"] == real["scored"] > 0
    assert abs(real["auc"] - m["model"]["auc"]) < 0.08 and 0 < real["recall_top_decile"] < 1
    assert len(real["reliability"]) == 10 and abs(real["in_the_large"]) < 0.05
    assert set(doc["drift"]["psi"]) == set(FEATURE_NAMES)
    assert all(v >= 0 for v in doc["drift"]["psi"].values())


def test_train_is_deterministic(pfs: tuple[Path, dict[str, str]]) -> None:
    root, env = pfs
    run(
        [
            "churn-train",
            "--input",
            str(root / "train" / "features"),
            "--out",
            str(root / "model2"),
            "--seed",
            "7",
        ],
        env,
    )
    for name in ("metrics.json", "model.joblib", "model_card.md", "feature_spec.json"):
        assert (root / "model2" / name).read_bytes() == (root / "model" / name).read_bytes(), name


def test_predict_refuses_other_feature_version(pfs: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, env = pfs
    feats = tmp_path / "features"
    shutil.copytree(root / "score" / "features" / "shard-00", feats / "shard-00")
    spec_path = feats / "shard-00" / "feature_spec.json"
    spec = json.loads(spec_path.read_text())
    spec["version"] = "v0-000000000000"
    spec_path.write_text(json.dumps(spec))
    proc = run(
        [
            "churn-predict",
            "--features",
            str(feats),
            "--model",
            str(root / "model"),
            "--out",
            str(tmp_path / "out"),
        ],
        env,
        ok=False,
    )
    assert "feature version v0-000000000000 differs from the model's" in proc.stderr
    assert str(spec_path) in proc.stderr


def test_empty_shard_flows_through_features_and_predict(
    pfs: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, env = pfs
    data = tmp_path / "data"
    data.mkdir()
    (data / "shard-09.csv").write_text(",".join(layout.columns(False)) + "\n")
    run(["churn-clean", "--input", str(data), "--out", str(tmp_path / "clean")], env)
    run(["churn-features", "--input", str(tmp_path / "clean"), "--out", str(tmp_path / "features")], env)
    run(
        [
            "churn-predict",
            "--features",
            str(tmp_path / "features"),
            "--model",
            str(root / "model"),
            "--out",
            str(tmp_path / "predict"),
        ],
        env,
    )
    assert (tmp_path / "predict" / "CHURN_SCORES" / "shard-09.csv").read_text() == (
        "MSNO,CHURN_PROBABILITY,CHURN_PREDICTION,MODEL_COMMIT,GLOBAL_ID,SCORED_AT\n"
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["churn-clean", "--input", "{t}/missing", "--out", "{t}/o"], "{t}/missing"),
        (["churn-features", "--input", "{t}", "--out", "{t}/o"], "no clean CSV file under {t}"),
        (["churn-train", "--input", "{t}/empty", "--out", "{t}/o"], "{t}/empty/shard-00/features.parquet"),
        (
            ["churn-predict", "--features", "{t}/empty", "--model", "{t}/nomodel", "--out", "{t}/o"],
            "{t}/nomodel/model.joblib",
        ),
        (["churn-queries", "--tick-dir", "{t}", "--query-file", "{t}/q.sql", "--out", "{t}/o"], "{t}/q.sql"),
    ],
)
def test_missing_input_is_one_clear_line(tmp_path: Path, args: list[str], named: str) -> None:
    (tmp_path / "empty" / "shard-00").mkdir(parents=True)
    (tmp_path / "nomodel").mkdir()
    (tmp_path / "tick").write_text("")
    t = str(tmp_path)
    proc = run([a.format(t=t) for a in args], dict(os.environ), ok=False)
    line = proc.stderr.strip()
    assert "\n" not in line and named.format(t=t) in line and line.startswith(f"{args[0]}: error:")
