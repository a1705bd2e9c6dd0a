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


WORKER_PORT_ENV = "PPS_WORKER_GRPC_PORT"
"""Set by the worker (pachd, pachlet) for ``transform.datumBatching`` user code: the worker API's port."""


def stage_main(command: Any, stage: str) -> None:
    """A stage's console-script entry point: run the click ``command`` once; under ``datumBatching``
    (``PPS_WORKER_GRPC_PORT`` set) once per datum, each taken with python-pachyderm's worker client
    (``NextDatum``, which reports the previous datum's error), so a worker process pays its imports and
    caches (the predict stage's model) once. The datum's variables come from the response, so this works
    where ``/pfs/.env`` is not at the literal ``/pfs`` (pachlet's host runtime) too."""
    if not os.environ.get(WORKER_PORT_ENV):
        command()
        return
    from python_pachyderm import Client

    worker = Client().worker
    error = ""
    while True:  # the worker ends this process once no datum is left
        response = worker.next_datum(error=error)
        for pair in response.env:
            name, _, value = pair.partition("=")
            os.environ[name] = value
        error = _run_once(command, stage)


def _run_once(command: Any, stage: str) -> str:
    """Run the click command on this process's arguments; "" or the datum's error."""
    try:
        command.main(args=sys.argv[1:], prog_name=stage, standalone_mode=False)
    except SystemExit as exc:  # run_stage's one-line error was printed already
        return "" if exc.code in (None, 0) else f"{stage} exited with status {exc.code}"
    except Exception as exc:  # a click usage error or a bug: say it in the datum's log too
        print(f"{stage}: error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return f"{stage}: {type(exc).__name__}: {exc}"
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return ""
