"""SQL egress through the pachlet facade: a pipeline with ``egress.sqlDatabase`` loads its output commit
into the embedded warehouse (real fakesnow via ``churn.warehouse``, found through the entry point)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

import pytest

import pachlet.api
import pachlet.egress
from churn.warehouse import EMBEDDED_URL, egress_driver
from helpers.warehouse import sql, start_holder
from pachlet.api import Pachlet
from pachlet.errors import PachletError
from pachlet.records import JOB_EGRESSING, JOB_FAILURE, JOB_SUCCESS

SECRET_VALUE = "pw-from-the-secret-123"


def egress_pipeline(name: str = "scores_out") -> dict[str, Any]:
    """Copies the input repo's tree to /pfs/out and egresses it (as churn_predict does)."""
    return {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": "scores", "glob": "/"}},
        "transform": {"cmd": ["sh", "-c", "cp -r /pfs/scores/. /pfs/out/"]},
        "egress": {
            "sqlDatabase": {
                "url": EMBEDDED_URL,
                "fileFormat": {"type": "CSV", "columns": ["MSNO", "CHURN_PROBABILITY"]},
                "secret": {"name": "snowflakesecret", "key": "PACHYDERM_SQL_PASSWORD"},
            }
        },
    }


@pytest.fixture
def pach(pach: Pachlet) -> Pachlet:
    """pachlet's root with the Snowflake secret and the ``scores`` repo."""
    pach.create_secret(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "snowflakesecret"},
            "stringData": {"PACHYDERM_SQL_PASSWORD": SECRET_VALUE},
        }
    )
    pach.create_repo("scores")
    return pach


def test_job_egresses_then_succeeds(pach: Pachlet, monkeypatch: pytest.MonkeyPatch) -> None:
    sql(
        "CREATE TABLE SCORES_T (MSNO VARCHAR, CHURN_PROBABILITY DOUBLE)",
        "INSERT INTO SCORES_T VALUES ('old', 1)",
    )
    seen: list[tuple[str, str]] = []
    real = pachlet.egress.run_egress

    def spy(p: Any, pipeline_info: Any, job_info: Any, commit: Any) -> dict[str, int]:
        seen.append((job_info.state, p.inspect_job(job_info.pipeline, job_info.id).state))
        return real(p, pipeline_info, job_info, commit)

    monkeypatch.setattr(pachlet.egress, "run_egress", spy)
    pach.put_file("scores", "master", "/SCORES_T/a.csv", b"CHURN_PROBABILITY,MSNO\n0.25,u1\n0.5,u2\n")
    pach.create_pipeline(egress_pipeline())
    pach.run_until_idle()
    job = pach.list_jobs("scores_out")[0]
    assert seen == [(JOB_EGRESSING, JOB_EGRESSING)]
    assert job.state == JOB_SUCCESS, job.reason
    assert sql("SELECT MSNO, CHURN_PROBABILITY FROM SCORES_T ORDER BY MSNO") == [("u1", 0.25), ("u2", 0.5)]

    # a second commit: the whole output commit replaces the table (no duplicates)
    pach.put_file("scores", "master", "/SCORES_T/b.csv", b"MSNO,CHURN_PROBABILITY\nu3,0.75\n")
    pach.run_until_idle()
    assert pach.list_jobs("scores_out")[0].state == JOB_SUCCESS
    assert sql("SELECT MSNO FROM SCORES_T ORDER BY MSNO") == [("u1",), ("u2",), ("u3",)]


def test_missing_table_fails_job_then_rerun_succeeds(pach: Pachlet) -> None:
    pach.put_file("scores", "master", "/SCORES_T/a.csv", b"MSNO,CHURN_PROBABILITY\nu1,0.1\n")
    pach.create_pipeline(egress_pipeline())
    pach.run_until_idle()
    job = pach.list_jobs("scores_out")[0]
    assert job.state == JOB_FAILURE
    assert "table PUBLIC.SCORES_T does not exist" in job.reason and SECRET_VALUE not in job.reason
    assert "snowflake://churn@embedded/KKBOX/PUBLIC" in job.reason

    sql("CREATE TABLE SCORES_T (MSNO VARCHAR, CHURN_PROBABILITY DOUBLE)")
    pach.put_file("scores", "master", "/SCORES_T/b.csv", b"MSNO,CHURN_PROBABILITY\nu2,0.2\n")
    pach.run_until_idle()
    job = pach.list_jobs("scores_out")[0]
    assert job.state == JOB_SUCCESS, job.reason
    assert sql("SELECT MSNO FROM SCORES_T ORDER BY MSNO") == [("u1",), ("u2",)]


