"""pachd 2.7.6 worker behaviours through python-pachyderm against ``pachlet serve`` (issue 14, items 2
and 3): datum batching with a python-pachyderm worker client loop (``pachyderm_test.go``
``TestDatumBatching``), a pipeline without input (``TestPipelineEmptyInput``), spouts (``spout_test.go``
``TestSpoutPachctl``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
import python_pachyderm
from python_pachyderm.proto.v2.pps import pps_pb2

from helpers.polling import wait_for

pytestmark = pytest.mark.e2e

WORKER_LOOP = """
import pathlib, shutil
from python_pachyderm import Client
worker = Client().worker
while True:
    env = dict(e.split("=", 1) for e in worker.next_datum().env)
    src = pathlib.Path(env["{repo}"])
    shutil.copy(src, src.parents[1] / "out" / src.name)
"""


def create(client: python_pachyderm.Client, spec: dict[str, Any]) -> None:
    client.create_pipeline_from_request(python_pachyderm.parse_dict_pipeline_spec(spec))


def test_datum_batching_with_a_worker_client_loop(client: python_pachyderm.Client, tmp_path: Path) -> None:
    client.create_repo("batch_in")
    with client.commit("batch_in", "master") as c:
        for i in range(4):
            client.put_file_bytes(c, f"/file-{i:02d}", f"v{i}\n".encode())
    loop = tmp_path / "loop.py"
    loop.write_text(WORKER_LOOP.replace("{repo}", "batch_in"))
    create(
        client,
        {
            "pipeline": {"name": "batch_out"},
            "input": {"pfs": {"repo": "batch_in", "glob": "/*"}},
            "transform": {"cmd": [sys.executable, str(loop)], "datumBatching": True},
        },
    )
    head = client.inspect_branch("batch_out", "master").head.id
    client.wait_commit(head)
    (job,) = client.inspect_job(head, pipeline_name="batch_out", wait=True)
    assert job.state == pps_pb2.JobState.JOB_SUCCESS, job.reason
    assert job.data_processed == 4
    files = {f.file.path for f in client.list_file(("batch_out", head), "/")}
    assert files == {f"/file-{i:02d}" for i in range(4)}


def test_pipeline_empty_input(client: python_pachyderm.Client) -> None:
    """pachyderm_test.go TestPipelineEmptyInput: create with an input, update to no input, update back;
    two jobs, the last one successful."""
    client.create_repo("empty_in")
    with client.commit("empty_in", "master"):
        pass
    with_input = {
        "pipeline": {"name": "empty_p"},
        "transform": {"cmd": ["true"]},
        "input": {"pfs": {"repo": "empty_in", "glob": "/"}},
    }
    create(client, with_input)
    create(client, {"pipeline": {"name": "empty_p"}, "transform": {"cmd": ["true"]}, "update": True})
    create(client, {**with_input, "update": True})
    client.wait_commit(client.inspect_branch("empty_p", "master").head.id)
    jobs = list(client.list_job(pipeline_name="empty_p", history=-1))
    assert len(jobs) == 2
    assert jobs[0].state == pps_pb2.JobState.JOB_SUCCESS


def test_spout_puts_files_with_pachlet_put_file(client: python_pachyderm.Client, tmp_path: Path) -> None:
    """spout_test.go TestSpoutPachctl/SpoutAuth: a shell spout appends the date to one file with
    ``put file $PPS_PIPELINE_NAME@master -a``; each commit's file is longer than the last. The spout
    starts with the empty head commit, runs no job, and ends when its pipeline is deleted."""
    beat = tmp_path / "beat"  # the sandbox's pid namespace hides the real pid: a heartbeat shows it runs
    create(
        client,
        {
            "pipeline": {"name": "spout_sh"},
            "transform": {
                "cmd": ["/bin/sh"],
                "stdin": [
                    "while [ : ]",
                    "do",
                    f"date +%s%N > {beat}",
                    "sleep 0.2",
                    "date > /pfs/out/date",
                    "pachlet put file $PPS_PIPELINE_NAME@master:/date -a -f /pfs/out/date",
                    "done",
                ],
            },
            "spout": {},
        },
    )

    def oldest_first() -> list[Any]:
        cs = list(client.list_commit("spout_sh", all=True))
        return sorted(cs, key=lambda c: (c.started.seconds, c.started.nanos))

    commits = wait_for("four commits", lambda: (cs := oldest_first()) and len(cs) >= 4 and cs)
    sizes = [sum(f.size_bytes for f in client.list_file(("spout_sh", c.commit.id), "/")) for c in commits[:4]]
    assert sizes[0] == 0  # the empty head commit made at creation
    assert sizes[1] < sizes[2] < sizes[3]
    assert list(client.list_job(pipeline_name="spout_sh")) == []
    client.delete_pipeline("spout_sh")

    def stopped_beating() -> bool:
        before = beat.read_text()
        time.sleep(1.5)
        return beat.read_text() == before

    wait_for("the spout to stop beating", stopped_beating)


SPOUT_PY = """
import os, sys, uuid
import python_pachyderm
client = python_pachyderm.Client()  # PACH_CONFIG names the server
name = os.environ["PPS_PIPELINE_NAME"]
with client.commit(name, "master") as c:
    client.put_file_bytes(c, f"/run-{uuid.uuid4().hex}", b"x")  # pids repeat in a sandbox
sys.exit(0)  # the spout is restarted, as Kubernetes restarts its worker
"""


def test_spout_python_client_restarted_after_exit(client: python_pachyderm.Client, tmp_path: Path) -> None:
    script = tmp_path / "spout.py"
    script.write_text(SPOUT_PY)
    create(
        client,
        {"pipeline": {"name": "spout_py"}, "transform": {"cmd": [sys.executable, str(script)]}, "spout": {}},
    )

    def runs() -> set[str]:
        return {f.file.path for f in client.list_file(("spout_py", "master"), "/")}

    assert len(wait_for("two runs", lambda: len(runs()) >= 2 and runs())) >= 2
    client.delete_pipeline("spout_py")


def test_spout_input_validation(client: python_pachyderm.Client) -> None:
    """spout_test.go TestSpoutPachctl/SpoutInputValidation: a spout with an input is refused, and
    nothing is created."""
    client.create_repo("spout_val_in")
    spec = {
        "pipeline": {"name": "spout_val"},
        "transform": {"cmd": ["/bin/sh"], "stdin": ["sleep 1"]},
        "input": {"pfs": {"repo": "spout_val_in", "glob": "/*"}},
        "spout": {},
    }
    with pytest.raises(grpc.RpcError) as info:
        create(client, spec)
    assert "spout pipelines (without a service) must not have an input" in str(info.value.details())
    assert "spout_val" not in {r.repo.name for r in client.list_repo()}
