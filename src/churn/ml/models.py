"""The churn model (calibrated gradient boosting) and its logistic-regression baseline."""

from __future__ import annotations

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

CALIBRATION_FOLDS = 3


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def build_model(categorical: list[bool], seed: int) -> CalibratedClassifierCV:
    """HistGradientBoostingClassifier (native categorical splits, missing values allowed), calibrated by
    isotonic regression on stratified folds (ensemble of one booster per fold)."""
    booster = HistGradientBoostingClassifier(
        learning_rate=0.03,
        max_iter=1000,
        max_leaf_nodes=15,
        min_samples_leaf=100,
        l2_regularization=1.0,
        categorical_features=np.asarray(categorical, dtype=bool),
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=40,
        random_state=seed,
    )
    folds = StratifiedKFold(n_splits=CALIBRATION_FOLDS, shuffle=True, random_state=seed)
    return CalibratedClassifierCV(booster, method="isotonic", cv=folds)


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