def test_bad_row_fails_job_table_unchanged_password_redacted(pach: Pachlet) -> None:
    sql(
        "CREATE TABLE SCORES_T (MSNO VARCHAR, CHURN_PROBABILITY DOUBLE)",
        "INSERT INTO SCORES_T VALUES ('old', 1)",
    )
    bad = f"MSNO,CHURN_PROBABILITY\nu1,0.1\nu2,{SECRET_VALUE}\n".encode()
    pach.put_file("scores", "master", "/SCORES_T/a.csv", bad)
    pach.create_pipeline(egress_pipeline())
    pach.run_until_idle()
    job = pach.list_jobs("scores_out")[0]
    assert job.state == JOB_FAILURE
    assert "/SCORES_T/a.csv" in job.reason and "line 3" in job.reason and "rolled back" in job.reason
    assert SECRET_VALUE not in job.reason and "********" in job.reason
    assert sql("SELECT MSNO FROM SCORES_T") == [("old",)]


def test_empty_output_commit_is_a_noop(pach: Pachlet) -> None:
    sql(
        "CREATE TABLE SCORES_T (MSNO VARCHAR, CHURN_PROBABILITY DOUBLE)",
        "INSERT INTO SCORES_T VALUES ('old', 1)",
    )
    pach.put_file("scores", "master", "/nothing-here.txt", b"")
    spec = egress_pipeline()
    spec["transform"]["cmd"] = ["sh", "-c", "true"]
    pach.create_pipeline(spec)
    pach.run_until_idle()
    assert pach.list_jobs("scores_out")[0].state == JOB_SUCCESS
    assert sql("SELECT MSNO FROM SCORES_T") == [("old",)]


