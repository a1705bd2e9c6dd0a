"""Datum batching (``transform.datumBatching``) through the facade, replaying pachd's TestDatumBatching
(v2.7.6 src/server/pachyderm_test.go: Basic, Error, Exit, DatumTimeout, JobFailure, PrematureExit, Env)
with a real python-pachyderm worker client loop (``Client().worker.next_datum``) as the user code.

The host runtime has no literal ``/pfs``, so these loops read the datum's variables from the
``NextDatum`` response (values rewritten to the scratch root); the sandbox and container tests
(tests/pachlet/runtimes/test_batching_runtimes.py) use ``batch_all_datums`` and literal ``/pfs`` paths.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pachlet.api import Pachlet
from pachlet.cli import cli

N_FILES = 6

LOOP = """
import pathlib, shutil, sys, time
from python_pachyderm import Client
marker = pathlib.Path(sys.argv[1])
with open(marker.parent / "starts", "a") as f:
    f.write("start\\n")  # once per user-code process: the imports are paid here
worker = Client().worker
error = ""
while True:
    env = dict(e.split("=", 1) for e in worker.next_datum(error=error).env)
    error = ""
    print("processing", env["PACH_DATUM_ID"], flush=True)
    mode = sys.argv[2]
    first = not marker.exists()
    if first:
        marker.touch()
    if first and mode == "error":
        error = "oops"
        continue
    if first and mode == "exit":
        sys.exit(1)
    if first and mode == "sleep":
        time.sleep(3)
    if mode == "premature":
        sys.exit(0)
    if mode == "fail":
        sys.exit(1)
    src = pathlib.Path(env["data"])
    if mode == "env":
        (pathlib.Path(env["data"]).parents[1] / "out" / env["PACH_DATUM_ID"]).write_text(env["data_COMMIT"])
        continue
    shutil.copy(src, pathlib.Path(src).parents[1] / "out" / src.name)
