"""Datum overhead: N datums of a trivial command through pachlet, per-datum milliseconds.

Runs ``true`` (``python -c pass`` with ``--python``) once per file of an N-file repo (glob ``/*``),
parallelism 1, and compares the per-datum wall time with spawning the same command bare, so the
difference is what pachlet adds (scratch root, input links, env, log, output scan, bookkeeping).
``--batched`` instead runs one ``datumBatching`` worker (python-pachyderm's ``next_datum`` loop doing
nothing per datum), whose per-datum time is pachlet's own cost per datum (its start-up is spread over
the datums). ``--runtime`` picks the runtime (default: the root's, i.e. ``auto``); ``--matrix`` runs
host and sandbox, batched and unbatched; ``--profile FILE`` writes a cProfile of the job (the job
threads of the parent process; datum processes are not profiled).

    .venv/bin/python bench/bench_datum_overhead.py [--datums 1000] [--python] [--batched]
        [--runtime host|sandbox] [--matrix] [--profile out.prof]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pachlet.api import Pachlet

TRUE = ["true"]
PASS = [sys.executable, "-c", "pass"]
BATCHED = [
    sys.executable,
    "-c",
    "from python_pachyderm import Client\nw = Client().worker\nwhile True:\n    w.next_datum()\n",
]


def _profile_thread(profs: list[cProfile.Profile]) -> None:
    """First profile event of a new thread: profile the rest of it with a cProfile of its own."""
    sys.setprofile(None)
    prof = cProfile.Profile()
    profs.append(prof)
    prof.enable()


def bare_spawn(cmd: list[str], n: int) -> float:
    """Seconds per bare spawn of ``cmd`` (same subprocess settings as a datum, no pachlet)."""
    t = time.perf_counter()
    for _ in range(n):
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, check=True)
    return (time.perf_counter() - t) / n


def job_seconds(
    cmd: list[str], datums: int, *, runtime: str | None, batched: bool, profile: str | None = None
) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process: pachlet's own work) of one job of ``datums``
    one-file datums running ``cmd``."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for i in range(datums):
            (src / f"f{i:05d}").write_text(f"{i}\n")
        with Pachlet.open(Path(tmp) / "root", runtime=runtime) as p:
            p.create_repo("data")
            p.put_files("data", "master", "/", src)
            transform: dict[str, object] = {"cmd": cmd}
            if batched:
                transform["datumBatching"] = True
            p.create_pipeline(
                {
                    "pipeline": {"name": "noop"},
                    "input": {"pfs": {"repo": "data", "glob": "/*"}},
                    "transform": transform,
                }
            )
            profs: list[cProfile.Profile] = []
            if profile:
                threading.setprofile(lambda *_: _profile_thread(profs))  # the job threads
            t, cpu = time.perf_counter(), time.process_time()
            try:
                jobs = p.run_until_idle()
            finally:
                threading.setprofile(None)  # type: ignore[arg-type]
            wall, cpu = time.perf_counter() - t, time.process_time() - cpu
            if profile and profs:
                pstats.Stats(*profs).dump_stats(profile)
            job = jobs[-1]
            assert job.state == "JOB_SUCCESS" and job.data_processed == datums, job
            return wall, cpu


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datums", type=int, default=1000)
    ap.add_argument("--python", action="store_true", help="run `python -c pass` instead of `true`")
    ap.add_argument("--batched", action="store_true", help="one datumBatching worker doing nothing per datum")
    ap.add_argument("--runtime", choices=["host", "sandbox"], default=None)
    ap.add_argument("--matrix", action="store_true", help="host and sandbox, unbatched `true` and batched")
    ap.add_argument("--profile", default=None, help="write a cProfile of the job to this file")
    args = ap.parse_args()
    if args.matrix:
        base = bare_spawn(TRUE, min(args.datums, 300))
        print(f"datums: {args.datums}; bare spawn of `true`: {base * 1000:.2f} ms")
        print("| runtime | datums | wall per datum | over bare spawn | pachlet CPU per datum |")
        print("|---|---|---|---|---|")
        for runtime in ("host", "sandbox"):
            for label, cmd, batched in (("unbatched `true`", TRUE, False), ("batched worker", BATCHED, True)):
                wall, cpu = (
                    x / args.datums * 1000
                    for x in job_seconds(cmd, args.datums, runtime=runtime, batched=batched)
                )
                over = f"{wall - base * 1000:.2f} ms" if not batched else "-"
                print(f"| {runtime} | {label} | {wall:.2f} ms | {over} | {cpu:.2f} ms |")
        return
    cmd = BATCHED if args.batched else PASS if args.python else TRUE
    wall, cpu = job_seconds(
        cmd, args.datums, runtime=args.runtime, batched=args.batched, profile=args.profile
    )
    per = wall / args.datums
    print(f"command: {' '.join(cmd)!r}; datums: {args.datums}; runtime: {args.runtime or 'default'}")
    print(
        f"job wall time: {wall:.2f}s; per datum: {per * 1000:.2f} ms; pachlet CPU per datum: {cpu / args.datums * 1000:.2f} ms"
    )
    if not args.batched:
        base = bare_spawn(cmd, min(args.datums, 300))
        print(f"bare spawn of the command: {base * 1000:.2f} ms")
        print(f"pachlet overhead per datum: {(per - base) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
