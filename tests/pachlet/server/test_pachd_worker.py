"""pachd 2.7.6 worker behaviours through python-pachyderm against ``pachlet serve`` (issue 14, items 2
and 3): datum batching with a python-pachyderm worker client loop (``pachyderm_test.go``
``TestDatumBatching``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import python_pachyderm
from python_pachyderm.proto.v2.pps import pps_pb2

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
