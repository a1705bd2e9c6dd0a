"""pachd 2.7.6 pipeline behaviours through the CLI (issue 14, items 4-6): creation checks, run cron,
``list datum -f`` refusals, the order of unnamed inputs in a datum."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

PACHLET = str(Path(sys.executable).parent / "pachlet")


def pachlet(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    """Run the console script; with ``ok`` assert exit 0."""
    proc = subprocess.run([PACHLET, *args], capture_output=True, timeout=120)
    if ok:
        assert proc.returncode == 0, f"pachlet {' '.join(args)} failed:\n{proc.stderr.decode()}"
    return proc


def one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    err = proc.stderr.decode()
    assert proc.returncode == 1, (proc.returncode, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert needle in err, err


def spec_file(tmp_path: Path, spec: dict[str, Any], name: str = "spec.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return str(path)


def base(name: str, input_spec: dict[str, Any]) -> dict[str, Any]:
    return {"pipeline": {"name": name}, "transform": {"cmd": ["true"]}, "input": input_spec}


def test_create_pipeline_refuses_a_missing_secret_and_creates_nothing(tmp_path: Path) -> None:
    """api_server.go validateSecret: "missing Kubernetes secret <name>", before anything is created."""
    pachlet("create", "repo", "data")
    spec = base("s", {"pfs": {"repo": "data", "glob": "/*"}})
    spec["transform"]["secrets"] = [{"name": "nosec", "mountPath": "/x"}]
    one_line_error(
        pachlet("create", "pipeline", "-f", spec_file(tmp_path, spec), ok=False),
        "missing Kubernetes secret nosec",
    )
    assert "s" not in pachlet("list", "pipeline").stdout.decode().split()
    assert "s" not in [line.split()[0] for line in pachlet("list", "repo").stdout.decode().splitlines()[1:]]


def test_create_pipeline_without_a_name_is_one_clear_error(tmp_path: Path) -> None:
    """api_server.go validatePipelineRequest: "request.Pipeline cannot be nil"."""
    pachlet("create", "repo", "data")
    spec = base("x", {"pfs": {"repo": "data", "glob": "/*"}})
    del spec["pipeline"]
    one_line_error(
        pachlet("create", "pipeline", "-f", spec_file(tmp_path, spec), ok=False),
        "request.Pipeline cannot be nil",
    )
    spec["pipeline"] = {}
    one_line_error(
        pachlet("create", "pipeline", "-f", spec_file(tmp_path, spec), ok=False),
        "request.Pipeline.Name cannot be empty",
    )


def test_run_cron_without_a_cron_input(tmp_path: Path) -> None:
    """api_server.go RunCron: "pipeline doesn't have a cron input"."""
    pachlet("create", "repo", "data")
    pachlet(
        "create",
        "pipeline",
        "-f",
        spec_file(tmp_path, base("plain", {"pfs": {"repo": "data", "glob": "/*"}})),
    )
    one_line_error(pachlet("run", "cron", "plain", ok=False), "pipeline doesn't have a cron input")


def test_list_datum_from_spec_refuses_cron_and_a_missing_branch(tmp_path: Path) -> None:
    """api_server.go listDatumInput: a cron input is refused, a pfs input's branch must exist."""
    pachlet("create", "repo", "data")
    cron = base("c", {"cron": {"name": "t", "spec": "@daily"}})
    one_line_error(
        pachlet("list", "datum", "-f", spec_file(tmp_path, cron), ok=False),
        "can't list datums with a cron input, there will be no datums until the pipeline is created",
    )
    nob = base("d", {"pfs": {"repo": "data", "branch": "nob", "glob": "/*"}})
    one_line_error(
        pachlet("list", "datum", "-f", spec_file(tmp_path, nob), ok=False),
        'branch "nob" not found in repo data',
    )


def test_run_cron_ticks_each_input_in_its_own_commit_set(tmp_path: Path) -> None:
    """pachyderm_test.go TestCronPipeline/RunCronCross: 1 + 3 x 2 output commits."""
    crons = [{"cron": {"name": n, "spec": "@every 8760h", "overwrite": True}} for n in ("time1", "time2")]
    pachlet("create", "pipeline", "-f", spec_file(tmp_path, base("cc", {"cross": crons})))
    for _ in range(3):
        pachlet("run", "cron", "cc")
    lines = pachlet("list", "commit", "cc").stdout.decode().strip().splitlines()
    assert len(lines) - 1 == 7, lines


def test_create_pipeline_checks_the_output_branch_name(tmp_path: Path) -> None:
    """driver.go createBranch checks the output branch with ancestry.ValidateName."""
    pachlet("create", "repo", "data")
    spec = {**base("ob", {"pfs": {"repo": "data", "glob": "/*"}}), "outputBranch": "v1.0"}
    one_line_error(
        pachlet("create", "pipeline", "-f", spec_file(tmp_path, spec), ok=False),
        "name (v1.0) invalid: only alphanumeric characters, underscores, and dashes are allowed",
    )
    assert "ob" not in pachlet("list", "pipeline").stdout.decode().split()
