"""The venvs the Makefile builds for the 2.8+ clients (``make sdk212``, ``make jupyter-venv``) and
running a script in one of them; tests skip, naming the venv and its target, when it is absent."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VENVS = {
    # name: (venv directory, make target, what it holds)
    "sdk210": (".venv-jupyter", "jupyter-venv", "pachyderm-sdk 2.10 (jupyterlab-pachyderm 2.12.2 pins it)"),
    "sdk212": (".venv-sdk212", "sdk212", "pachyderm-sdk 2.12"),
}


def venv_bin(name: str, program: str = "python") -> Path:
    """``program`` in the venv ``name`` of ``VENVS``; skips the test when the venv is not built."""
    directory, target, holds = VENVS[name]
    path = REPO_ROOT / directory / "bin" / program
    if not path.exists():
        pytest.skip(f"{directory} ({holds}) is not built: run `make {target}`")
    return path


def run_json(name: str, script: Path, *args: str, timeout: float = 180) -> dict:
    """Run ``script`` with the venv's python; its last stdout line is JSON, returned parsed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the venv's own packages only
    proc = subprocess.run(
        [str(venv_bin(name)), str(script), *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
