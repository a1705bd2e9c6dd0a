"""Metrics of a probabilistic binary classifier: point values, bootstrap intervals, paired differences,
equal-count reliability bins, calibration-in-the-large."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

TOP_FRACTION = 0.10
# the metrics every model gets, point value and interval
METRICS = ("auc", "log_loss", "brier", "precision_top_decile", "recall_top_decile", "lift_top_decile")
BOOTSTRAP = 400
EPS = 1e-7


def _r(x: float) -> float:
    return round(float(x), 6)


def _top(p: np.ndarray) -> np.ndarray:
    """Indices of the top decile of ``p``; ties at the cut broken by row order (stable sort)."""
    k = max(1, int(round(len(p) * TOP_FRACTION)))
    return np.argsort(-p, kind="stable")[:k]


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AUC, log loss, Brier score, precision, recall and lift (precision / base rate) among the top
    decile of scores."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    top = _top(p)
    positives = int(y.sum())
    rate = y.mean() if len(y) else 0.0
    precision = y[top].mean()
    return {
        "auc": _r(roc_auc_score(y, p)),
        "log_loss": _r(log_loss(y, p, labels=[0, 1])),
        "brier": _r(brier_score_loss(y, p)),
        "precision_top_decile": _r(precision),
        "recall_top_decile": _r(y[top].sum() / positives if positives else 0.0),
        "lift_top_decile": _r(precision / rate if rate else 0.0),
    }


def decision_metrics(y: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    """Share of members flagged, and precision and recall of the flags."""
    y = np.asarray(y, dtype=int)
    flagged = np.asarray(flagged, dtype=bool)
    hits = int((y[flagged] == 1).sum())
    return {
        "contacted_share": _r(flagged.mean() if len(y) else 0.0),
        "precision": _r(hits / flagged.sum() if flagged.any() else 0.0),
        "recall": _r(hits / y.sum() if y.sum() else 0.0),
    }


def _weighted(
    y: np.ndarray, p: np.ndarray, w: np.ndarray, order: np.ndarray, group: np.ndarray
) -> np.ndarray:
    """The METRICS of the sample with row weights ``w`` (a bootstrap resample as counts). ``order``
    sorts ``p`` descending (stable) and ``group`` numbers the distinct values of ``p`` ascending."""
    total = w.sum()
    pos_w = w * y
    neg_w = w - pos_w
    n_pos, n_neg = pos_w.sum(), neg_w.sum()
    # AUC: for each positive, the weight of negatives below it plus half of those tied with it
    neg_by_group = np.bincount(group, weights=neg_w)
    pos_by_group = np.bincount(group, weights=pos_w)
    below = np.cumsum(neg_by_group) - neg_by_group
    auc = ((below + 0.5 * neg_by_group) * pos_by_group).sum() / max(n_pos * n_neg, 1e-12)
    ll = -(pos_w * np.log(p) + neg_w * np.log(1 - p)).sum() / total
    brier = (w * (p - y) ** 2).sum() / total
    cum = np.cumsum(w[order])
    k = max(1, int(np.searchsorted(cum, TOP_FRACTION * total, side="left")) + 1)
    top = order[:k]
    top_w = w[top].sum()
    precision = pos_w[top].sum() / top_w if top_w else 0.0
    recall = pos_w[top].sum() / n_pos if n_pos else 0.0
    lift = precision / (n_pos / total) if n_pos else 0.0
    return np.array([auc, ll, brier, precision, recall, lift])


def _prepared(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    order = np.argsort(-p, kind="stable")
    group = np.unique(p, return_inverse=True)[1]
    return y, p, order, group


def _resamples(n: int, seed: int, rounds: int) -> np.ndarray:
    rng = np.random.default_rng([seed, n, 95])
    return np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(rounds)]).astype(float)


def bootstrap_intervals(
    y: np.ndarray, p: np.ndarray, seed: int, rounds: int = BOOTSTRAP
) -> dict[str, list[float]]:
    """Percentile bootstrap 95 % interval of each of METRICS (``rounds`` resamples of the rows)."""
    y, p, order, group = _prepared(y, p)
    stats = np.array([_weighted(y, p, w, order, group) for w in _resamples(len(y), seed, rounds)])
    lo, hi = np.percentile(stats, [2.5, 97.5], axis=0)
    return {m: [_r(a), _r(b)] for m, a, b in zip(METRICS, lo, hi, strict=True)}


def paired_differences(
    y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, seed: int, rounds: int = BOOTSTRAP
) -> dict[str, dict[str, float]]:
    """``a - b`` for each of METRICS on the same rows: the point difference and its paired bootstrap
    95 % interval (both models scored on each resample), so the noise shared by both cancels."""
    ya, pa, oa, ga = _prepared(y, p_a)
    _, pb, ob, gb = _prepared(y, p_b)
    diffs = np.array(
        [
            _weighted(ya, pa, w, oa, ga) - _weighted(ya, pb, w, ob, gb)
            for w in _resamples(len(ya), seed, rounds)
        ]
    )
    point = _weighted(ya, pa, np.ones(len(ya)), oa, ga) - _weighted(ya, pb, np.ones(len(ya)), ob, gb)
    lo, hi = np.percentile(diffs, [2.5, 97.5], axis=0)
    return {
        m: {"diff": _r(d), "low": _r(a), "high": _r(b)}
        for m, d, a, b in zip(METRICS, point, lo, hi, strict=True)
    }


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean predicted probability, observed churn rate and count per equal-count bin of the sorted
    probabilities (``bins`` bins, or fewer when there are fewer rows)."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if len(p) == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=int)
    order = np.argsort(p, kind="stable")
    parts = [part for part in np.array_split(order, min(bins, len(p))) if len(part)]
    return (
        np.array([p[i].mean() for i in parts]),
        np.array([y[i].mean() for i in parts]),
        np.array([len(i) for i in parts]),
    )


def calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict[str, object]:
    """Calibration-in-the-large (mean probability minus churn rate), and the equal-count reliability bins
    with their expected calibration error (count-weighted mean |predicted - observed|)."""
    mean_p, rate, count = reliability(y, p, bins)
    return {
        "in_the_large": _r(np.mean(p) - np.mean(y)),
        "mean_probability": _r(np.mean(p)),
        "churn_rate": _r(np.mean(y)),
        "expected_calibration_error": _r(np.sum(np.abs(mean_p - rate) * count) / max(count.sum(), 1)),
        "bins": [
            {"mean_probability": _r(a), "churn_rate": _r(b), "rows": int(c)}
            for a, b, c in zip(mean_p, rate, count, strict=True)
        ],
    }
