"""fakesnow's stage files: under the warehouse directory (0700), removed after each connection, and after
a kill -9 mid-egress reported and removed by ``churn warehouse fsck --fix`` (or the next connection)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from churn.warehouse import connect, egress_driver, init, warehouse_dir
from churn.warehouse.staging import staging_root

CHURN = str(Path(sys.executable).parent / "churn")

CRASHER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import fakesnow.transforms.stage as fs_stage
    from churn.warehouse import connect, init
    original = fs_stage.LOCAL_BUCKET_PATH
    src = Path(sys.argv[1]) / "part.csv"
    src.write_text("MSNO,CHURN_PROBABILITY\\nu1,0.5\\n")
    with connect() as conn:
        init(conn)
        cur = conn.cursor()
        cur.execute(f"PUT 'file://{src}' @PUBLIC.%CHURN_SCORES/pachlet_egress_x/ AUTO_COMPRESS=FALSE")
        Path(sys.argv[2]).write_text(original + "\\n" + fs_stage.LOCAL_BUCKET_PATH)
        time.sleep(60)  # killed here, mid-egress
    """
)


def _crash_mid_egress(tmp_path: Path) -> tuple[Path, Path]:
    """A process that staged table data, killed -9: (fakesnow's /tmp dir, the stage dir it used)."""
    script, ready = tmp_path / "crasher.py", tmp_path / "ready"
    script.write_text(CRASHER)
    ready.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), str(ready)])
    deadline = time.monotonic() + 60
    while not ready.exists() or "\n" not in ready.read_text():
        assert proc.poll() is None, "the crasher died"
        assert time.monotonic() < deadline, "the crasher never staged"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    original, used = ready.read_text().splitlines()
    return Path(original), Path(used)


def test_stages_live_under_the_warehouse_and_go_with_the_connection() -> None:
    with connect() as conn:
        init(conn)
        import fakesnow.transforms.stage as fs_stage

        stage_dir = Path(fs_stage.LOCAL_BUCKET_PATH)
        assert stage_dir.parent == staging_root(warehouse_dir().resolve())
        assert stat.S_IMODE(stage_dir.stat().st_mode) == 0o700
        frame = pd.DataFrame({"MSNO": ["u1"], "CHURN_PROBABILITY": [0.5]})
        conn.cursor().execute("CREATE TABLE PLAIN_T (MSNO VARCHAR, CHURN_PROBABILITY DOUBLE)")
        assert egress_driver.bulk_load(conn, "PUBLIC", "PLAIN_T", frame) == 1  # PUT + COPY INTO
        assert stage_dir.is_dir()
    assert not stage_dir.exists()
    assert list(staging_root(warehouse_dir()).iterdir()) == []


@pytest.mark.e2e
def test_kill_9_mid_egress_leftovers_reported_and_removed(tmp_path: Path) -> None:
    original, used = _crash_mid_egress(tmp_path)
    assert not original.exists()  # fakesnow's own /tmp/fakesnow_bucket_* was removed at once
    staged = [p for p in used.rglob("*") if p.is_file()]
    assert staged and staged[0].read_text().startswith("MSNO,")  # table data left by the crash

    out = subprocess.run([CHURN, "warehouse", "fsck"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr
    assert f"found leftover stage directory {used} (1 file(s)" in out.stdout
    out = subprocess.run([CHURN, "warehouse", "fsck", "--fix"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and f"removed leftover stage directory {used}" in out.stdout
    assert not used.exists()
    out = subprocess.run([CHURN, "warehouse", "fsck"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "no leftover stage directory" in out.stdout

    # without fsck, the next connection sweeps what a crash left
    _, used = _crash_mid_egress(tmp_path)
    assert used.exists()
    with connect():
        assert not used.exists()
