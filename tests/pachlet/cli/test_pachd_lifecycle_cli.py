"""pachd 2.7.6 pipeline lifecycle and logs through the CLI, with pachctl's syntax (issue 14, items 1 and
7): ``stop|start pipeline``, ``stop job PIPELINE@ID`` / ``stop job ID``, ``delete job``, ``restart datum``,
``logs -f`` and ``logs --master``; on a local root and as a client of ``pachlet serve``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from python_pachyderm.proto.v2.pps import pps_pb2

from helpers.polling import wait_for
from helpers.served import Served

pytestmark = pytest.mark.e2e

PACHLET = str(Path(sys.executable).parent / "pachlet")


def pachlet(*args: str, address: str | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    """Run the console script (against ``address`` if given); with ``ok`` assert exit 0."""
    env = dict(os.environ)
    if address:
        env["PACHD_ADDRESS"] = address
    proc = subprocess.run([PACHLET, *args], capture_output=True, text=True, env=env, timeout=120)
    if ok:
        assert proc.returncode == 0, f"pachlet {' '.join(args)} failed:\n{proc.stderr}"
    return proc


def spec_file(tmp_path: Path, name: str, repo: str, script: str, **extra: Any) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(
        json.dumps({
            "pipeline": {"name": name},
            "transform": {"cmd": ["sh", "-c", script]},
            "input": {"pfs": {"repo": repo, "glob": "/*"}},
            **extra,
        })
    )  # fmt: skip
    return str(path)


def jobs(pipeline: str, address: str | None = None) -> list[pps_pb2.JobInfo]:
    out = pachlet("list", "job", "-p", pipeline, "-o", "json", address=address).stdout
    return [json_format.Parse(x, pps_pb2.JobInfo()) for x in out.splitlines()]


def job_state(pipeline: str, job_id: str, address: str | None = None) -> int:
    out = pachlet("inspect", "job", f"{pipeline}@{job_id}", "-o", "json", address=address).stdout
    return json_format.Parse(out.splitlines()[0], pps_pb2.JobInfo()).state


def test_stop_and_start_pipeline(tmp_path: Path) -> None:
    """pachyderm_test.go TestStopPipeline through the CLI: a stopped pipeline ("paused") runs no job for
    a new commit; ``start pipeline`` runs one over what arrived meanwhile."""
    pachlet("create", "repo", "data")
    pachlet("create", "pipeline", "-f", spec_file(tmp_path, "cp", "data", "cp /pfs/data/* /pfs/out/"))
    pachlet("stop", "pipeline", "cp")
    assert "State: paused" in pachlet("inspect", "pipeline", "cp").stdout
    info = json_format.Parse(
        pachlet("inspect", "pipeline", "cp", "-o", "json").stdout, pps_pb2.PipelineInfo()
    )
    assert info.stopped and info.state == pps_pb2.PIPELINE_PAUSED
    (tmp_path / "file").write_text("foo\n")
    pachlet("put", "file", "data@master:/file", "-f", str(tmp_path / "file"))
    assert len(jobs("cp")) == 1
    pachlet("start", "pipeline", "cp")
    assert "State: running" in pachlet("inspect", "pipeline", "cp").stdout
    assert len(jobs("cp")) == 2
    assert pachlet("get", "file", "cp@master:/file").stdout == "foo\n"


def test_stop_and_delete_job(tmp_path: Path) -> None:
    """api_server.go stopJob / DeleteJob through the CLI: ``stop job PIPELINE@ID`` kills a queued job,
    ``stop job ID`` every job of a global ID, ``delete job`` forgets one; the master log says why."""
    pachlet("create", "repo", "data")
    pachlet("create", "pipeline", "-f", spec_file(tmp_path, "one", "data", "cp /pfs/data/* /pfs/out/"))
    pachlet("create", "pipeline", "-f", spec_file(tmp_path, "two", "one", "cp /pfs/one/* /pfs/out/"))
    (tmp_path / "a").write_text("a\n")
    pachlet("put", "file", "data@master:/a", "-f", str(tmp_path / "a"), "--no-wait")
    (queued,) = [j for j in jobs("one") if j.state == pps_pb2.JOB_CREATED]
    gid = queued.job.id
    pachlet("stop", "job", f"one@{gid}")
    assert job_state("one", gid) == pps_pb2.JOB_KILLED
    assert "killed: job stopped" in pachlet("list", "job", "-p", "one").stdout
    pachlet("stop", "job", gid)  # the whole global ID: the downstream job too
    assert job_state("two", gid) == pps_pb2.JOB_KILLED
    master = pachlet("logs", "-p", "one", "--master").stdout
    assert "killing job with reason: job stopped" in master

    pachlet("put", "file", "data@master:/b", "-f", str(tmp_path / "a"))
    (done,) = [j for j in jobs("one") if j.state == pps_pb2.JOB_SUCCESS and j.job.id != gid][:1]
    assert "job successful, closing commits" in pachlet("logs", "-p", "one", "--master").stdout
    pachlet("delete", "job", f"one@{done.job.id}")
    assert done.job.id not in {j.job.id for j in jobs("one")}
    missing = pachlet("delete", "job", f"one@{done.job.id}", ok=False)
    assert missing.returncode == 1 and "not found" in missing.stderr and "Traceback" not in missing.stderr


def test_logs_follow_and_restart_datum_against_serve(tmp_path: Path) -> None:
    """``logs -f`` against ``pachlet serve`` prints a running job's lines as they come and exits when the
    job ends; ``restart datum PIPELINE@JOB PATH`` retries a stuck datum's attempt."""
    served = Served(tmp_path / "root")
    try:
        addr = served.address
        gate, tries = tmp_path / "gate", tmp_path / "tries"
        script = (
            f"echo try >> {tries}; echo line-one; if [ $(wc -l < {tries}) -eq 1 ]; then exec sleep 60; fi; "
            f"while [ ! -e {gate} ]; do sleep 0.05; done; echo line-two; cp /pfs/data/* /pfs/out/"
        )
        pachlet("create", "repo", "data", address=addr)
        pachlet("create", "pipeline", "-f", spec_file(tmp_path, "slow", "data", script), address=addr)
        (tmp_path / "x").write_text("x\n")
        pachlet("put", "file", "data@master:/x", "-f", str(tmp_path / "x"), "--no-wait", address=addr)
        job_id = wait_for(
            "the job to run",
            lambda: [
                j.job.id for j in jobs("slow", addr) if j.state == pps_pb2.JOB_RUNNING and tries.exists()
            ],
        )[0]
        env = {**os.environ, "PACHD_ADDRESS": addr}
        follow = subprocess.Popen(
            [PACHLET, "logs", "-p", "slow", "-j", job_id, "-f"], stdout=subprocess.PIPE, text=True, env=env
        )
        try:
            assert follow.stdout is not None
            assert follow.stdout.readline().strip() == "line-one"
            pachlet("restart", "datum", f"slow@{job_id}", "/x", address=addr)
            assert follow.stdout.readline().startswith("pachlet: attempt 1/3 failed")
            assert follow.stdout.readline().strip() == "line-one"
            assert follow.poll() is None  # the job still runs: the stream stays open
            gate.touch()
            rest, _ = follow.communicate(timeout=60)
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.wait()
        assert follow.returncode == 0 and rest.split() == ["line-two"]
        assert job_state("slow", job_id, addr) == pps_pb2.JOB_SUCCESS
        assert tries.read_text().split() == ["try", "try"]
    finally:
        code, _, err = served.stop()
        assert code == 0, err
