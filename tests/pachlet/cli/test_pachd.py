"""``pachlet --pachd``: the CLI as a client of a real ``pachlet serve`` subprocess, and the clear refusal
to open a root that a running server owns."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import json_format
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.pps import pps_pb2

pytestmark = pytest.mark.e2e

PACHLET = str(Path(sys.executable).parent / "pachlet")


@pytest.fixture
def server() -> Iterator[str]:
    """A ``pachlet serve`` on a free port over the test's PACHLET_ROOT; yields HOST:PORT."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [PACHLET, "serve", "--port", str(port), "--no-cron"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"listening on (\S+:\d+)", line)
        assert match, f"serve did not start: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        yield match.group(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(*args: str, address: str | None, ok: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if address:
        env["PACHD_ADDRESS"] = address
    proc = subprocess.run([PACHLET, *args], capture_output=True, text=True, env=env, timeout=120)
    if ok:
        assert proc.returncode == 0, f"pachlet {' '.join(args)}: {proc.stderr}"
    return proc


def test_cli_as_client_of_pachlet_serve(server: str, tmp_path: Path) -> None:
    run("create", "repo", "raw", address=server)
    (tmp_path / "a.txt").write_text("alpha\n")
    (tmp_path / "b.txt").write_text("beta\n")
    run(
        "put",
        "file",
        "raw@master",
        "-f",
        str(tmp_path / "a.txt"),
        "-f",
        str(tmp_path / "b.txt"),
        address=server,
    )
    spec = tmp_path / "upper.json"
    spec.write_text(json.dumps({
        "pipeline": {"name": "upper"},
        "transform": {"cmd": ["sh", "-c", "tr a-z A-Z < $raw > /pfs/out/$(basename $raw)"]},
        "input": {"pfs": {"repo": "raw", "glob": "/*"}},
    }))  # fmt: skip
    created = run("create", "pipeline", "-f", str(spec), address=server)
    assert "upper@" not in created.stderr  # returns once the pipeline exists, as pachctl does
    run("wait", "commit", "upper@master", address=server)
    assert run("get", "file", "upper@master:/a.txt", address=server).stdout == "ALPHA\n"

    jobs = [
        json_format.Parse(x, pps_pb2.JobInfo())
        for x in run("list", "job", "-p", "upper", "-o", "json", address=server).stdout.splitlines()
    ]
    assert len(jobs) == 1 and jobs[0].data_processed == 2 and jobs[0].state == pps_pb2.JOB_SUCCESS
    (commit,) = [
        json_format.Parse(x, pfs_pb2.CommitInfo())
        for x in run("inspect", "commit", "upper@master", "-o", "json", address=server).stdout.splitlines()
    ]
    assert [p.repo.name for p in commit.direct_provenance] == ["raw"]
    table = run("list", "datum", f"upper@{jobs[0].job.id}", address=server).stdout
    assert table.splitlines()[0].split() == ["ID", "FILES", "STATUS", "TIME"] and "raw@" in table
    assert "pachd" in run("version", address=server).stdout

    # without --pachd, the CLI on the served root talks to the server (never opens the root itself)
    served = run("list", "repo", "-o", "json", address=None)
    assert served.stdout == run("list", "repo", "-o", "json", address=server).stdout
    # what must open the root itself is refused with the address to use
    refused = run("runtime", address=None, ok=False)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "owned by a running pachlet serve" in refused.stderr
    assert f"--pachd {server}" in refused.stderr

    missing = run("inspect", "repo", "ghost", address=server, ok=False)
    assert missing.returncode == 1 and "ghost" in missing.stderr and "Traceback" not in missing.stderr
