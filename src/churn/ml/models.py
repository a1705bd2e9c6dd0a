"""The candidate models (gradient boosting, logistic regression) and the bounded probability wrapper that
churn-predict loads."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

# probabilities are kept inside [P_MIN, 1 - P_MIN]: never exactly 0 or 1 (a wrong 0 or 1 is an infinite
# log loss), and still distinct from each other at the 6 decimals CHURN_SCORES holds
P_MIN = 1e-4
MAX_ITER = 1000

# the boosted model's search space: one shallow and slow, some medium, one wide; each is early-stopped
# on a validation fold (learning rate, leaves, depth, minimum leaf size, L2)
BOOSTER_GRID: tuple[dict[str, Any], ...] = (
    {
        "learning_rate": 0.05,
        "max_leaf_nodes": 15,
        "max_depth": None,
        "min_samples_leaf": 100,
        "l2_regularization": 1.0,
    },
    {
        "learning_rate": 0.05,
        "max_leaf_nodes": 7,
        "max_depth": 3,
        "min_samples_leaf": 200,
        "l2_regularization": 1.0,
    },
    {
        "learning_rate": 0.03,
        "max_leaf_nodes": 31,
        "max_depth": 6,
        "min_samples_leaf": 100,
        "l2_regularization": 3.0,
    },
    {
        "learning_rate": 0.1,
        "max_leaf_nodes": 15,
        "max_depth": 4,
        "min_samples_leaf": 50,
        "l2_regularization": 3.0,
    },
    {
        "learning_rate": 0.05,
        "max_leaf_nodes": 31,
        "max_depth": None,
        "min_samples_leaf": 400,
        "l2_regularization": 0.0,
    },
    {
        "learning_rate": 0.03,
        "max_leaf_nodes": 7,
        "max_depth": None,
        "min_samples_leaf": 50,
        "l2_regularization": 10.0,
    },
)


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def build_booster(
    categorical: list[bool],
    seed: int,
    params: dict[str, Any],
    max_iter: int = MAX_ITER,
    early_stopping: bool = False,
) -> HistGradientBoostingClassifier:
    """HistGradientBoostingClassifier (native categorical splits, missing values allowed) with ``params``;
    with ``early_stopping``, stopped when the validation log loss has not improved for 30 rounds."""
    return HistGradientBoostingClassifier(
        **params,
        max_iter=max_iter,
        categorical_features=np.asarray(categorical, dtype=bool),
        early_stopping=early_stopping,
        n_iter_no_change=30,
        scoring="loss",
        random_state=seed,
    )


def build_baseline(categorical: list[bool], seed: int) -> Pipeline:
    """Logistic regression: numeric features signed-log1p'd, imputed (median) and scaled; categorical
    codes imputed (-1) and one-hot encoded (unknown codes ignored)."""
    num_idx = [i for i, c in enumerate(categorical) if not c]
    cat_idx = [i for i, c in enumerate(categorical) if c]
    numeric = make_pipeline(
        FunctionTransformer(_signed_log1p, feature_names_out="one-to-one"),
        SimpleImputer(strategy="median"),
        StandardScaler(),
    )
    cats = make_pipeline(
        SimpleImputer(strategy="constant", fill_value=-1.0),
        OneHotEncoder(handle_unknown="ignore", min_frequency=20),
    )
    prep = ColumnTransformer([("num", numeric, num_idx), ("cat", cats, cat_idx)])
    return Pipeline([("prep", prep), ("logreg", LogisticRegression(max_iter=2000, C=1.0, random_state=seed))])


def fit_platt(p_raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling ``sigmoid(a * logit(p) + b)`` fitted on out-of-fold probabilities: monotone, two
    parameters, and it cannot saturate the way isotonic regression's steps do."""
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(p_raw).reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


class BoundedModel:
    """A fitted estimator's churn probability, optionally Platt-scaled, kept inside [P_MIN, 1 - P_MIN].

    ``predict_proba`` returns the two columns scikit-learn's classifiers return."""

    def __init__(
        self, estimator: Any, platt: tuple[float, float] | None = None, p_min: float = P_MIN
    ) -> None:
        self.estimator = estimator
        self.platt = platt
        self.p_min = p_min

    def calibrate(self, p: np.ndarray) -> np.ndarray:
        """The Platt scaling (if any) and the bounds applied to the estimator's raw probabilities."""
        p = np.asarray(p, dtype=float)
        if self.platt is not None:
            a, b = self.platt
            p = 1.0 / (1.0 + np.exp(-(a * _logit(p) + b)))
        return np.clip(p, self.p_min, 1.0 - self.p_min)

    def churn_probability(self, X: np.ndarray) -> np.ndarray:
        """P(churn) of each row, bounded."""
        return self.calibrate(self.estimator.predict_proba(X)[:, 1])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``[[1 - p, p], ...]``."""
        p = self.churn_probability(X)
        return np.column_stack([1.0 - p, p])
