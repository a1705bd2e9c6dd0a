"""Feature drift: the training features' reference distribution and the population stability index of
a scoring population against it.

Numeric features: ten bins at the training deciles (distinct edges only) plus a bin for missing values;
categorical features: one bin per code seen in training, one for unseen codes, one for missing. PSI =
sum over bins of (a - e) * ln(a / e), shares floored at 1e-4. Rule of thumb: < 0.1 stable, 0.1-0.25
moderate shift, > 0.25 major shift.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOOR = 1e-4
BINS = 10
MODERATE, MAJOR = 0.1, 0.25


def _counts_numeric(x: np.ndarray, edges: list[float]) -> np.ndarray:
    missing = np.isnan(x)
    inner = np.searchsorted(np.asarray(edges), x[~missing], side="right")
    return np.append(np.bincount(inner, minlength=len(edges) + 1), missing.sum()).astype(float)


def _counts_categorical(x: np.ndarray, codes: list[float]) -> np.ndarray:
    missing = np.isnan(x)
    known = np.isin(x, codes)
    per_code = [float((x == c).sum()) for c in codes]
    return np.array([*per_code, float((~known & ~missing).sum()), float(missing.sum())])


def reference(X: np.ndarray, names: list[str], categorical: list[bool]) -> dict[str, Any]:
    """Bins and training shares of every feature (JSON-ready)."""
    features = {}
    for j, name in enumerate(names):
        x = X[:, j].astype(float)
        present = x[~np.isnan(x)]
        if categorical[j]:
            codes = sorted({float(v) for v in present})
            counts = _counts_categorical(x, codes)
            features[name] = {"kind": "categorical", "codes": codes}
        else:
            qs = np.quantile(present, np.linspace(0, 1, BINS + 1)[1:-1]) if len(present) else np.zeros(0)
            edges = sorted({float(q) for q in qs})
            counts = _counts_numeric(x, edges)
            features[name] = {"kind": "numeric", "edges": edges}
        features[name]["shares"] = [round(float(c), 8) for c in counts / max(counts.sum(), 1.0)]
    return {"rows": int(len(X)), "features": features}


def psi(ref: dict[str, Any], X: np.ndarray, names: list[str]) -> dict[str, float]:
    """PSI of each feature of ``X`` (columns in ``names`` order) against ``ref``."""
    out = {}
    for j, name in enumerate(names):
        f = ref["features"][name]
        x = X[:, j].astype(float)
        counts = (
            _counts_categorical(x, f["codes"])
            if f["kind"] == "categorical"
            else _counts_numeric(x, f["edges"])
        )
        a = np.maximum(counts / max(counts.sum(), 1.0), FLOOR)
        e = np.maximum(np.asarray(f["shares"], dtype=float), FLOOR)
        out[name] = round(float(np.sum((a - e) * np.log(a / e))), 6)
    return out


def level(value: float) -> str:
    """``stable``, ``moderate`` or ``major``."""
    return "major" if value > MAJOR else "moderate" if value > MODERATE else "stable"
