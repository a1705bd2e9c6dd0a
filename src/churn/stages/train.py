"""``churn-train``: fits the churn model on all feature shards (glob ``/``) and reports on it.

Writes to ``--out``: ``model.joblib`` (a dict: the calibrated model, the feature spec and its version,
the decision threshold, the seed), ``metrics.json`` (holdout AUC, log loss, Brier score, precision and
recall at the top decile and at the threshold, churn rates and row counts, for the model and the
logistic-regression baseline), ``model_card.md``, ``calibration.png`` and ``feature_spec.json``.
Rows are sorted by MSNO before the split, so the result depends only on the data and ``--seed``, not on
the number of shards or their order.

    churn-train --input /pfs/features --out /pfs/out [--seed 42]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from churn.stages.common import StageError, log, require_dir, run_stage, write_json
from churn.stages.featurespec import SPEC_FILE, feature_shards, read_spec

STAGE = "churn-train"
MODEL_FILE = "model.joblib"
TEST_FRACTION = 0.2
THRESHOLD = 0.5
MIN_PER_CLASS = 10


def load_training_data(input_dir: Path) -> tuple[pd.DataFrame, dict[str, Any], int]:
    """All labelled feature rows sorted by MSNO, the (common) feature spec, and the shard count."""
    shards = feature_shards(input_dir)
    if not shards:
        raise StageError(f"no feature shard under {input_dir} (expected <shard>/features.parquet)")
    spec: dict[str, Any] | None = None
    frames = []
    for name, parquet, spec_path in shards:
        s = read_spec(spec_path)
        if spec is None:
            spec = s
        elif s["version"] != spec["version"]:
            raise StageError(
                f"{spec_path}: feature version {s['version']} differs from {spec['version']} of the "
                f"other shards; rebuild the features"
            )
        frame = pd.read_parquet(parquet)
        needed = [spec["id"], *[f["name"] for f in spec["features"]], spec["label"]]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            what = "label" if missing[0] == spec["label"] else "column"
            raise StageError(f"{parquet}: no {what} {missing[0]} (training needs labelled features)")
        frames.append(frame[needed])
        log(STAGE, f"{name}: {len(frame)} rows")
    assert spec is not None
    data = pd.concat(frames, ignore_index=True).sort_values(spec["id"], kind="stable").reset_index(drop=True)
    return data, spec, len(shards)


def train(input_dir: Path, out_dir: Path, seed: int) -> dict[str, Any]:
    """Fit, evaluate and write every artefact; returns the metrics document."""
    import joblib
    import sklearn
    from sklearn.model_selection import train_test_split

    from churn.ml.evaluate import metrics
    from churn.ml.models import build_baseline, build_model
    from churn.ml.report import calibration_plot, model_card

    data, spec, n_shards = load_training_data(input_dir)
    names = [f["name"] for f in spec["features"]]
    categorical = [f["kind"] == "categorical" for f in spec["features"]]
    y = data[spec["label"]].to_numpy(dtype=int)
    counts = np.bincount(y, minlength=2)
    if len(counts) != 2 or counts.min() < MIN_PER_CLASS:
        raise StageError(
            f"{input_dir}: training needs at least {MIN_PER_CLASS} churners and {MIN_PER_CLASS} non-churners; "
            f"got {int(counts[1]) if len(counts) > 1 else 0} and {int(counts[0])} in {len(y)} rows"
        )
    X = data[names].to_numpy(dtype=float)
    idx_train, idx_test = train_test_split(
        np.arange(len(y)), test_size=TEST_FRACTION, stratify=y, random_state=seed
    )
    model = build_model(categorical, seed).fit(X[idx_train], y[idx_train])
    baseline = build_baseline(categorical, seed).fit(X[idx_train], y[idx_train])
    p_model = model.predict_proba(X[idx_test])[:, 1]
    p_base = baseline.predict_proba(X[idx_test])[:, 1]
    y_test = y[idx_test]
    doc: dict[str, Any] = {
        "model": metrics(y_test, p_model, THRESHOLD),
        "baseline": metrics(y_test, p_base, THRESHOLD),
        "model_type": "HistGradientBoostingClassifier calibrated with isotonic regression "
        "(CalibratedClassifierCV, 3 stratified folds)",
        "baseline_type": "LogisticRegression on signed-log1p, median-imputed, standardized numeric features "
        "and one-hot categorical codes",
        "threshold": THRESHOLD,
        "seed": seed,
        "test_fraction": TEST_FRACTION,
        "feature_version": spec["version"],
        "features": len(names),
        "sklearn_version": sklearn.__version__,
        "rows": {"total": len(y), "train": len(idx_train), "test": len(idx_test), "shards": n_shards},
        "churn_rate": {
            "all": round(float(y.mean()), 6),
            "train": round(float(y[idx_train].mean()), 6),
            "test": round(float(y_test.mean()), 6),
        },
    }
    doc["model_beats_baseline"] = doc["model"]["auc"] > doc["baseline"]["auc"]
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = {
        "model": model,
        "feature_spec": spec,
        "feature_version": spec["version"],
        "feature_names": names,
        "threshold": THRESHOLD,
        "seed": seed,
        "sklearn_version": sklearn.__version__,
        "metrics": {"model": doc["model"], "baseline": doc["baseline"]},
    }
    joblib.dump(bundle, out_dir / MODEL_FILE, compress=3)
    write_json(out_dir / "metrics.json", doc)
    write_json(out_dir / SPEC_FILE, spec)
    (out_dir / "model_card.md").write_text(model_card(doc, spec), encoding="utf-8")
    calibration_plot(
        out_dir / "calibration.png",
        y_test,
        {"model (calibrated HGB)": p_model, "baseline (logistic)": p_base},
    )
    return doc


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--input", "input_dir", required=True, help="The features output, e.g. /pfs/features.")
@click.option("--out", "out_dir", required=True, help="Output directory, e.g. /pfs/out.")
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed (split, boosting, folds).")
def cli(input_dir: str, out_dir: str, seed: int) -> None:
    """Train the churn model and its baseline; write the model, metrics, model card and calibration plot."""

    def body() -> None:
        doc = train(require_dir(input_dir, "input"), Path(out_dir), seed)
        log(
            STAGE,
            f"{doc['rows']['total']} rows: model AUC {doc['model']['auc']:.4f}, "
            f"baseline AUC {doc['baseline']['auc']:.4f}",
        )

    run_stage(STAGE, body)


def main() -> None:
    """Console-script entry point."""
    cli()
