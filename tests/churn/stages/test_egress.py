"""``churn-egress`` (container egress for Pachyderm 2.8+) as a real subprocess over a /pfs-style directory,
into the embedded warehouse; and the ``pachlet.sql_drivers`` entry point it finds the driver through."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from churn.warehouse import EMBEDDED_URL
from helpers.warehouse import sql
from pachlet.egress import EgressError, resolve_driver

pytestmark = pytest.mark.e2e

COLUMNS = "MSNO,CHURN_PROBABILITY,CHURN_PREDICTION,MODEL_COMMIT,GLOBAL_ID,SCORED_AT"
BIN = Path(sys.executable).parent


def run_egress(*args: str, password: str = "pw") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PACHYDERM_SQL_PASSWORD": password}
    return subprocess.run(
        [str(BIN / "churn-egress"), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.fixture
def pfs(tmp_path: Path) -> Path:
    sql(
        "CREATE TABLE IF NOT EXISTS CHURN_SCORES (MSNO VARCHAR, CHURN_PROBABILITY DOUBLE, CHURN_PREDICTION INTEGER, "
        "MODEL_COMMIT VARCHAR, GLOBAL_ID VARCHAR, SCORED_AT TIMESTAMP)",
        "DELETE FROM CHURN_SCORES",
        "INSERT INTO CHURN_SCORES VALUES ('old', 0.5, 1, 'm0', 'g0', '2017-01-01 00:00:00')",
    )
    root = tmp_path / "pfs" / "predict"
    (root / "CHURN_SCORES").mkdir(parents=True)
    for shard, users in (("shard-00", ["a", "b"]), ("shard-01", ["c"])):
        rows = "".join(f"{u},0.75,1,model9,gid9,2017-04-01T00:00:00Z\n" for u in users)
        (root / "CHURN_SCORES" / f"{shard}.csv").write_text(COLUMNS + "\n" + rows)
    return root


def test_stage_loads_pfs_dir_and_replaces_table(pfs: Path) -> None:
    for _ in range(2):
        res = run_egress("--input", str(pfs), "--url", EMBEDDED_URL, "--format", "CSV", "--columns", COLUMNS)
        assert res.returncode == 0, res.stderr
        assert "PUBLIC.CHURN_SCORES: 3 rows loaded" in res.stdout
    assert sql("SELECT MSNO, MODEL_COMMIT FROM CHURN_SCORES ORDER BY MSNO") == [
        ("a", "model9"),
        ("b", "model9"),
        ("c", "model9"),
    ]


def test_stage_failure_is_one_line_and_leaves_table(pfs: Path) -> None:
    (pfs / "CHURN_SCORES" / "shard-02.csv").write_text(COLUMNS + "\nd,0.1,notint,m,g,2017-04-01\n")
    res = run_egress("--input", str(pfs), "--url", EMBEDDED_URL, "--columns", COLUMNS, password="hunter2-pw")
    assert res.returncode == 1
    err = res.stderr.strip()
    assert err.startswith("churn-egress: error: ") and "\n" not in err
    assert "/CHURN_SCORES/shard-02.csv" in err and "CHURN_PREDICTION" in err and "rolled back" in err
    assert "hunter2-pw" not in res.stderr + res.stdout
    assert sql("SELECT MSNO FROM CHURN_SCORES") == [("old",)]


def test_stage_no_header_and_empty_input(pfs: Path, tmp_path: Path) -> None:
    for f in (pfs / "CHURN_SCORES").iterdir():
        f.write_text("".join(f.read_text().splitlines(keepends=True)[1:]))  # drop the headers
    res = run_egress("--input", str(pfs), "--url", EMBEDDED_URL)
    assert res.returncode == 0, res.stderr
    assert sql("SELECT COUNT(*) FROM CHURN_SCORES") == [(3,)]
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_egress("--input", str(empty), "--url", EMBEDDED_URL)
    assert res.returncode == 0 and "nothing to load" in res.stdout
    assert sql("SELECT COUNT(*) FROM CHURN_SCORES") == [(3,)]


def test_entry_point_driver_and_unknown_scheme() -> None:
    driver = resolve_driver(EMBEDDED_URL)
    assert callable(driver.connect) and callable(driver.bulk_load)
    with pytest.raises(
        EgressError, match=r"no SQL egress driver for URL scheme 'postgres' \(installed: .*snowflake"
    ):
        resolve_driver("postgres://u@h/db")
