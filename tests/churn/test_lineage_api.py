"""`churn explain` through the Pachyderm API: the same lineage from python-pachyderm calls against
`pachlet serve` as from the local root, on a small DAG named as churn's (cron -> queries -> data ->
features -> model / predict)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from churn.console_plugin import scores_context
from churn.lineage import explain, format_lineage
from churn.lineage_api import ApiLineageSource
from churn.warehouse import connect, init
from helpers.mini_dag import MSNO, build_dag
from helpers.served import Served
from helpers.warehouse import sql
from pachlet.api import Pachlet
from pachlet.errors import NotFoundError

pytestmark = pytest.mark.e2e


def test_explain_through_the_api_matches_the_local_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    row = build_dag(root)
    with Pachlet.open(root, read_only=True) as p:
        local = explain(p, MSNO, row=row)
    assert local["ingest"] and local["ingest"][0]["sql"].startswith("SELECT msno")
    assert local["predict_datum"] and local["model"]["metrics"] == {"model": {"roc_auc": 0.75}}

    served = Served(root)
    try:
        source = ApiLineageSource.connect(served.address)
        remote = explain(source, MSNO, row=row)
        assert json.dumps(remote, sort_keys=True, default=str) == json.dumps(
            local, sort_keys=True, default=str
        )
        assert format_lineage(remote) == format_lineage(local)
        with pytest.raises(NotFoundError):
            source.get_file("churn_model", row["MODEL_COMMIT"], "/nope.json")
    finally:
        code, _, err = served.stop()
    assert code == 0, err


def test_console_score_lookup_through_the_api(tmp_path: Path) -> None:
    """The console's score lookup with ``CHURN_CONSOLE_PACHD``: the row from churn_predict's output and
    its lineage, read through pachd's API, are the ones the console reads from its own root."""
    root = tmp_path / "root"
    row = build_dag(root)
    with Pachlet.open(root, read_only=True) as p:
        local = scores_context(p, MSNO)
    assert local["error"] == "" and local["info"]["score"]["GLOBAL_ID"] == row["GLOBAL_ID"]
    served = Served(root)
    try:
        remote = scores_context(None, MSNO, served.address)
    finally:
        served.stop()
    assert remote["error"] == ""
    assert remote["source"] == local["source"] and remote["info_json"] == local["info_json"]


def test_churn_explain_pachd_gives_the_root_s_lineage(tmp_path: Path) -> None:
    """`churn explain MSNO --pachd ADDRESS -o json` against `pachlet serve` prints what `--root` prints."""
    root = tmp_path / "root"
    row = build_dag(root)
    with connect() as conn:
        init(conn)
    cols = ", ".join(row)
    values = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in row.values())
    sql(f"INSERT INTO CHURN_SCORES ({cols}) VALUES ({values})")
    churn = str(Path(sys.executable).with_name("churn"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([churn, "explain", MSNO, *args], capture_output=True, text=True)

    local = run("--root", str(root), "-o", "json")
    assert local.returncode == 0, local.stderr
    served = Served(root)
    try:
        remote = run("--pachd", served.address, "-o", "json")
        assert remote.returncode == 0, remote.stderr
        assert json.loads(remote.stdout) == json.loads(local.stdout)
        assert json.loads(remote.stdout)["predict_job"]["id"] == row["GLOBAL_ID"]
        both = run("--pachd", served.address, "--root", str(root))
        assert both.returncode == 2 and "pass one" in both.stderr
    finally:
        code, _, err = served.stop()
    assert code == 0, err
    down = run("--pachd", served.address)
    assert down.returncode == 1 and served.address.split(":")[1] in down.stderr
