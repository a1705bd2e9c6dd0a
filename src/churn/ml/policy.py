"""The campaign policy that turns churn probabilities into CHURN_PREDICTION (who is contacted).

Two rules, chosen in the pipeline parameters (``churn-train --policy``):

* ``top-share``: contact the given share of members with the highest probabilities (default: the top
  decile). The cut is fixed at training as the probability at that quantile of the holdout scores, so
  every shard is cut alike and a drifting population shows up as a drifting contacted share;
* ``expected-value``: contact a member when the expected value of the offer is positive,
  ``p * member_value >= offer_cost`` (member value: what keeping a would-be churner is worth, net of the
  share the offer fails to keep), i.e. a threshold of ``offer_cost / member_value``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from churn.errors import ChurnError
from churn.ml.evaluate import decision_metrics

POLICIES = ("top-share", "expected-value")
DEFAULT_SHARE = 0.10


class PolicyError(ChurnError):
    """A campaign policy with missing or impossible parameters (the message names the parameter)."""


def policy_params(
    policy: str, contact_share: float | None, offer_cost: float | None, member_value: float | None
) -> dict[str, Any]:
    """The checked parameters of a policy."""
    if policy == "top-share":
        share = DEFAULT_SHARE if contact_share is None else contact_share
        if not 0 < share <= 1:
            raise PolicyError(f"--contact-share must be in (0, 1], got {share}")
        return {"rule": policy, "contact_share": share}
    if policy == "expected-value":
        if offer_cost is None or member_value is None:
            raise PolicyError("policy expected-value needs --offer-cost and --member-value")
        if offer_cost < 0 or member_value <= 0:
            raise PolicyError(
                f"--offer-cost must be >= 0 and --member-value > 0, got {offer_cost} and {member_value}"
            )
        return {"rule": policy, "offer_cost": offer_cost, "member_value": member_value}
    raise PolicyError(f"unknown policy {policy!r} (expected one of {', '.join(POLICIES)})")


def threshold(params: dict[str, Any], holdout_p: np.ndarray) -> float:
    """The probability at or above which a member is contacted."""
    if params["rule"] == "top-share":
        if len(holdout_p) == 0:
            return 1.0
        k = max(1, int(round(len(holdout_p) * params["contact_share"])))
        return float(np.sort(holdout_p)[::-1][k - 1])
    return float(params["offer_cost"] / params["member_value"])


def decide(p: np.ndarray, cut: float) -> np.ndarray:
    """0/1 CHURN_PREDICTION: contact when the probability reaches the cut."""
    return (np.asarray(p) >= cut).astype(int)


def describe(params: dict[str, Any], cut: float, y: np.ndarray, holdout_p: np.ndarray) -> dict[str, Any]:
    """The policy, its cut, and what it is expected to do (contacted share, precision, recall on the
    holdout)."""
    expected = decision_metrics(y, decide(holdout_p, cut).astype(bool))
    return {**params, "threshold": round(cut, 6), "expected": expected}


def sentence(policy: dict[str, Any]) -> str:
    """The policy in words, for the model card."""
    e = policy["expected"]
    if policy["rule"] == "top-share":
        what = f"contact the {policy['contact_share']:.0%} of members most likely to churn"
    else:
        what = (
            f"contact a member when p x member value ({policy['member_value']:g}) reaches the offer cost "
            f"({policy['offer_cost']:g})"
        )
    return (
        f"{what}: `CHURN_PREDICTION` is 1 when the probability is at least {policy['threshold']:.4f}. On the "
        f"holdout this contacts {e['contacted_share']:.1%} of members with precision {e['precision']:.3f} "
        f"and recall {e['recall']:.3f}."
    )
