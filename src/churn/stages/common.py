"""Shared plumbing of the stage entry points: the one-line error, input discovery, output files."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from churn.errors import ChurnError


class StageError(ChurnError):
    """A stage failure with a one-line message that names the file, column or row at fault."""


def fail(stage: str, message: str, code: int = 1) -> NoReturn:
    """Print ``<stage>: error: <message>`` on stderr and exit with ``code``."""
    print(f"{stage}: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def run_stage(stage: str, body: Callable[[], None]) -> None:
    """Run ``body``; a StageError or a missing file becomes one clear line on stderr and exit status 1."""
    try:
        body()
    except StageError as exc:
        fail(stage, str(exc))
    except FileNotFoundError as exc:
        fail(stage, f"missing input file: {exc.filename or exc}")


def require_dir(path: str | Path, what: str) -> Path:
    """``path`` as a Path, or a StageError naming it if it is not a directory."""
    p = Path(path)
    if not p.is_dir():
        raise StageError(f"{what} directory {p} does not exist")
    return p


def require_file(path: Path) -> Path:
    """``path``, or a StageError naming it if it is not a regular file."""
    if not path.is_file():
        raise StageError(f"missing input file {path}")
    return path


def csv_inputs(input_dir: Path) -> list[Path]:
    """The CSV files of a stage input, sorted by name.

    The clean output holds ``data/``, ``quarantine/`` and ``report/``; a datum of glob ``/data/*`` mounts
    ``<input>/data/<shard>.csv``. So ``<input>/data/*.csv`` is used when present, else ``<input>/*.csv``.
    """
    data = sorted(p for p in (input_dir / "data").glob("*.csv") if p.is_file())
    if data:
        return data
    return sorted(p for p in input_dir.glob("*.csv") if p.is_file())


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as stable, indented JSON (sorted keys, trailing newline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def log(stage: str, message: str) -> None:
    """One progress line on stderr (pachlet and Pachyderm keep it in the job's logs)."""
    print(f"{stage}: {message}", file=sys.stderr, flush=True)


def env(name: str, default: str = "") -> str:
    """An environment variable, or ``default``."""
    return os.environ.get(name, default)