"""


@pytest.fixture
def host(tmp_path: Path) -> Any:
    p = Pachlet(tmp_path / "root", timeout=5, runtime="host")
    p.create_repo("data")
    for i in range(N_FILES):
        p.put_file("data", "master", f"/file-{i:02d}", f"content {i}\n".encode())
    yield p
    p.close()


def batched(name: str, loop: Path, marker: Path, mode: str, **extra: Any) -> dict[str, Any]:
    return {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": "data", "glob": "/*"}},
        "transform": {"cmd": [sys.executable, str(loop), str(marker), mode], "datumBatching": True},
        **extra,
    }


def run(p: Pachlet, tmp_path: Path, mode: str, **extra: Any) -> tuple[Any, Path]:
    loop = tmp_path / "loop.py"
    loop.write_text(LOOP)
    work = tmp_path / mode
    work.mkdir()
    p.create_pipeline(batched("b", loop, work / "marker", mode, **extra))
    jobs = list(p.run_until_idle())
    return jobs[-1], work


def outputs(p: Pachlet) -> dict[str, bytes]:
    return {f.path: p.get_file("b", "master", f.path) for f in p.walk_files("b", "master", "/")}


def expected() -> dict[str, bytes]:
    return {f"/file-{i:02d}": f"content {i}\n".encode() for i in range(N_FILES)}


def test_basic_one_process_for_every_datum(host: Pachlet, tmp_path: Path) -> None:
    job, work = run(host, tmp_path, "basic")
    assert job.state == "JOB_SUCCESS", job.reason
    assert (job.data_processed, job.data_failed) == (N_FILES, 0)
    assert outputs(host) == expected()
    assert (work / "starts").read_text().count("start") == 1  # imports paid once per worker


@pytest.mark.parametrize("mode", ["error", "exit"])
def test_failed_attempt_restarts_the_user_code_and_retries(host: Pachlet, tmp_path: Path, mode: str) -> None:
    job, work = run(host, tmp_path, mode)
    assert job.state == "JOB_SUCCESS", job.reason
    assert outputs(host) == expected()
    assert (work / "starts").read_text().count("start") == 2
    datums = host.list_datums("b", job.id)
    assert sorted(d.state for d in datums) == ["SUCCESS"] * N_FILES


def test_datum_timeout_kills_and_retries(host: Pachlet, tmp_path: Path) -> None:
    job, _ = run(host, tmp_path, "sleep", datumTimeout="1s")
    assert job.state == "JOB_SUCCESS", job.reason
    assert outputs(host) == expected()


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("fail", "error running user code: "), ("premature", "user code exited prematurely")],
)
def test_user_code_that_keeps_exiting_fails_the_job(
    host: Pachlet, tmp_path: Path, mode: str, reason: str
) -> None:
    job, _ = run(host, tmp_path, mode, datumTries=2)
    assert job.state == "JOB_FAILURE"
    datums = host.list_datums("b", job.id)
    assert all(d.state == "FAILED" for d in datums)
    first = host.inspect_datum("b", job.id, datums[0].datum_id)
    assert reason in first.reason


def test_env_gives_each_datum_its_variables(host: Pachlet, tmp_path: Path) -> None:
    job, _ = run(host, tmp_path, "env")
    assert job.state == "JOB_SUCCESS", job.reason
    ids = {d.datum_id for d in host.list_datums("b", job.id)}
    files = outputs(host)
    assert set(files) == {"/" + i for i in ids}
    commit = host.inspect_commit("data", "master").id
    assert set(files.values()) == {commit.encode()}


def test_records_logs_and_skipping_as_unbatched(host: Pachlet, tmp_path: Path) -> None:
    job, _ = run(host, tmp_path, "basic")
    host.create_pipeline(
        {
            "pipeline": {"name": "u"},
            "input": {"pfs": {"repo": "data", "glob": "/*"}},
            "transform": {"cmd": ["sh", "-c", "cp /pfs/data/* /pfs/out/"]},
        }
    )
    host.run_until_idle()
    unbatched = host.list_jobs("u")[0]
    b = {d.datum_id: d for d in host.list_datums("b", job.id)}
    u = {d.datum_id: d for d in host.list_datums("u", unbatched.id)}
    assert b.keys() == u.keys() and len(b) == N_FILES
    assert [(d.state, d.inputs) for d in b.values()] == [(u[i].state, u[i].inputs) for i in b]
    for datum_id in b:
        assert any(f"processing {datum_id}" in line.message for line in host.logs("b", job.id, datum_id))
    host.put_file("data", "master", "/file-new", b"new\n")
    host.run_until_idle()
    again = host.list_jobs("b")[0]
    assert (again.state, again.data_processed, again.data_skipped) == ("JOB_SUCCESS", 1, N_FILES)
    assert outputs(host) == {**expected(), "/file-new": b"new\n"}


def test_parallel_workers_each_run_one_process(host: Pachlet, tmp_path: Path) -> None:
    job, work = run(host, tmp_path, "basic", parallelismSpec={"constant": 2})
    assert job.state == "JOB_SUCCESS", job.reason
    assert outputs(host) == expected()
    starts = (work / "starts").read_text().count("start")
    assert starts == min(2, os.cpu_count() or 1)


SCRIPTS = {
    # pachd's TestDatumBatching scripts, `pachctl next datum` spelled `pachlet next datum`
    "basic": "while true\ndo\n  pachlet next datum\n  cp /pfs/data/* /pfs/out/\ndone",
    "error": (
        "while true\ndo\n  pachlet next datum\n  if [ ! -f {marker} ]\n  then\n    touch {marker}\n"
        "    pachlet next datum --error oops\n  fi\n  cp /pfs/data/* /pfs/out/\ndone"
    ),
    "exit": (
        "while true\ndo\n  pachlet next datum\n  if [ ! -f {marker} ]\n  then\n    touch {marker}\n"
        "    exit 1\n  fi\n  cp /pfs/data/* /pfs/out/\ndone"
    ),
    "env": (
        "set -a\nwhile true\ndo\n  pachlet next datum\n  source /pfs/.env\n  if [ -z $PACH_DATUM_ID ]\n"
        "  then\n    exit 1\n  fi\n  cp /pfs/data/* /pfs/out/\n  touch /pfs/out/$PACH_DATUM_ID\ndone"
    ),
}


@pytest.mark.parametrize("mode", sorted(SCRIPTS))
def test_cli_shell_loop_with_next_datum(tmp_path: Path, mode: str) -> None:
    root = tmp_path / "root"
    with Pachlet.open(root) as p:
        p.create_repo("data")
        for i in range(3):
            p.put_file("data", "master", f"/file-{i:02d}", f"content {i}\n".encode())
    spec = tmp_path / "spec.json"
    script = SCRIPTS[mode].format(marker=tmp_path / "marker")
    spec.write_text(
        json.dumps(
            {
                "pipeline": {"name": "b"},
                "input": {"pfs": {"repo": "data", "glob": "/*"}},
                "transform": {"cmd": ["bash"], "stdin": [script], "datumBatching": True},
            }
        )
    )
    result = CliRunner().invoke(
        cli,
        ["--root", str(root), "--runtime", "host", "create", "pipeline", "-f", str(spec)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    with Pachlet.open(root, read_only=True) as p:
        (job,) = p.list_jobs("b")
        assert job.state == "JOB_SUCCESS", job.reason
        files = {f.path for f in p.walk_files("b", "master", "/")}
        ids = {d.datum_id for d in p.list_datums("b", job.id)}
    want = {f"/file-{i:02d}" for i in range(3)}
    assert files == (want | {"/" + i for i in ids} if mode == "env" else want)


def test_next_datum_outside_a_worker_says_why() -> None:
    result = CliRunner().invoke(cli, ["next", "datum"], env={"PPS_WORKER_GRPC_PORT": ""})
    assert result.exit_code == 1
    assert "PPS_WORKER_GRPC_PORT is not set" in result.output
