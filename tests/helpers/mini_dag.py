"""A small DAG named as churn's (cron -> queries -> data -> features -> model / predict), run to the end on
a pachlet root: enough for lineage and the Jupyter extension's explore and test modes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from churn.stages.sharding import shard_name, shard_of
from pachlet.api import Pachlet

MSNO = "u1"
MINE = shard_name(shard_of(MSNO, 2))
"""The feature shard (of two) that holds MSNO; the other holds u2."""
OTHER = shard_name(1 - shard_of(MSNO, 2))
PREDICT_INPUT = {
    "cross": [
        {"pfs": {"repo": "churn_score_features", "glob": "/*"}},
        {"pfs": {"repo": "churn_model", "glob": "/"}},
    ]
}
"""churn_predict's input spec (one datum per feature shard, crossed with the model)."""


def _spec(name: str, inp: dict[str, Any], script: str) -> dict[str, Any]:
    return {"pipeline": {"name": name}, "input": inp, "transform": {"cmd": ["sh", "-c", script]}}


def build_dag(root: Path) -> dict[str, Any]:
    """The DAG, run to the end; returns the CHURN_SCORES row its predict job would have egressed."""
    with Pachlet(root, timeout=5) as p:
        p.create_pipeline(
            _spec(
                "churn_score_queries",
                {"cron": {"name": "tick", "spec": "@daily"}},
                "printf 'SELECT msno\\nFROM members\\nWHERE 1=1' > /pfs/out/0000",
            )
        )
        p.create_pipeline(
            _spec(
                "churn_score_data",
                {"pfs": {"repo": "churn_score_queries", "glob": "/"}},
                "echo u1 > /pfs/out/data.csv",
            )
        )
        p.create_pipeline(
            _spec(
                "churn_score_features",
                {"pfs": {"repo": "churn_score_data", "glob": "/"}},
                f"mkdir -p /pfs/out/{MINE} /pfs/out/{OTHER} && cp /pfs/churn_score_data/data.csv /pfs/out/{MINE}/f.txt"
                f" && echo u2 > /pfs/out/{OTHER}/f.txt",
            )
        )
        p.create_pipeline(
            _spec(
                "churn_model",
                {"pfs": {"repo": "churn_score_features", "glob": "/"}},
                'echo \'{"model": {"roc_auc": 0.75}}\' > /pfs/out/metrics.json',
            )
        )
        p.create_pipeline(
            _spec(
                "churn_predict",
                PREDICT_INPUT,
                "shard=$(ls /pfs/churn_score_features) && mkdir -p /pfs/out/CHURN_SCORES && "
                "{ echo 'MSNO,CHURN_PROBABILITY,CHURN_PREDICTION,MODEL_COMMIT,GLOBAL_ID,SCORED_AT'; "
                "if grep -q u1 /pfs/churn_score_features/$shard/f.txt; then "
                'echo "u1,0.5,1,,$PACH_JOB_ID,2026-01-01 00:00:00"; fi; } > /pfs/out/CHURN_SCORES/$shard.csv',
            )
        )
        p.run_cron("churn_score_queries")
        p.run_until_idle()
        job = p.list_jobs("churn_predict")[0]
        assert job.state == "JOB_SUCCESS", job.reason
        model = p.inspect_commit("churn_model", "master").id
    return {
        "MSNO": MSNO,
        "CHURN_PROBABILITY": 0.5,
        "CHURN_PREDICTION": 1,
        "MODEL_COMMIT": model,
        "GLOBAL_ID": job.id,
        "SCORED_AT": "2026-01-01 00:00:00",
    }
