"""Holdout metrics of a probabilistic binary classifier."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss, precision_score, recall_score, roc_auc_score

TOP_FRACTION = 0.10


def _r(x: float) -> float:
    return round(float(x), 6)


def metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float | int]:
    """AUC, log loss, Brier score, precision/recall among the top decile of scores, and precision/recall
    at ``threshold``. Ties at the decile cut are broken by row order (stable sort)."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    k = max(1, int(round(len(y) * TOP_FRACTION)))
    top = np.argsort(-p, kind="stable")[:k]
    positives = int(y.sum())
    pred = (p >= threshold).astype(int)
    return {
        "auc": _r(roc_auc_score(y, p)),
        "log_loss": _r(log_loss(y, p, labels=[0, 1])),
        "brier": _r(brier_score_loss(y, p)),
        "precision_top_decile": _r(y[top].mean()),
        "recall_top_decile": _r(y[top].sum() / positives if positives else 0.0),
        "precision_at_threshold": _r(precision_score(y, pred, zero_division=0)),
        "recall_at_threshold": _r(recall_score(y, pred, zero_division=0)),
        "predicted_positive_rate": _r(pred.mean()),
    }


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean predicted probability, observed churn rate and count per equal-width probability bin
    (bins without rows are left out)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    mean_p, rate, count = [], [], []
    for b in range(bins):
        m = which == b
        if m.any():
            mean_p.append(p[m].mean())
            rate.append(y[m].mean())
            count.append(int(m.sum()))
    return np.array(mean_p), np.array(rate), np.array(count)
