"""A failed egress read back: after the egress of a churn_predict job fails, ``churn_predict@master``
carries the error and serves what the table still holds (never the output that was not loaded), and
``churn explain`` and the console's score lookup say CHURN_SCORES is stale."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import churn.console_plugin
from churn.lineage import explain, format_lineage, table_status
from churn.warehouse import EMBEDDED_URL, connect, init
from helpers.warehouse import sql
from pachlet.api import Pachlet
from pachlet.console import create_app
from pachlet.records import JOB_FAILURE, JOB_SUCCESS

HEADER = "MSNO,CHURN_PROBABILITY,CHURN_PREDICTION,MODEL_COMMIT,GLOBAL_ID,SCORED_AT"


def predict_spec() -> dict[str, Any]:
    """A stand-in churn_predict: one scores shard per job, GLOBAL_ID from the job, egressed as churn's."""
    script = (
        "mkdir -p /pfs/out/CHURN_SCORES && "
        f"{{ echo '{HEADER}'; echo \"u1,$(cat /pfs/probs/p),0,,$PACH_JOB_ID,2026-01-01 00:00:00\"; }}"
        " > /pfs/out/CHURN_SCORES/shard-00.csv"
    )
    return {
        "pipeline": {"name": "churn_predict"},
        "input": {"pfs": {"repo": "probs", "glob": "/"}},
        "transform": {"cmd": ["sh", "-c", script]},
        "egress": {
            "sqlDatabase": {
                "url": EMBEDDED_URL,
                "fileFormat": {"type": "CSV", "columns": HEADER.split(",")},
                "secret": {"name": "snowflakesecret", "key": "PACHYDERM_SQL_PASSWORD"},
            }
        },
    }


@pytest.fixture
def pach(tmp_path: Path) -> Iterator[Pachlet]:
    with connect() as conn:
        init(conn)
    p = Pachlet(tmp_path / "root", timeout=5)
    p.create_secret(
        {
            "kind": "Secret",
            "metadata": {"name": "snowflakesecret"},
            "stringData": {"PACHYDERM_SQL_PASSWORD": "x"},
        }
    )
    p.create_repo("probs")
    yield p
    p.close()


def test_failed_egress_read_back(pach: Pachlet) -> None:
    pach.put_file("probs", "master", "/p", b"0.25")
    pach.create_pipeline(predict_spec())
    pach.run_until_idle()
    good = pach.list_jobs("churn_predict")[0]
    assert good.state == JOB_SUCCESS, good.reason
    loaded = pach.get_file("churn_predict", "master", "/CHURN_SCORES/shard-00.csv")
    assert sql("SELECT MSNO, CHURN_PROBABILITY, GLOBAL_ID FROM CHURN_SCORES") == [("u1", 0.25, good.id)]
    assert table_status(pach, good.id) == {"stale": False, "latest_job": None, "note": ""}

    pach.put_file("probs", "master", "/p", b"not-a-probability")  # the egress cannot load this row
    pach.run_until_idle()
    bad = pach.list_jobs("churn_predict")[0]
    assert bad.id != good.id and bad.state == JOB_FAILURE
    assert "line 2" in bad.reason and "rolled back" in bad.reason

    # the commit carries the error, and master serves what the table holds, not the unloaded output
    head = pach.inspect_commit("churn_predict", "master")
    assert head.id == bad.id and head.error == bad.reason and head.finished is not None
    assert pach.get_file("churn_predict", "master", "/CHURN_SCORES/shard-00.csv") == loaded
    assert b"not-a-probability" not in pach.get_file("churn_predict", bad.id, "/CHURN_SCORES/shard-00.csv")
    assert sql("SELECT MSNO, CHURN_PROBABILITY, GLOBAL_ID FROM CHURN_SCORES") == [("u1", 0.25, good.id)]

    # churn explain: the row traces to the good job, and the table is said to be stale
    row = {"MSNO": "u1", "GLOBAL_ID": good.id, "MODEL_COMMIT": None}
    info = explain(pach, "u1", row=row)
    assert info["predict_job"]["id"] == good.id
    assert info["table"]["stale"] and info["table"]["latest_job"]["id"] == bad.id
    assert f"the newest churn_predict job {bad.id} ended JOB_FAILURE" in info["table"]["note"]
    assert "STALE" in format_lineage(info) and bad.id in format_lineage(info)

    # the console's score lookup reads master (the loaded rows) and shows the same banner
    app = create_app(pach, plugins={"churn": churn.console_plugin}, load_entry_points=False)
    with TestClient(app, base_url="http://localhost") as c:
        page = c.get("/churn/scores?msno=u1").text
    assert f"churn_predict@{bad.id}:/CHURN_SCORES/shard-00.csv" in page
    assert 'class="banner failure stale"' in page and "CHURN_SCORES is stale" in page
    assert json.loads(json.dumps(info))["table"]["stale"] is True

    # once the data is fixed the next job loads it and nothing is stale any more
    pach.put_file("probs", "master", "/p", b"0.5")
    pach.run_until_idle()
    fixed = pach.list_jobs("churn_predict")[0]
    assert fixed.state == JOB_SUCCESS, fixed.reason
    assert sql("SELECT CHURN_PROBABILITY, GLOBAL_ID FROM CHURN_SCORES") == [(0.5, fixed.id)]
    assert not table_status(pach, fixed.id)["stale"]
