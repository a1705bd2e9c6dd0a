"""Datum commands that only succeed when two datums run at the same time (for concurrency tests)."""

from __future__ import annotations

import sys


def meet(me: str, other: str, seconds: float = 30) -> list[str]:
    """A datum that marks itself started (``$MEET/<me>``), then waits at most ``seconds`` for
    ``$MEET/<other>`` to exist (exit 3 if it never does) and writes ``/pfs/out/<me>``."""
    code = (
        "import os, pathlib, sys, time\n"
        "d = pathlib.Path(os.environ['MEET'])\n"
        f"(d / '{me}').touch()\n"
        f"deadline = time.monotonic() + {seconds}\n"
        f"while not (d / '{other}').exists():\n"
        "    if time.monotonic() > deadline:\n"
        "        sys.exit(3)\n"
        "    time.sleep(0.02)\n"
        f"pathlib.Path('/pfs/out/{me}').write_text('met')\n"
    )
    return [sys.executable, "-c", code]
