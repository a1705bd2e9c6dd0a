"""`pachlet serve` start-up and shutdown: signals, the root lock, the bind warning, restart resumes."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
import python_pachyderm
from python_pachyderm.proto.v2.pps import pps_pb2

from helpers.served import PACHLET, Served
from pachlet.api import Pachlet

pytestmark = pytest.mark.e2e


def test_sigterm_mid_datum_commits_nothing_partial_and_restart_resumes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    marker = tmp_path / "datum-started"
    s = Served(root)
    c = s.client()
    c.create_repo("slow_in")
    spec = {
        "pipeline": {"name": "slow"},
        "input": {"pfs": {"repo": "slow_in", "glob": "/*"}},
        "transform": {
            "image": "alpine:3",
            "cmd": [
                "sh",
                "-c",
                f"echo started > /pfs/out/started; touch {marker}; sleep 1.5; cp /pfs/slow_in/* /pfs/out/",
            ],
        },
    }
    c.create_pipeline_from_request(python_pachyderm.parse_dict_pipeline_spec(spec))
    c.put_file_bytes(("slow_in", "master"), "/x", b"payload")
    deadline = time.monotonic() + 20
    while not marker.exists():  # the datum's command is running
        assert time.monotonic() < deadline, "the datum never started"
        time.sleep(0.02)
    assert any(j.state == pps_pb2.JOB_RUNNING for j in c.list_job("slow"))
    code, out, err = s.stop()
    assert code == 0, err
    assert "SIGTERM received" in err and "stopped" in out

    # the lock is released; the output commit is either complete or not visible at all
    with Pachlet(root, timeout=2) as p:
        head = p.inspect_commit("slow", "master")
        if head.finished is not None:
            files = {f.path for f in p.walk_files("slow", head.id)}
            assert files == {"/started", "/x"}, (files, p.list_jobs("slow"), p.list_commits("slow"))
        else:
            assert p.pending_jobs(), "an unfinished output commit must belong to a queued job"

    # a restart finishes the job
    s2 = Served(root)
    c2 = s2.client()
    c2.wait_commit(("slow", "master"))
    assert c2.get_file(("slow", "master"), "/x").read() == b"payload"
    assert all(j.state == pps_pb2.JOB_SUCCESS for j in c2.list_job("slow"))
    code, _, err = s2.stop()
    assert code == 0, err


def test_sigint_and_second_server_on_same_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    s = Served(root)
    second = subprocess.run(
        [PACHLET, "--root", str(root), "--lock-timeout", "0.5", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    assert "in use by" in second.stderr and "serve" in second.stderr
    s.proc.send_signal(signal.SIGINT)
    code, err = s.wait_exit()
    assert code == 0, err
    assert "SIGINT received" in err
    with Pachlet(root, timeout=2):
        pass


@pytest.mark.parametrize("flag", ["--address", "--bind"])
def test_binding_beyond_loopback_warns(tmp_path: Path, flag: str) -> None:
    s = Served(tmp_path / "root", flag, "0.0.0.0")
    assert s.host == "0.0.0.0"
    assert s.client().get_remote_version().major == 2
    code, _, err = s.stop()
    assert code == 0
    assert "WARNING" in err and "no authentication" in err


def test_default_bind_is_loopback(tmp_path: Path) -> None:
    # the console on a free port: its default (4000) may be taken by another server on the machine
    s = Served(tmp_path / "root", "--console-port", "0")
    assert s.host == "127.0.0.1"
    code, _, err = s.stop()
    assert code == 0 and "WARNING" not in err
