"""The runtime through pachlet's CLI: ``--runtime``, ``PACHLET_RUNTIME``, ``pachlet runtime`` and the
runtime ``inspect job`` reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pachlet.api import Pachlet
from pachlet.cli import cli
from pachlet.errors import PachletError


def invoke(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(cli, ["--root", str(root), *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def job_on(root: Path, *global_args: str, env: dict[str, str] | None = None) -> str:
    """Create a one-datum pipeline through the CLI; the ``inspect job`` text of its job."""
    with Pachlet.open(root) as p:
        p.create_repo("raw")
        p.put_file("raw", "master", "/a", b"x")
    spec = root.parent / "p.json"
    spec.write_text(
        json.dumps(
            {
                "pipeline": {"name": "p"},
                "input": {"pfs": {"repo": "raw", "glob": "/*"}},
                "transform": {"cmd": ["true"]},
            }
        )
    )
    invoke(root, *global_args, "create", "pipeline", "-f", str(spec), env=env)
    with Pachlet.open(root, read_only=True) as p:
        (job,) = p.list_jobs("p")
    return invoke(root, "inspect", "job", f"p@{job.id}")


def test_runtime_option_is_recorded_and_reported(tmp_path: Path) -> None:
    text = job_on(tmp_path / "root", "--runtime", "host")
    assert "Runtime: host\n" in text


def test_env_var_chooses_the_runtime(tmp_path: Path) -> None:
    text = job_on(tmp_path / "root", env={"PACHLET_RUNTIME": "host"})
    assert "Runtime: host\n" in text


def test_runtime_command_sets_and_shows_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PACHLET_RUNTIME", raising=False)  # it would override the root's setting
    root = tmp_path / "root"
    out = invoke(
        root, "runtime", "--set", "host", "--env", "A=1", "--mount", str(tmp_path), "--network", "ingest"
    )
    assert json.loads(out) == {
        "runtime": "host",
        "engine": "",
        "env": {"A": "1"},
        "mounts": [str(tmp_path)],
        "network": ["ingest"],
        "user": "",
    }
    assert json.loads(invoke(root, "runtime")) == json.loads(out)
    assert "Runtime: host\n" in job_on(root)  # the root's setting, no option or env
    assert json.loads(invoke(root, "runtime", "--clear"))["runtime"] == "auto"


def test_runtime_command_rejects_bad_env(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--root", str(tmp_path / "root"), "runtime", "--env", "novalue"])
    assert result.exit_code != 0 and "--env 'novalue': expected NAME=VALUE" in str(result.exception)


def test_unknown_env_runtime_fails_the_job_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(PachletError, match="PACHLET_RUNTIME: unknown runtime 'vm'"):
        job_on(tmp_path / "root", env={"PACHLET_RUNTIME": "vm"})
