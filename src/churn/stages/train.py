"""``churn-train``: selects, fits and reports on the churn model over all feature shards (glob ``/``).

Selection happens on the training rows (80 %, stratified): the boosted model is tuned with early stopping
on a validation fold, then it and the logistic baseline are cross-validated (5 folds, fixed seed); the
boosted challenger is promoted only when it beats the baseline on log loss and top-decile lift by more
than the noise (paired bootstrap 95 % interval excluding zero), otherwise the baseline is kept and the
reason written down. Both are refitted on every training row and measured on the untouched holdout.

Writes to ``--out``: ``model.joblib`` (a dict: the promoted model, bounded to [1e-4, 1 - 1e-4], the
feature spec and its version, the campaign policy and its threshold, the seed, the drift reference),
``metrics.json`` (holdout metrics with bootstrap 95 % intervals for the promoted model, the challenger and
the baseline, the cross-validated comparison and the decision, the tuning trials, calibration, the
policy with its expected recall and precision, permutation importance), ``model_card.md``,
``calibration.png``, ``reference.json`` (the training features' bins for the PSI of churn_monitor) and
``feature_spec.json``. Rows are sorted by MSNO before the split, so the result depends only on the data,
``--seed`` and the policy, not on the number of shards or their order.

    churn-train --input /pfs/features --out /pfs/out [--seed 42] [--policy top-share --contact-share 0.1]
    churn-train ... --policy expected-value --offer-cost 30 --member-value 400
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from churn.stages.common import StageError, env, log, require_dir, run_stage, stage_main, write_json
from churn.stages.featurespec import SPEC_FILE, feature_shards, read_spec

STAGE = "churn-train"
MODEL_FILE = "model.joblib"
REFERENCE_FILE = "reference.json"
TEST_FRACTION = 0.2
MIN_PER_CLASS = 10
MODEL_TYPES = {
    "boosted": "HistGradientBoostingClassifier (tuned, early-stopped rounds) with Platt scaling fitted on its "
    "out-of-fold scores, bounded to [1e-4, 1 - 1e-4]",
    "logistic": "LogisticRegression on signed-log1p, median-imputed, standardized numeric features and one-hot "
    "categorical codes, bounded to [1e-4, 1 - 1e-4]",
}


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


def train(input_dir: Path, out_dir: Path, seed: int, policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """Select, fit, evaluate and write every artefact; returns the metrics document. ``policy``: from
    ``churn.ml.policy.policy_params`` (default: contact the top decile).

    OpenMP (the booster's threads) is limited to ``CHURN_TRAIN_THREADS`` threads (default 1): on a
    shared 2-core machine two OpenMP threads competing with other processes made a 1,400-row training
    run take over 300 s instead of 11 s (threads spin-waiting for a descheduled peer)."""
    import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime, so that the limit reaches it)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(env("CHURN_TRAIN_THREADS", "1")), user_api="openmp"):
        return _train(input_dir, out_dir, seed, policy)


def _train(input_dir: Path, out_dir: Path, seed: int, policy: dict[str, Any] | None) -> dict[str, Any]:
    import joblib
    import sklearn
    from sklearn.model_selection import train_test_split

    from churn.ml import policy as campaign
    from churn.ml.drift import reference
    from churn.ml.evaluate import bootstrap_intervals, calibration, metrics
    from churn.ml.report import calibration_plot, model_card
    from churn.ml.select import BASELINE, CHALLENGER, fit_final, permutation_importance, select

    params = policy or campaign.policy_params("top-share", None, None, None)
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
    X_train, y_train, X_test, y_test = X[idx_train], y[idx_train], X[idx_test], y[idx_test]
    chosen = select(X_train, y_train, categorical, seed)
    models = fit_final(X_train, y_train, categorical, seed, chosen)
    promoted = models[chosen.promoted]
    p = {name: m.churn_probability(X_test) for name, m in models.items()}
    p_model = p[chosen.promoted]
    cut = campaign.threshold(params, p_model)
    doc: dict[str, Any] = {
        "model": metrics(y_test, p_model),
        "challenger": metrics(y_test, p[CHALLENGER]),
        "baseline": metrics(y_test, p[BASELINE]),
        "intervals": {
            "model": bootstrap_intervals(y_test, p_model, seed),
            "challenger": bootstrap_intervals(y_test, p[CHALLENGER], seed),
            "baseline": bootstrap_intervals(y_test, p[BASELINE], seed),
        },
        "promotion": {
            "promoted": chosen.promoted,
            "reason": chosen.reason,
            "rule": "promote the boosted challenger only when its cross-validated log loss is lower and its "
            "top-decile lift higher than the baseline's, each by a paired bootstrap 95 % interval that "
            "excludes zero; otherwise keep the logistic baseline",
            "cv_folds": 5,
            "cv": chosen.cv,
            "differences": chosen.differences,
        },
        "tuning": {
            "params": chosen.booster_params,
            "iterations": chosen.booster_iterations,
            "trials": chosen.tuning,
            "platt": [round(v, 6) for v in chosen.platt],
        },
        "calibration": calibration(y_test, p_model),
        "calibration_by_candidate": {name: calibration(y_test, p[name]) for name in p},
        "policy": campaign.describe(params, cut, y_test, p_model),
        "importance": {
            name: permutation_importance(m, X_test, y_test, names, seed) for name, m in models.items()
        },
        "model_type": MODEL_TYPES[chosen.promoted],
        "challenger_type": MODEL_TYPES[CHALLENGER],
        "baseline_type": MODEL_TYPES[BASELINE],
        "threshold": round(cut, 6),
        "seed": seed,
        "test_fraction": TEST_FRACTION,
        "feature_version": spec["version"],
        "features": len(names),
        "sklearn_version": sklearn.__version__,
        "rows": {"total": len(y), "train": len(idx_train), "test": len(idx_test), "shards": n_shards},
        "churn_rate": {
            "all": round(float(y.mean()), 6),
            "train": round(float(y_train.mean()), 6),
            "test": round(float(y_test.mean()), 6),
        },
    }
    doc["model_beats_baseline"] = chosen.promoted != BASELINE
    ref = reference(X_train, names, categorical)
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = {
        "model": promoted,
        "model_name": chosen.promoted,
        "feature_spec": spec,
        "feature_version": spec["version"],
        "feature_names": names,
        "threshold": cut,
        "policy": doc["policy"],
        "seed": seed,
        "sklearn_version": sklearn.__version__,
        "metrics": {"model": doc["model"], "baseline": doc["baseline"]},
        "reference": ref,
    }
    joblib.dump(bundle, out_dir / MODEL_FILE, compress=3)
    write_json(out_dir / "metrics.json", doc)
    write_json(out_dir / SPEC_FILE, spec)
    write_json(out_dir / REFERENCE_FILE, ref)
    (out_dir / "model_card.md").write_text(model_card(doc, spec), encoding="utf-8")
    calibration_plot(
        out_dir / "calibration.png",
        y_test,
        {f"{name}{' (promoted)' if name == chosen.promoted else ''}": p[name] for name in p},
    )
    return doc


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--input", "input_dir", required=True, help="The features output, e.g. /pfs/features.")
@click.option("--out", "out_dir", required=True, help="Output directory, e.g. /pfs/out.")
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed (split, boosting, folds).")
@click.option(
    "--policy",
    type=click.Choice(("top-share", "expected-value")),
    default="top-share",
    show_default=True,
    help="Campaign policy behind CHURN_PREDICTION.",
)
@click.option(
    "--contact-share", type=float, default=None, help="top-share: share of members to contact [default: 0.1]."
)
@click.option("--offer-cost", type=float, default=None, help="expected-value: cost of one retention offer.")
@click.option(
    "--member-value", type=float, default=None, help="expected-value: value of keeping a would-be churner."
)
def cli(
    input_dir: str,
    out_dir: str,
    seed: int,
    policy: str,
    contact_share: float | None,
    offer_cost: float | None,
    member_value: float | None,
) -> None:
    """Select and train the churn model; write the model, metrics, model card and calibration plot."""
    from churn.ml.policy import PolicyError, policy_params

    def body() -> None:
        try:
            params = policy_params(policy, contact_share, offer_cost, member_value)
        except PolicyError as exc:
            raise StageError(str(exc)) from exc
        doc = train(require_dir(input_dir, "input"), Path(out_dir), seed, params)
        log(
            STAGE,
            f"{doc['rows']['total']} rows: promoted {doc['promotion']['promoted']} (AUC {doc['model']['auc']:.4f}, "
            f"log loss {doc['model']['log_loss']:.4f}); baseline AUC {doc['baseline']['auc']:.4f}; "
            f"{doc['promotion']['reason']}",
        )

    run_stage(STAGE, body)


def main() -> None:
    """Console-script entry point (once per datum under ``datumBatching``)."""
    stage_main(cli, STAGE)
