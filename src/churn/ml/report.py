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
    ("lift_top_decile", "lift, top 10 % of scores"),
)


def _cell(m: dict[str, Any], interval: dict[str, list[float]] | None, key: str) -> str:
    if interval and key in interval:
        lo, hi = interval[key]
        return f"{m[key]:.4f} [{lo:.4f}, {hi:.4f}]"
    return f"{m[key]:.4f}"


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
    ax.set_title("Calibration on the holdout set (10 equal-count bins)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


def model_card(m: dict[str, Any], spec: dict[str, Any]) -> str:
    """Markdown model card from the metrics document ``m`` and the feature spec."""
    iv = m.get("intervals", {})
    holdout = [
        f"| {label} | {_cell(m['model'], iv.get('model'), k)} | {_cell(m['challenger'], iv.get('challenger'), k)} "
        f"| {_cell(m['baseline'], iv.get('baseline'), k)} |"
        for k, label in METRIC_ROWS
    ]
    promo = m["promotion"]
    cv = promo["cv"]
    cv_rows = [
        f"| {label} | {_cell(cv['boosted']['metrics'], cv['boosted']['interval'], k)} "
        f"| {_cell(cv['logistic']['metrics'], cv['logistic']['interval'], k)} "
        f"| {promo['differences'][k]['diff']:+.4f} [{promo['differences'][k]['low']:+.4f}, "
        f"{promo['differences'][k]['high']:+.4f}] |"
        for k, label in METRIC_ROWS
    ]
    cal = m["calibration"]
    bins = " · ".join(f"{b['mean_probability']:.3f}/{b['churn_rate']:.3f}" for b in cal["bins"])
    tuning = m["tuning"]
    params = ", ".join(f"{k} {v}" for k, v in tuning["params"].items())
    importance = []
    for name, rows in m["importance"].items():
        top = ", ".join(f"`{r['feature']}` {r['log_loss_increase']:+.4f}" for r in rows[:8])
        importance.append(f"- {name}: {top}")
    feats = ", ".join(f"`{f['name']}`" for f in spec["features"])
    from churn.ml.policy import sentence

    return "\n".join(
        [
            "# Model card: KKBox-style churn model",
            "",
            "## Intended use",
            "Ranks members whose membership expires next month by their probability of churning (no new",
            "valid subscription within 30 days of expiry), for retention campaigns. Probabilities are",
            "calibrated and never exactly 0 or 1 (bounded to [1e-4, 1 - 1e-4]). Not for decisions about",
            "individuals beyond offering retention incentives.",
            "",
            "## Campaign policy",
            f"- Rule `{m['policy']['rule']}`: {sentence(m['policy'])}",
            "",
            "## Model",
            f"- Promoted: **{promo['promoted']}** — {m['model_type']}.",
            f"- Why: {promo['reason']}.",
            f"- Rule: {promo['rule']}.",
            f"- Challenger: {m['challenger_type']}; tuned on a validation fold of the training rows "
            f"({len(tuning['trials'])} configurations, early stopping): {params}, {tuning['iterations']} rounds.",
            f"- Baseline: {m['baseline_type']}.",
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
            f"## Selection: {promo['cv_folds']}-fold cross-validation on the training rows",
            "Value [bootstrap 95 % interval]; difference = boosted - logistic with a paired bootstrap interval.",
            "",
            "| metric | boosted | logistic | difference |",
            "|---|---|---|---|",
            *cv_rows,
            "",
            "## Holdout metrics",
            "Value [bootstrap 95 % interval] on the untouched holdout.",
            "",
            f"| metric | promoted ({promo['promoted']}) | boosted | logistic |",
            "|---|---|---|---|",
            *holdout,
            "",
            "## Calibration",
            f"- Calibration-in-the-large (mean probability - churn rate) on the holdout: {cal['in_the_large']:+.4f} "
            f"({cal['mean_probability']:.4f} vs {cal['churn_rate']:.4f}); expected calibration error "
            f"{cal['expected_calibration_error']:.4f}.",
            f"- Reliability, 10 equal-count bins (mean probability / churn rate): {bins}. Plot: `calibration.png`.",
            "",
            "## Permutation importance (holdout; rise in log loss when the feature is shuffled, top 8)",
            *importance,
            "",
            "## Limitations",
            "- Trained on one monthly window; churn behaviour drifts, retrain every window and watch",
            "  churn_monitor (realized metrics once outcomes exist, PSI per feature for every predict job).",
            "- Members without a member row, transactions or recent listening get missing or zero",
            "  features; their scores rest on the remaining signals.",
            "- Age and gender are self-reported and mostly missing; they are weak, noisy inputs.",
            "",
        ]
    )
