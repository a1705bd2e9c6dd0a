"""churn-monitor on small hand-made inputs: realized metrics per model commit, PSI, and the states
before outcomes (or scores) exist."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn.ml.drift import reference
from churn.stages.common import StageError
from churn.stages.monitor import monitor, realized

NAMES = ["x", "code"]


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    n = 400
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 3, n).astype(float)])
    model = tmp_path / "model"
    model.mkdir()
    (model / "reference.json").write_text(json.dumps(reference(X, NAMES, [False, True])))
    (model / "metrics.json").write_text(
        json.dumps({"model": {"auc": 0.8}, "calibration": {"in_the_large": 0.0}})
    )
    features = tmp_path / "features" / "shard-00"
    features.mkdir(parents=True)
    pd.DataFrame({"MSNO": [f"m{i}" for i in range(n)], "x": X[:, 0] + 2.0, "code": X[:, 1]}).to_parquet(
        features / "features.parquet"
    )
    (features / "feature_spec.json").write_text("{}")
    p = 1 / (1 + np.exp(-3 * X[:, 0]))
    y = (rng.random(n) < p).astype(int)
    scores = tmp_path / "predict" / "CHURN_SCORES"
    scores.mkdir(parents=True)
    pd.DataFrame(
        {
            "MSNO": [f"m{i}" for i in range(n)],
            "CHURN_PROBABILITY": p.round(6),
            "CHURN_PREDICTION": (p > 0.9).astype(int),
            "MODEL_COMMIT": ["new" if i % 2 else "old" for i in range(n)],
            "GLOBAL_ID": "g1",
            "SCORED_AT": "2026-12-01T00:00:00Z",
        }
    ).to_csv(scores / "shard-00.csv", index=False)
    outcomes = tmp_path / "outcomes"
    outcomes.mkdir()
    (outcomes / "shard-00.csv").write_text("MSNO,IS_CHURN,KNOWN_AT\n")
    return {"root": tmp_path, "model": model, "features": tmp_path / "features", "predict": tmp_path / "predict",
            "outcomes": outcomes, "y": y}  # fmt: skip


def _run(d: dict) -> dict:
    return monitor(d["predict"], d["model"], d["features"], d["outcomes"], d["root"] / "out")


def test_before_outcomes_only_drift(dirs: dict) -> None:
    doc = _run(dirs)
    assert doc["outcomes"] == 0 and doc["model_commits"] == ["new", "old"] and doc["predict_jobs"] == ["g1"]
    assert all(r == {"rows": 0, "scored": 200, "note": "no outcomes yet"} for r in doc["realized"].values())
    assert doc["drift"]["max"]["feature"] == "x" and doc["drift"]["max"]["level"] == "major"  # shifted by 2
    assert doc["drift"]["psi"]["code"] < 0.1 and doc["drift"]["shifted"] == ["x"]
    assert json.loads((dirs["root"] / "out" / "monitor.json").read_text()) == doc


def test_with_outcomes_realized_metrics_per_model_commit(dirs: dict) -> None:
    y = dirs["y"]
    pd.DataFrame({"MSNO": [f"m{i}" for i in range(len(y))], "IS_CHURN": y, "KNOWN_AT": 20170530}).to_csv(
        dirs["outcomes"] / "shard-00.csv", index=False
    )
    doc = _run(dirs)
    for commit in ("new", "old"):
        r = doc["realized"][commit]
        assert r["rows"] == 200 and 0.75 < r["auc"] <= 1 and len(r["reliability"]) == 10
        assert abs(r["in_the_large"]) < 0.1 and 0 <= r["policy"]["recall"] <= 1
    one = realized(pd.read_csv(dirs["predict"] / "CHURN_SCORES" / "shard-00.csv").head(5),
                   pd.DataFrame({"MSNO": ["m0", "m1"], "IS_CHURN": [1, 1]}))  # fmt: skip
    assert one == {"rows": 2, "scored": 5, "note": "outcomes of one class only"}


def test_no_scores_yet_and_bad_outcomes(dirs: dict) -> None:
    (dirs["predict"] / "CHURN_SCORES" / "shard-00.csv").unlink()
    doc = _run(dirs)
    assert doc["realized"] == {} and doc["drift"]["rows"] == 400
    (dirs["outcomes"] / "shard-00.csv").write_text("A,B\n1,2\n")
    with pytest.raises(StageError, match="shard-00.csv: expected columns MSNO, IS_CHURN"):
        _run(dirs)
