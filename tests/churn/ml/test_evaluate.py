"""Metrics, bootstrap intervals, paired differences, equal-count reliability, calibration, policy, PSI."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from churn.ml import drift, policy
from churn.ml.evaluate import (
    METRICS,
    bootstrap_intervals,
    calibration,
    metrics,
    paired_differences,
    reliability,
)
from churn.ml.select import promote


@pytest.fixture(scope="module")
def scored() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 3000
    signal = rng.normal(size=n)
    p_true = 1 / (1 + np.exp(-(-2.5 + 1.5 * signal)))
    y = (rng.random(n) < p_true).astype(int)
    noisy = 1 / (1 + np.exp(-(-2.5 + 1.5 * signal + rng.normal(0, 1.5, n))))
    return y, p_true, noisy


def test_point_metrics_match_sklearn_and_lift(scored: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    y, p, _ = scored
    m = metrics(y, p)
    assert m["auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-6)
    assert m["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-6)
    assert m["lift_top_decile"] == pytest.approx(m["precision_top_decile"] / y.mean(), abs=1e-5)
    assert m["lift_top_decile"] > 2


def test_bootstrap_interval_brackets_the_point_value(
    scored: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    y, p, _ = scored
    point, iv = metrics(y, p), bootstrap_intervals(y, p, seed=1, rounds=200)
    assert set(iv) == set(METRICS)
    for k in METRICS:
        lo, hi = iv[k]
        assert lo < hi
        assert lo - 0.02 * abs(point[k]) <= point[k] <= hi + 0.02 * abs(point[k]), k
    assert bootstrap_intervals(y, p, seed=1, rounds=200) == iv  # seeded


def test_paired_differences_see_a_real_gap_and_no_gap(
    scored: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    y, good, bad = scored
    same = paired_differences(y, good, good, seed=2, rounds=100)
    assert all(d["diff"] == 0 and d["low"] == 0 and d["high"] == 0 for d in same.values())
    gap = paired_differences(y, good, bad, seed=2, rounds=200)
    assert gap["auc"]["low"] > 0 and gap["log_loss"]["high"] < 0  # better model: higher AUC, lower loss
    assert promote(gap)[0] == "boosted"
    assert promote(paired_differences(y, bad, good, seed=2, rounds=200))[0] == "logistic"


def test_promotion_needs_both_metrics_beyond_the_noise() -> None:
    win = {"diff": -0.01, "low": -0.02, "high": -0.001}
    lift_noise = {"diff": 0.1, "low": -0.05, "high": 0.3}
    promoted, reason = promote({"log_loss": win, "lift_top_decile": lift_noise})
    assert promoted == "logistic" and "lift top decile" in reason and "simpler model is kept" in reason
    lift_win = {"diff": 0.2, "low": 0.05, "high": 0.4}
    assert promote({"log_loss": win, "lift_top_decile": lift_win})[0] == "boosted"
    worse_loss = {"diff": 0.01, "low": 0.001, "high": 0.02}
    assert promote({"log_loss": worse_loss, "lift_top_decile": lift_win})[0] == "logistic"


def test_reliability_bins_hold_equal_counts_and_calibration_in_the_large() -> None:
    p = np.linspace(0.001, 0.5, 1000)
    y = (np.arange(1000) % 10 == 0).astype(int)
    mean_p, rate, count = reliability(y, p, bins=10)
    assert list(count) == [100] * 10 and np.all(np.diff(mean_p) > 0)
    assert rate.mean() == pytest.approx(0.1)
    cal = calibration(y, p)
    assert cal["in_the_large"] == pytest.approx(p.mean() - 0.1, abs=1e-6)
    assert len(cal["bins"]) == 10 and sum(b["rows"] for b in cal["bins"]) == 1000
    assert len(reliability(y[:3], p[:3], bins=10)[2]) == 3  # fewer rows than bins


def test_top_share_policy_contacts_the_share_and_reports_recall() -> None:
    rng = np.random.default_rng(3)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    params = policy.policy_params("top-share", None, None, None)
    cut = policy.threshold(params, p)
    described = policy.describe(params, cut, y, p)
    assert described["expected"]["contacted_share"] == pytest.approx(0.1)
    assert 0 < described["expected"]["recall"] < 1 and described["expected"]["precision"] > y.mean()
    assert "contact the 10% of members" in policy.sentence(described)
    ev = policy.policy_params("expected-value", None, 30.0, 300.0)
    assert policy.threshold(ev, p) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("top-share", 1.5, None, None), "--contact-share"),
        (("expected-value", None, None, 10.0), "--offer-cost"),
        (("expected-value", None, 5.0, 0.0), "--member-value"),
        (("lottery", None, None, None), "unknown policy"),
    ],
)
def test_policy_errors_name_the_parameter(args: tuple, named: str) -> None:
    with pytest.raises(policy.PolicyError, match=named):
        policy.policy_params(*args)


def test_psi_is_zero_on_the_training_population_and_flags_a_shift() -> None:
    rng = np.random.default_rng(4)
    X = np.column_stack([rng.normal(size=5000), rng.integers(0, 4, 5000).astype(float)])
    X[::50, 0] = np.nan
    ref = drift.reference(X, ["x", "code"], [False, True])
    same = drift.psi(ref, X, ["x", "code"])
    assert same == {"x": 0.0, "code": 0.0}
    shifted = X.copy()
    shifted[:, 0] += 1.0
    shifted[:500, 1] = 9.0  # an unseen code
    psi = drift.psi(ref, shifted, ["x", "code"])
    assert drift.level(psi["x"]) == "major" and psi["code"] > 0.05
