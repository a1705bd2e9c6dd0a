"""The churn console pages fed by train's metrics.json and churn_monitor's monitor.json: promotion,
intervals, policy, calibration, importance; realized metrics per model commit and PSI."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.testclient import TestClient

from pachlet.api import Pachlet
from pachlet.console.app import create_app

XSS = "<script>alert(1)</script>"


def _metrics() -> dict:
    m = {
        "auc": 0.8712,
        "log_loss": 0.2101,
        "brier": 0.06,
        "precision_top_decile": 0.5,
        "recall_top_decile": 0.52,
        "lift_top_decile": 5.1,
    }
    iv = {k: [round(v * 0.9, 4), round(v * 1.1, 4)] for k, v in m.items()}
    return {
        "model": m, "challenger": {**m, "auc": 0.8801}, "baseline": m,
        "intervals": {"model": iv, "challenger": iv, "baseline": iv},
        "promotion": {"promoted": "logistic", "reason": f"not beyond the noise {XSS}"},
        "policy": {"rule": "top-share", "contact_share": 0.1, "threshold": 0.27,
                   "expected": {"contacted_share": 0.1, "precision": 0.5, "recall": 0.52}},
        "calibration": {"in_the_large": 0.0011, "mean_probability": 0.098, "churn_rate": 0.097},
        "importance": {"boosted": [{"feature": "days_to_expiry", "log_loss_increase": 0.0312,
                                    "auc_decrease": 0.02}],
                       "logistic": [{"feature": f"auto_renew {XSS}", "log_loss_increase": 0.021,
                                     "auc_decrease": 0.01}]},
    }  # fmt: skip


def _monitor(model_commit: str) -> dict:
    return {
        "predict_jobs": ["a" * 32],
        "model_commits": [model_commit, "old"],
        "outcomes": 6720,
        "holdout": {"auc": 0.8712, "log_loss": 0.2101, "brier": 0.06, "recall_top_decile": 0.52},
        "holdout_calibration_in_the_large": 0.0011,
        "promoted": "logistic",
        "realized": {
            model_commit: {"rows": 6720, "scored": 6720, "auc": 0.8743, "log_loss": 0.2182, "brier": 0.061,
                           "recall_top_decile": 0.5337, "in_the_large": -0.0056},
            "old": {"rows": 0, "scored": 10, "note": "no outcomes yet"},
        },
        "drift": {"psi": {"customer_days": 0.4925, "auto_renew": 0.0012, XSS: 0.15},
                  "max": {"feature": "customer_days", "psi": 0.4925, "level": "major"}},
    }  # fmt: skip


def test_model_and_monitor_pages(tmp_path: Path) -> None:
    import churn.console_plugin as plugin

    with Pachlet(tmp_path / "root", timeout=5) as p:
        p.create_repo("churn_model")
        p.start_commit("churn_model", "master")
        p.put_file("churn_model", "master", "/metrics.json", json.dumps(_metrics()).encode())
        model = p.finish_commit("churn_model", "master")
    app = create_app(tmp_path / "root", plugins={"churn": plugin}, load_entry_points=False)
    with TestClient(app, base_url="http://localhost") as c:
        page = c.get("/churn/model").text
        assert 'data-promoted="logistic"' in page and "not beyond the noise &lt;script&gt;" in page
        assert "<script" not in page
        assert "0.8801" in page and "[0.7841, 0.9583]" in page  # challenger column and an interval
        assert 'data-policy="top-share"' in page and "recall 0.52" in page
        assert "calibration-in-the-large" in page and "0.0011" in page
        assert 'data-model="boosted"' in page and "days_to_expiry" in page and "0.0312" in page
        empty = c.get("/churn/monitor").text
        assert "no repo churn_monitor yet" in empty

    with Pachlet(tmp_path / "root", timeout=5) as p:
        p.create_repo("churn_monitor")
        p.start_commit("churn_monitor", "master")
        p.put_file("churn_monitor", "master", "/monitor.json", json.dumps(_monitor(model.id)).encode())
        mon = p.finish_commit("churn_monitor", "master")
    app = create_app(tmp_path / "root", plugins={"churn": plugin}, load_entry_points=False)
    with TestClient(app, base_url="http://localhost") as c:
        page = c.get("/churn/monitor").text
        assert "<script" not in page and "&lt;script&gt;" in page
        assert f'data-commit="{model.id}"' in page and "0.8743" in page and "0.5337" in page
        assert "no outcomes yet" in page  # the older model commit has none
        assert "holdout (reported)" in page and "0.8712" in page
        rows = page.split('class="drift"')[1]
        assert rows.index("customer_days") < rows.index("auto_renew")  # worst first
        assert "major" in rows and "moderate" in rows and "stable" in rows
        assert "customer_days 0.4925" in page  # history row
        assert c.get("/churn/monitor", params={"commit": mon.id}).status_code == 200
        assert 'href="/churn/monitor">' in c.get("/repos/churn_monitor").text
