"""The embedded warehouse as tests use it: run statements, get rows."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from churn.warehouse import EMBEDDED_URL, connect_url


def sql(*statements: str) -> list[tuple[Any, ...]]:
    """Run statements on the embedded warehouse; rows of the last one."""
    with connect_url(EMBEDDED_URL, None) as conn:
        cur = conn.cursor()
        rows: list[tuple[Any, ...]] = []
        for st in statements:
            cur.execute(st)
            rows = cur.fetchall() if cur.description else []
        return rows


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from churn.warehouse import connect, init
    with connect() as conn:
        init(conn)
        Path(sys.argv[1]).write_text("ready")
        time.sleep(float(sys.argv[2]))
    """
)


def start_holder(tmp_path: Path, hold: float) -> subprocess.Popen[bytes]:
    """A process (``hold_warehouse.py``) holding the embedded warehouse for ``hold`` seconds; returns
    once it holds the lock."""
    ready = tmp_path / "ready"
    script = tmp_path / "hold_warehouse.py"
    script.write_text(HOLDER)
    proc = subprocess.Popen([sys.executable, str(script), str(ready), str(hold)])
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None, "holder died"
        assert time.monotonic() < deadline, "holder never took the lock"
        time.sleep(0.05)
    return proc
