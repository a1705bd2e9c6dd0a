"""Datum overhead: 1,000 datums of a trivial command through pachlet, per-datum milliseconds.

Runs ``true`` (and ``python -c pass`` with ``--python``) once per file of a 1,000-file repo (glob
``/*``), parallelism 1, and compares the per-datum wall time with spawning the same command bare, so
the difference is what pachlet adds (scratch root, input links, env, log, output scan, bookkeeping).

    .venv/bin/python bench/bench_datum_overhead.py [--datums 1000] [--python]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pachlet.api import Pachlet


def bare_spawn(cmd: list[str], n: int) -> float:
    """Seconds per bare spawn of ``cmd`` (same subprocess settings as a datum, no pachlet)."""
    t = time.perf_counter()
    for _ in range(n):
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, check=True)
    return (time.perf_counter() - t) / n


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datums", type=int, default=1000)
    ap.add_argument("--python", action="store_true", help="run `python -c pass` instead of `true`")
    args = ap.parse_args()
    cmd = [sys.executable, "-c", "pass"] if args.python else ["true"]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for i in range(args.datums):
            (src / f"f{i:05d}").write_text(f"{i}\n")
        with Pachlet.open(Path(tmp) / "root") as p:
            p.create_repo("data")
            p.put_files("data", "master", "/", src)
            p.create_pipeline(
                {
                    "pipeline": {"name": "noop"},
                    "input": {"pfs": {"repo": "data", "glob": "/*"}},
                    "transform": {"cmd": cmd},
                }
            )
            t = time.perf_counter()
            jobs = p.run_until_idle()
            wall = time.perf_counter() - t
            job = jobs[-1]
            assert job.state == "JOB_SUCCESS" and job.data_processed == args.datums, job
            per = wall / args.datums
            base = bare_spawn(cmd, min(args.datums, 300))
            print(f"command: {' '.join(cmd)}; datums: {args.datums}")
            print(f"job wall time: {wall:.2f}s; per datum: {per * 1000:.2f} ms")
            print(f"bare spawn of the command: {base * 1000:.2f} ms")
            print(f"pachlet overhead per datum: {(per - base) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
