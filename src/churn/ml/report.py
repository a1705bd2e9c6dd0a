"""The model card (Markdown) and the calibration plot (PNG) of a training run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from churn.ml.evaluate import reliability

METRIC_ROWS = (
    ("auc", "ROC AUC"),
    ("log_loss", "log loss"),
    ("brier", "Brier score"),
    ("precision_top_decile", "precision, top 10 % of scores"),
    ("recall_top_decile", "recall, top 10 % of scores"),
    ("precision_at_threshold", "precision at the decision threshold"),
    ("recall_at_threshold", "recall at the decision threshold"),
)


def calibration_plot(path: Path, y: np.ndarray, curves: dict[str, np.ndarray]) -> None:
    """Reliability diagram of each named probability vector against the labels ``y``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.0), dpi=100)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    for name, p in curves.items():
        mean_p, rate, _ = reliability(np.asarray(y), np.asarray(p))
        ax.plot(mean_p, rate, marker="o", label=name)
    ax.set_xlabel("mean predicted churn probability")
    ax.set_ylabel("observed churn rate")
    ax.set_title("Calibration on the holdout set")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


def model_card(m: dict[str, Any], spec: dict[str, Any]) -> str:
    """Markdown model card from the metrics document ``m`` and the feature spec."""
    model, base = m["model"], m["baseline"]
    rows = [f"| {label} | {model[key]:.4f} | {base[key]:.4f} |" for key, label in METRIC_ROWS]
    feats = ", ".join(f"`{f['name']}`" for f in spec["features"])
    return "\n".join(
        [
            "# Model card: KKBox-style churn model",
            "",
            "## Intended use",
            "Ranks members whose membership expires next month by their probability of churning (no new",
            "valid subscription within 30 days of expiry), for retention campaigns. Probabilities are",
            "calibrated; `CHURN_PREDICTION` is 1 when the probability reaches the decision threshold",
            f"({m['threshold']}). Not for decisions about individuals beyond offering retention incentives.",
            "",
            "## Model",
            f"- {m['model_type']}",
            f"- Baseline: {m['baseline_type']}",
            f"- Seed {m['seed']}; stratified holdout of {m['test_fraction']:.0%}; scikit-learn {m['sklearn_version']}.",
            f"- Feature set {spec['version']} ({len(spec['features'])} features): {feats}.",
            "",
            "## Data",
            f"- {m['rows']['total']} labelled members from {m['rows']['shards']} feature shards: "
            f"{m['rows']['train']} train, {m['rows']['test']} holdout.",
            f"- Churn rate: {m['churn_rate']['all']:.2%} overall, {m['churn_rate']['train']:.2%} train, "
            f"{m['churn_rate']['test']:.2%} holdout.",
            "- Features are computed from data dated on or before the window's cut-off (members, the latest",
            "  transaction and transaction history, 7/14/30/90-day listening aggregates).",
            "",
            "## Holdout metrics",
            "| metric | model | baseline |",
            "|---|---|---|",
            *rows,
            "",
            f"The model {'beats' if model['auc'] > base['auc'] else 'does NOT beat'} the baseline's AUC "
            f"({model['auc']:.4f} vs {base['auc']:.4f}). Calibration: see `calibration.png`.",
            "",
            "## Limitations",
            "- Trained on one monthly window; churn behaviour drifts, retrain every window and watch the",
            "  holdout metrics and the clean stage's quarantine counts.",
            "- Members without a member row, transactions or recent listening get missing or zero",
            "  features; their scores rest on the remaining signals.",
            "- Age and gender are self-reported and mostly missing; they are weak, noisy inputs.",
            "",
        ]
    )
