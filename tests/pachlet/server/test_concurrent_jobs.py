"""``pachlet serve`` runs jobs side by side (``pachlet.server.scheduler``'s job thread, the pps
``JobScheduler``'s core budget) while its tick thread keeps applying cron ticks, through
python-pachyderm; host-runtime datums meet through a shared directory."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import python_pachyderm
from python_pachyderm.proto.v2.pps import pps_pb2

from helpers import rendezvous
from helpers.served import Served

pytestmark = pytest.mark.e2e


def create(client: python_pachyderm.Client, spec: dict[str, Any]) -> None:
    client.create_pipeline_from_request(python_pachyderm.parse_dict_pipeline_spec(spec))


def pfs_spec(name: str, repo: str, cmd: list[str], meet: Path) -> dict[str, Any]:
    return {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": repo, "glob": "/*"}},
        "transform": {"cmd": cmd, "env": {"MEET": str(meet)}},
        "datumTries": 1,
    }


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """A server of its own on the host runtime with a budget of two cores."""
    monkeypatch.setenv("PACHLET_RUNTIME", "host")
    monkeypatch.setenv("PACHLET_CORES", "2")
    s = Served(tmp_path / "root")
    yield s
    code, _, err = s.stop()
    assert code == 0, err


def job_states(client: python_pachyderm.Client, pipeline: str) -> list[int]:
    return [j.state for j in client.list_job(pipeline)]


def test_jobs_of_two_pipelines_run_side_by_side(served: Served, tmp_path: Path) -> None:
    """Each pipeline's datum waits for the other's to start (20 s at most): one job at a time, the
    first would fail; side by side both succeed. The second pipeline is created while the first's job
    already runs, so the server starts a job queued during a run."""
    meet = tmp_path / "meet"
    meet.mkdir()
    client = served.client()
    for repo in ("left_in", "right_in"):
        client.create_repo(repo)
        client.put_file_bytes((repo, "master"), "/x", b"x")
    create(client, pfs_spec("left", "left_in", rendezvous.meet("left", "right", 20), meet))
    deadline = time.monotonic() + 20
    while not (meet / "left").exists():
        assert time.monotonic() < deadline, "left's datum never started"
        time.sleep(0.02)
    create(client, pfs_spec("right", "right_in", rendezvous.meet("right", "left", 20), meet))
    for pipeline in ("left", "right"):
        client.wait_commit(client.inspect_branch(pipeline, "master").head.id)
        assert job_states(client, pipeline) == [pps_pb2.JOB_SUCCESS]
        assert client.get_file((pipeline, "master"), f"/{pipeline}").read() == b"met"


def test_cron_ticks_are_applied_while_a_long_job_runs(served: Served, tmp_path: Path) -> None:
    """A job whose datum waits until the test releases it runs while an ``@every 1s`` cron pipeline
    ticks: its output gets commits and successful jobs meanwhile; then the long job succeeds."""
    meet = tmp_path / "meet"
    meet.mkdir()
    client = served.client()
    client.create_repo("long_in")
    client.put_file_bytes(("long_in", "master"), "/x", b"x")
    create(client, pfs_spec("long", "long_in", rendezvous.meet("long", "release", 30), meet))
    deadline = time.monotonic() + 20
    while not (meet / "long").exists():
        assert time.monotonic() < deadline, "long's datum never started"
        time.sleep(0.02)
    create(
        client,
        {
            "pipeline": {"name": "ticks"},
            "input": {"cron": {"name": "tick", "spec": "@every 1s", "overwrite": True}},
            "transform": {"cmd": [sys.executable, "-c", "open('/pfs/out/t', 'w').write('t')"]},
        },
    )
    deadline = time.monotonic() + 20
    while len([s for s in job_states(client, "ticks") if s == pps_pb2.JOB_SUCCESS]) < 2:
        assert time.monotonic() < deadline, (
            f"no two ticks ran beside the long job: {job_states(client, 'ticks')}"
        )
        time.sleep(0.1)
    assert job_states(client, "long") == [pps_pb2.JOB_RUNNING]
    (meet / "release").touch()
    client.wait_commit(client.inspect_branch("long", "master").head.id)
    assert job_states(client, "long") == [pps_pb2.JOB_SUCCESS]
    assert client.get_file(("long", "master"), "/long").read() == b"met"
    client.delete_pipeline("ticks")  # a destructive call: the server stops starting ticks and lets go
