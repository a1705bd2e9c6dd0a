"""The sandbox runtime for real (bubblewrap): literal /pfs paths in code, relative ``pfs/`` from ``/``,
read-only inputs, no host environment, and a churn stage's output byte-identical to the host runtime's.
Skipped, naming why, where bubblewrap or user namespaces do not work."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import churn_dag
from pachlet.api import Pachlet
from pachlet.runtimes.sandbox import sandbox_problem

PROBLEM = sandbox_problem()
pytestmark = pytest.mark.skipif(bool(PROBLEM), reason=f"sandbox runtime unavailable: {PROBLEM}")

LITERAL_SCRIPT = """\
import json, os, pathlib
rows = []
for p in sorted(pathlib.Path("/pfs/raw").rglob("*")):
    if p.is_file():
        rows.append({"path": str(p), "text": open(str(p)).read()})
with open("/pfs/out/listing.json", "w") as f:
    json.dump({"rows": rows, "cwd": os.getcwd()}, f, sort_keys=True)
"""


def spec(name: str, repo: str, cmd: list[str], **transform: Any) -> dict[str, Any]:
    return {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": repo, "glob": "/"}},
        "transform": {"cmd": cmd, **transform},
    }


@pytest.fixture
def sandboxed(tmp_path: Path) -> Iterator[Pachlet]:
    p = Pachlet(tmp_path / "root", timeout=5, runtime="sandbox")
    yield p
    p.close()


def test_python_script_opens_literal_pfs_paths(sandboxed: Pachlet, tmp_path: Path) -> None:
    script = tmp_path / "stage.py"
    script.write_text(LITERAL_SCRIPT)
    sandboxed.create_repo("raw")
    sandboxed.put_file("raw", "master", "/a.txt", b"alpha\n")
    sandboxed.put_file("raw", "master", "/d/b.txt", b"beta\n")
    sandboxed.create_pipeline(spec("literal", "raw", [sys.executable, str(script)]))
    (job,) = sandboxed.run_until_idle()
    assert job.state == "JOB_SUCCESS" and job.runtime == "sandbox"
    out = sandboxed.get_file("literal", "master", "/listing.json")
    assert out == (
        b'{"cwd": "/", "rows": [{"path": "/pfs/raw/a.txt", "text": "alpha\\n"}, '
        b'{"path": "/pfs/raw/d/b.txt", "text": "beta\\n"}]}'
    )


def test_shell_command_uses_pfs_relative_to_root(sandboxed: Pachlet) -> None:
    sandboxed.create_repo("raw")
    sandboxed.put_file("raw", "master", "/a.txt", b"one\ntwo\n")
    sandboxed.create_pipeline(
        spec("rel", "raw", ["sh", "-c", "wc -l < pfs/raw/a.txt > pfs/out/count; pwd >> pfs/out/count"])
    )
    (job,) = sandboxed.run_until_idle()
    assert job.state == "JOB_SUCCESS"
    assert sandboxed.get_file("rel", "master", "/count") == b"2\n/\n"


def test_inputs_are_read_only_and_the_store_is_untouched(sandboxed: Pachlet) -> None:
    sandboxed.create_repo("raw")
    sandboxed.put_file("raw", "master", "/a.txt", b"keep\n")
    sandboxed.create_pipeline(
        spec("writer", "raw", ["sh", "-c", "echo changed > /pfs/raw/a.txt; echo rc=$? > /pfs/out/rc"])
    )
    (job,) = sandboxed.run_until_idle()
    assert job.state == "JOB_SUCCESS"
    assert sandboxed.get_file("writer", "master", "/rc") != b"rc=0\n"
    assert sandboxed.get_file("raw", "master", "/a.txt") == b"keep\n"
    assert sandboxed.fsck().clean


def test_host_environment_does_not_leak(sandboxed: Pachlet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("I15_HOST_ONLY", "host-secret-value")
    sandboxed.create_repo("raw")
    sandboxed.put_file("raw", "master", "/a.txt", b"x")
    sandboxed.create_pipeline(
        spec("envs", "raw", ["sh", "-c", "env | sort > /pfs/out/env"], env={"FROM_SPEC": "1"})
    )
    (job,) = sandboxed.run_until_idle()
    assert job.state == "JOB_SUCCESS"
    env = dict(
        line.split("=", 1)
        for line in sandboxed.get_file("envs", "master", "/env").decode().splitlines()
        if "=" in line
    )
    assert "I15_HOST_ONLY" not in env and "host-secret-value" not in str(env)
    assert env["FROM_SPEC"] == "1" and env["raw"] == "/pfs/raw" and env["PPS_PIPELINE_NAME"] == "envs"
    assert env["HOME"] == "/tmp" and "PACH_JOB_ID" in env and "PACH_DATUM_ID" in env
    allowed = {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV", "PWD", "SHLVL", "_", "FROM_SPEC"}
    pach = {k for k in env if k.startswith(("PACH_", "PPS_")) or k.startswith("raw")}
    assert set(env) - allowed - pach == set()


@pytest.mark.e2e
def test_churn_stages_byte_identical_to_host(tmp_path: Path) -> None:
    """clean, features, train and predict from the local specs on the same ingested shards, on the host
    runtime and in the sandbox: the same files byte for byte (Parquet, model.joblib, PNG included; the
    scores without their per-run columns)."""
    data = churn_dag.ingest(tmp_path)
    host = churn_dag.run_stages(tmp_path / "host", "host", data)
    sandbox = churn_dag.run_stages(tmp_path / "sandbox", "sandbox", data)
    assert any(p.endswith(".parquet") for p in host["churn_train_features"])
    assert host["churn_predict"] and host["churn_model"]
    assert sandbox == host
