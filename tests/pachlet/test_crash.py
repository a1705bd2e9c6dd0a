"""Crash safety: kill -9 of a real pachlet process mid-job and mid-put, then fsck and a rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pachlet.api import Pachlet

pytestmark = pytest.mark.e2e


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"pachlet process exited early with {proc.returncode}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_kill_9_mid_job_then_fsck_clean_and_rerun(tmp_path: Path) -> None:
    root = tmp_path / "root"
    started = tmp_path / "sleeper-started"
    first_run = tmp_path / "first-run"
    first_run.touch()
    # datum /c sleeps on the first run only; /a and /b finish (and store their outputs) before it
    cmd = [
        "sh",
        "-c",
        "name=$(basename $raw); tr a-z A-Z < $raw > /pfs/out/$name; "
        f"if [ $name = c ] && [ -e {first_run} ]; then touch {started}; sleep 60; fi",
    ]
    script = textwrap.dedent(
        f"""
        from pachlet.api import Pachlet
        p = Pachlet({str(root)!r})
        p.create_repo("raw")
        for n in ("a", "b", "c", "d"):
            p.put_file("raw", "master", "/" + n, n.encode() * 3)
        p.create_pipeline({{"pipeline": {{"name": "up"}}, "input": {{"pfs": {{"repo": "raw", "glob": "/*"}}}},
                            "transform": {{"cmd": {cmd!r}}}}})
        p.run_until_idle()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        _wait_for(started, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    first_run.unlink()

    with Pachlet.open(root, timeout=10) as p:
        (job,) = p.list_jobs("up")
        assert job.state == "JOB_RUNNING"
        out = p.inspect_commit("up", job.id)
        assert out.finished is None  # nothing of the killed job is visible
        assert out.parent is None and p.walk_files("up") == []
        report = p.fsck()
        assert not report.clean
        assert any("interrupted" in x for x in report.problems)
        assert any("orphan object" in x for x in report.problems)  # outputs of /a and /b
        fixed = p.fsck(fix=True)
        assert fixed.clean and fixed.fixed
        assert p.fsck().clean

        (done,) = p.run_until_idle()
        assert done.id == job.id and done.state == "JOB_SUCCESS" and done.restart == 1
        assert (done.data_processed, done.data_total) == (4, 4)
        assert {f.path: p.get_file("up", "master", f.path) for f in p.walk_files("up")} == {
            "/a": b"AAA",
            "/b": b"BBB",
            "/c": b"CCC",
            "/d": b"DDD",
        }
        assert p.fsck().clean


def test_kill_9_mid_put_file_leaves_no_partial_commit(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with Pachlet.open(root) as p:
        p.create_repo("raw")
        base = p.put_file("raw", "master", "/keep", b"keep")
    ready = tmp_path / "ready"
    # the put reads its data from stdin, which never ends: the commit is open when we kill
    script = textwrap.dedent(
        f"""
        import pathlib, sys
        from pachlet.api import Pachlet
        p = Pachlet({str(root)!r})
        class Slow:
            def __init__(self):
                self.n = 0
            def read(self, size=-1):
                self.n += 1
                if self.n == 2:
                    pathlib.Path({str(ready)!r}).touch()
                return sys.stdin.buffer.read(4) if self.n > 1 else b"part"
        p.put_file("raw", "master", "/big", Slow())
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE)
    try:
        _wait_for(ready, proc)
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()

    with Pachlet.open(root) as p:
        head = p.inspect_commit("raw", "master")
        assert head.finished is None and head.parent == base.id
        report = p.fsck()
        assert any("dead process" in x for x in report.problems)
        assert any("temporary file" in x for x in report.problems)
        assert p.fsck(fix=True).clean
        assert p.fsck().clean
        assert p.inspect_commit("raw", "master").id == base.id
        assert [f.path for f in p.walk_files("raw")] == ["/keep"]
        again = p.put_file("raw", "master", "/big", b"whole")
        assert again.parent == base.id and p.get_file("raw", "master", "/big") == b"whole"
