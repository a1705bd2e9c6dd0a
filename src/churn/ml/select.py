"""Model selection on the training rows: tune the booster with early stopping, cross-validate every
candidate, and promote the challenger only when it beats the baseline by more than the noise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold, train_test_split

from churn.ml.evaluate import bootstrap_intervals, metrics, paired_differences
from churn.ml.models import BOOSTER_GRID, BoundedModel, build_baseline, build_booster, fit_platt

CV_FOLDS = 5
TUNE_FRACTION = 0.2
BASELINE = "logistic"
CHALLENGER = "boosted"
# the challenger must win on both, each by a paired bootstrap 95 % interval that excludes zero
PROMOTION_METRICS = (("log_loss", -1), ("lift_top_decile", 1))


@dataclass
class Selection:
    """What selection found: the tuned booster, cross-validated metrics, the decision and its reason."""

    booster_params: dict[str, Any]
    booster_iterations: int
    tuning: list[dict[str, Any]]
    cv: dict[str, dict[str, Any]]
    differences: dict[str, dict[str, float]]
    promoted: str
    reason: str
    platt: tuple[float, float]


def tune_booster(
    X: np.ndarray, y: np.ndarray, categorical: list[bool], seed: int
) -> tuple[dict[str, Any], int, list[dict[str, Any]]]:
    """Each configuration of BOOSTER_GRID early-stopped on one stratified validation fold of the training
    rows; the one with the lowest validation log loss, its number of rounds, and every trial."""
    fit_idx, val_idx = train_test_split(
        np.arange(len(y)), test_size=TUNE_FRACTION, stratify=y, random_state=seed
    )
    trials = []
    for params in BOOSTER_GRID:
        model = build_booster(categorical, seed, params, early_stopping=True)
        model.fit(X[fit_idx], y[fit_idx], X_val=X[val_idx], y_val=y[val_idx])
        loss = log_loss(y[val_idx], model.predict_proba(X[val_idx])[:, 1], labels=[0, 1])
        trials.append(
            {**params, "iterations": int(model.n_iter_), "validation_log_loss": round(float(loss), 6)}
        )
    best = min(range(len(trials)), key=lambda i: (trials[i]["validation_log_loss"], i))
    return dict(BOOSTER_GRID[best]), trials[best]["iterations"], trials


def out_of_fold(
    X: np.ndarray, y: np.ndarray, categorical: list[bool], seed: int, params: dict[str, Any], iterations: int
) -> dict[str, np.ndarray]:
    """Out-of-fold churn probabilities of each candidate (the booster raw, before calibration) over
    CV_FOLDS stratified folds with a fixed seed."""
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    oof = {CHALLENGER: np.zeros(len(y)), BASELINE: np.zeros(len(y))}
    for fit_idx, val_idx in folds.split(X, y):
        booster = build_booster(categorical, seed, params, max_iter=iterations).fit(X[fit_idx], y[fit_idx])
        oof[CHALLENGER][val_idx] = booster.predict_proba(X[val_idx])[:, 1]
        baseline = build_baseline(categorical, seed).fit(X[fit_idx], y[fit_idx])
        oof[BASELINE][val_idx] = baseline.predict_proba(X[val_idx])[:, 1]
    return oof


def promote(differences: dict[str, dict[str, float]]) -> tuple[str, str]:
    """(promoted candidate, reason) from the paired challenger - baseline differences."""
    wins, losses = [], []
    for metric, sign in PROMOTION_METRICS:
        d = differences[metric]
        low, high = sorted((sign * d["low"], sign * d["high"]))
        text = f"{metric.replace('_', ' ')} {d['diff']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"
        (wins if low > 0 else losses).append(text)
    if not losses:
        return CHALLENGER, "the boosted model beats the baseline beyond the noise on " + " and ".join(wins)
    return BASELINE, (
        "the boosted model does not beat the baseline beyond the noise on "
        + " and ".join(losses)
        + " (challenger - baseline, cross-validated, paired bootstrap 95 % interval); the simpler model is kept"
    )


def select(X: np.ndarray, y: np.ndarray, categorical: list[bool], seed: int) -> Selection:
    """Tune, cross-validate and decide on the training rows only (the holdout stays untouched)."""
    params, iterations, trials = tune_booster(X, y, categorical, seed)
    oof = out_of_fold(X, y, categorical, seed, params, iterations)
    platt = fit_platt(oof[CHALLENGER], y)
    p = {
        CHALLENGER: BoundedModel(None, platt).calibrate(oof[CHALLENGER]),
        BASELINE: BoundedModel(None).calibrate(oof[BASELINE]),
    }
    cv = {
        name: {"metrics": metrics(y, p[name]), "interval": bootstrap_intervals(y, p[name], seed)}
        for name in p
    }
    differences = paired_differences(y, p[CHALLENGER], p[BASELINE], seed)
    promoted, reason = promote(differences)
    return Selection(params, iterations, trials, cv, differences, promoted, reason, platt)


def fit_final(
    X: np.ndarray, y: np.ndarray, categorical: list[bool], seed: int, chosen: Selection
) -> dict[str, BoundedModel]:
    """Both candidates refitted on every training row: the booster with the tuned rounds and the Platt
    scaling of its out-of-fold scores, the baseline as is; both bounded."""
    booster = build_booster(categorical, seed, chosen.booster_params, max_iter=chosen.booster_iterations)
    return {
        CHALLENGER: BoundedModel(booster.fit(X, y), chosen.platt),
        BASELINE: BoundedModel(build_baseline(categorical, seed).fit(X, y)),
    }


def permutation_importance(
    model: BoundedModel, X: np.ndarray, y: np.ndarray, names: list[str], seed: int, repeats: int = 3
) -> list[dict[str, Any]]:
    """Per feature: the mean rise in log loss and fall in AUC when its column is shuffled (``repeats``
    shuffles), sorted by the log-loss rise."""
    base = metrics(y, model.churn_probability(X))
    rng = np.random.default_rng([seed, 17])
    out = []
    for j, name in enumerate(names):
        rises, falls = [], []
        for _ in range(repeats):
            Xp = X.copy()
            Xp[:, j] = Xp[rng.permutation(len(y)), j]
            m = metrics(y, model.churn_probability(Xp))
            rises.append(m["log_loss"] - base["log_loss"])
            falls.append(base["auc"] - m["auc"])
        out.append(
            {
                "feature": name,
                "log_loss_increase": round(float(np.mean(rises)), 6),
                "auc_decrease": round(float(np.mean(falls)), 6),
            }
        )
    return sorted(out, key=lambda r: (-r["log_loss_increase"], r["feature"]))