def test_unreachable_warehouse_retried_then_rerun_succeeds(
    pach: Pachlet, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warehouse directory is unusable (a plain file): the connect is retried, the job fails with the
    connect error; once the warehouse is back, the next job loads the table."""
    down = tmp_path / "wh-down"
    down.write_text("not a directory")
    monkeypatch.setenv("CHURN_WAREHOUSE_DIR", str(down))
    monkeypatch.setattr(pachlet.egress, "CONNECT_RETRY_SECONDS", 0.01)
    attempts: list[str] = []
    real_connect = egress_driver.connect

    def counting_connect(url: str, password: str | None) -> Any:
        attempts.append(url)
        return real_connect(url, password)

    monkeypatch.setattr(egress_driver, "connect", counting_connect)
    pach.put_file("scores", "master", "/SCORES_T/a.csv", b"MSNO,CHURN_PROBABILITY\nu1,0.1\n")
    pach.create_pipeline(egress_pipeline())
    pach.run_until_idle()
    job = pach.list_jobs("scores_out")[0]
    assert job.state == JOB_FAILURE and ": connect: " in job.reason and "wh-down" in job.reason
    assert len(attempts) == pachlet.egress.CONNECT_ATTEMPTS

    down.unlink()
    sql("CREATE TABLE SCORES_T (MSNO VARCHAR, CHURN_PROBABILITY DOUBLE)")
    pach.put_file("scores", "master", "/SCORES_T/b.csv", b"MSNO,CHURN_PROBABILITY\nu2,0.2\n")
    pach.run_until_idle()
    assert pach.list_jobs("scores_out")[0].state == JOB_SUCCESS
    assert sql("SELECT MSNO FROM SCORES_T ORDER BY MSNO") == [("u1",), ("u2",)]


def test_held_warehouse_fails_the_egress_once_within_the_lock_timeout(
    pach: Pachlet, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the embedded warehouse: with ``PACHLET_LOCK_TIMEOUT=0.5`` the egress waits
    half a second, once (a lock timeout is not a connection failure to retry), and the job's reason
    names the holder; the root is free again at once."""
    sql("CREATE TABLE SCORES_T (MSNO VARCHAR, CHURN_PROBABILITY DOUBLE)")
    holder = start_holder(tmp_path, hold=60.0)
    attempts: list[str] = []
    real_connect = egress_driver.connect

    def counting_connect(url: str, password: str | None) -> Any:
        attempts.append(url)
        return real_connect(url, password)

    monkeypatch.setattr(egress_driver, "connect", counting_connect)
    monkeypatch.setenv("PACHLET_LOCK_TIMEOUT", "0.5")
    try:
        pach.put_file("scores", "master", "/SCORES_T/a.csv", b"MSNO,CHURN_PROBABILITY\nu1,0.1\n")
        pach.create_pipeline(egress_pipeline())
        started = time.monotonic()
        pach.run_until_idle()
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait(timeout=30)
    job = pach.list_jobs("scores_out")[0]
    assert job.state == JOB_FAILURE
    assert (
        f"in use by pid {holder.pid} (hold_warehouse.py" in job.reason and "gave up after 0.5s" in job.reason
    )
    assert len(attempts) == 1 and waited < 10
    assert SECRET_VALUE not in job.reason


def test_ingest_honours_the_lock_timeout(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ingest stage's warehouse connect waits as long as the one setting says, then names the holder."""
    from churn.stages.common import StageError
    from churn.stages.ingest import ingest

    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "0000").write_text("SELECT 1 AS MSNO")
    holder = start_holder(tmp_path, hold=60.0)
    monkeypatch.setenv("PACHLET_LOCK_TIMEOUT", "0.3")
    try:
        started = time.monotonic()
        with pytest.raises(StageError, match=rf"in use by pid {holder.pid} .*gave up after 0.3s"):
            ingest(queries, EMBEDDED_URL, 1, True, tmp_path / "out")
        assert time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_the_cli_flag_is_the_setting_the_egress_and_datums_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from pachlet.cli.root import cli
    from pachlet.lock import lock_timeout

    monkeypatch.setenv("PACHLET_LOCK_TIMEOUT", "")
    assert lock_timeout() == 30.0
    result = CliRunner().invoke(cli, ["--lock-timeout", "2.5", "version", "--client-only"])
    assert result.exit_code == 0, result.output
    assert lock_timeout() == 2.5  # what connect_url (the egress) and every datum's environment now see
    monkeypatch.setenv("PACHLET_LOCK_TIMEOUT", "soon")
    with pytest.raises(PachletError, match=r"\$PACHLET_LOCK_TIMEOUT='soon': expected a number of seconds"):
        lock_timeout()


def test_a_queued_egress_job_gets_its_driver_prepared_once(
    pach: Pachlet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before jobs run, the egress of a queued job has its driver prepared in the background (the churn
    driver imports the connector and fakesnow then), once per process and URL scheme."""
    sql("CREATE TABLE PREP_T (MSNO VARCHAR, CHURN_PROBABILITY DOUBLE)")
    calls: list[dict[str, Any]] = []
    called = threading.Event()

    def spy(egress: Any) -> None:
        calls.append(dict(egress))
        called.set()

    monkeypatch.setattr(pachlet.egress, "prepare_driver", spy)
    monkeypatch.setattr(pachlet.api, "_PREPARED", set())
    spec = egress_pipeline()
    pach.put_file("scores", "master", "/PREP_T/a.csv", b"MSNO,CHURN_PROBABILITY\nu1,0.5\n")
    pach.create_pipeline(spec)
    pach.run_until_idle()
    assert called.wait(10)
    assert calls == [spec["egress"]["sqlDatabase"]]
    assert pach.list_jobs("scores_out")[0].state == JOB_SUCCESS
    pach.put_file("scores", "master", "/PREP_T/b.csv", b"MSNO,CHURN_PROBABILITY\nu2,0.25\n")
    pach.run_until_idle()
    assert len(calls) == 1 and pach.list_jobs("scores_out")[0].state == JOB_SUCCESS


@pytest.mark.parametrize(
    ("url", "fakesnow_loaded"), [(EMBEDDED_URL, True), ("snowflake://u@acct/DB/S?warehouse=W", False)]
)
def test_the_churn_driver_prepares_fakesnow_only_for_the_embedded_warehouse(
    url: str, fakesnow_loaded: bool
) -> None:
    code = (
        "import sys; from churn.warehouse import egress_driver; egress_driver.prepare(sys.argv[1]); "
        "print('fakesnow' in sys.modules, 'snowflake.connector' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, check=True).stdout
    assert out.split() == [str(fakesnow_loaded), "True"]
