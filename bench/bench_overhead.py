"""pachlet's own overhead (issue 9, item 5): per-datum milliseconds over 1,000 trivial datums, and
put/get file throughput for 1 GiB of files, each next to the plain operation it wraps.

Datums: a 1,000-file repo (glob ``/*``, parallelism 1) through a pipeline running ``true``; the
per-datum wall time of the job is compared with spawning ``true`` bare with the same subprocess
settings, so the difference is what pachlet adds (datum IDs and hashes, scratch root, input links,
env, log file, output scan, bookkeeping). Then the same job again with nothing changed (every datum
skipped): the per-datum cost of skipping.

Files: 1 GiB of random (incompressible, so nothing deduplicates) files in two layouts, 64 x 16 MiB and
16,384 x 64 KiB. ``put`` = ``put_files`` of the directory in one commit (sha256, object write, fsync,
rename, one SQLite transaction); ``get`` = ``get_file`` of every file, written to a local directory
(``pachctl get file -o``). The floor is a plain copy of the same tree (``shutil.copyfile`` + fsync per
file for put, plain copy for get). Everything runs in one worker process.

    .venv/bin/python bench/bench_overhead.py [--datums 1000] [--gib 1.0] [--skip-files]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import benchlib

ME = Path(__file__)
LAYOUTS: tuple[tuple[str, int], ...] = (("16 MiB files", 16 * benchlib.MIB), ("64 KiB files", 64 * 1024))


def bare_spawn(cmd: list[str], n: int) -> float:
    """Seconds per bare spawn of ``cmd`` (stdout/stderr to a file, as a datum's go to its log)."""
    with open(os.devnull, "wb") as log:
        t = time.perf_counter()
        for _ in range(n):
            subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=True)
        return (time.perf_counter() - t) / n


def datum_overhead(params: benchlib.Params) -> dict[str, Any]:
    """Worker: ``datums`` datums of ``true`` through pachlet (first run, then an all-skipped rerun)."""
    from pachlet.api import Pachlet

    n = int(params["datums"])
    tmp = Path(params["work_dir"])
    src = tmp / "src"
    src.mkdir(parents=True)
    for i in range(n):
        (src / f"f{i:05d}").write_text(f"{i}\n")
    cmd = ["true"]
    with Pachlet.open(tmp / "root") as p:
        p.create_repo("data")
        t = time.perf_counter()
        p.put_files("data", "master", "/", src)
        put_s = time.perf_counter() - t
        spec = {
            "pipeline": {"name": "noop"},
            "input": {"pfs": {"repo": "data", "glob": "/*"}},
            "transform": {"cmd": cmd},
        }
        p.create_pipeline(spec)
        t = time.perf_counter()
        job = p.run_until_idle()[-1]
        wall = time.perf_counter() - t
        assert job.state == "JOB_SUCCESS" and job.data_processed == n, job
        datum_sum = sum(d.duration for d in p.list_datums("noop", job.id))
        # the same datums again: a new commit touching nothing the datums read
        p.put_file("data", "master", "/zz-extra", b"x")
        t = time.perf_counter()
        job2 = p.run_until_idle()[-1]
        skip_wall = time.perf_counter() - t
        assert job2.state == "JOB_SUCCESS" and job2.data_skipped == n, job2
    base = bare_spawn(cmd, min(n, 300))
    return {
        "datums": n,
        "cmd": cmd,
        "put_small_files_s": round(put_s, 3),
        "job_wall_s": round(wall, 3),
        "per_datum_ms": round(wall / n * 1000, 3),
        "datum_duration_sum_s": round(datum_sum, 3),
        "bare_spawn_ms": round(base * 1000, 3),
        "overhead_per_datum_ms": round((wall / n - base) * 1000, 3),
        "skip_job_wall_s": round(skip_wall, 3),
        "per_skipped_datum_ms": round(skip_wall / (n + 1) * 1000, 3),
    }


def _write_random_tree(root: Path, total: int, size: int) -> int:
    """``total // size`` files of ``size`` random bytes under ``root`` (256 per directory)."""
    import numpy as np

    rng = np.random.default_rng(1)
    count = max(1, total // size)
    for i in range(count):
        d = root / f"d{i // 256:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.bin").write_bytes(rng.bytes(size))
    return count


def _copy_tree_fsync(src: Path, dst: Path) -> None:
    """Copy every file of ``src`` into ``dst`` with an fsync per file (what a durable put must pay)."""
    for dirpath, _, filenames in os.walk(src):
        out = dst / Path(dirpath).relative_to(src)
        out.mkdir(parents=True, exist_ok=True)
        for name in filenames:
            target = out / name
            shutil.copyfile(Path(dirpath) / name, target)
            fd = os.open(target, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def file_throughput(params: benchlib.Params) -> dict[str, Any]:
    """Worker: put/get ``bytes`` of files of ``size`` bytes through pachlet, and a plain copy."""
    from pachlet.api import Pachlet

    tmp = Path(params["work_dir"])
    total, size = int(params["bytes"]), int(params["size"])
    src = tmp / "src"
    count = _write_random_tree(src, total, size)
    nbytes = count * size
    out: dict[str, Any] = {"files": count, "file_bytes": size, "bytes": nbytes}
    os.sync()
    t = time.perf_counter()
    _copy_tree_fsync(src, tmp / "copy-put")
    out["copy_fsync_s"] = round(time.perf_counter() - t, 3)
    with Pachlet.open(tmp / "root") as p:
        p.create_repo("data")
        os.sync()
        t = time.perf_counter()
        commit = p.put_files("data", "master", "/", src)
        out["put_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        files = p.walk_files("data", commit.id, "/")
        dst = tmp / "got"
        for rec in files:
            target = dst / rec.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(p.get_file("data", commit.id, rec.path))
        out["get_s"] = round(time.perf_counter() - t, 3)
        assert len(files) == count
    shutil.rmtree(tmp / "copy-put")
    t = time.perf_counter()
    shutil.copytree(src, tmp / "copy-get")
    out["copy_s"] = round(time.perf_counter() - t, 3)
    mib = nbytes / benchlib.MIB
    for k in ("copy_fsync", "put", "get", "copy"):
        out[f"{k}_mib_s"] = round(mib / out[f"{k}_s"], 1)
    return out


TASKS: dict[str, benchlib.WorkerFn] = {"datums": datum_overhead, "files": file_throughput}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run both parts; print the tables; write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datums", type=int, default=1000)
    ap.add_argument("--gib", type=float, default=1.0, help="GiB of files per layout")
    ap.add_argument("--skip-files", action="store_true")
    ap.add_argument("--results-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    doc: dict[str, Any] = {"bench": "overhead", "machine": benchlib.machine()}
    with benchlib.temp_dir("bench-overhead-") as tmp:
        env = benchlib.bench_env(tmp)
        run = benchlib.run_worker(ME, "datums", {"datums": args.datums, "work_dir": str(tmp / "datums")}, env)
        d = run.result
        doc["datums"] = {**d, "peak_rss_mib": round(run.peak_rss_mib, 1)}
        print(
            benchlib.table(
                ["measure", "value"],
                [
                    ["datums (cmd `true`, parallelism 1)", d["datums"]],
                    ["job wall s", d["job_wall_s"]],
                    ["per datum ms", d["per_datum_ms"]],
                    ["bare spawn ms", d["bare_spawn_ms"]],
                    ["pachlet overhead per datum ms", d["overhead_per_datum_ms"]],
                    ["ratio per datum / bare spawn", benchlib.ratio(d["per_datum_ms"], d["bare_spawn_ms"])],
                    ["all-skipped rerun s", d["skip_job_wall_s"]],
                    ["per skipped datum ms", d["per_skipped_datum_ms"]],
                ],
                f"datum overhead, {d['datums']:,} datums",
            )
        )
        if not args.skip_files:
            rows = []
            doc["files"] = []
            for label, size in LAYOUTS:
                work = tmp / f"files-{size}"
                r = benchlib.run_worker(
                    ME,
                    "files",
                    {"bytes": int(args.gib * benchlib.GIB), "size": size, "work_dir": str(work)},
                    env,
                )
                shutil.rmtree(work, ignore_errors=True)
                f = {**r.result, "layout": label, "peak_rss_mib": round(r.peak_rss_mib, 1)}
                doc["files"].append(f)
                rows.append(
                    [
                        f"{f['files']:,} x {label}",
                        f["put_mib_s"],
                        f["copy_fsync_mib_s"],
                        benchlib.ratio(f["copy_fsync_s"], f["put_s"]),
                        f["get_mib_s"],
                        f["copy_mib_s"],
                        benchlib.ratio(f["copy_s"], f["get_s"]),
                        f["peak_rss_mib"],
                    ]
                )
            print()
            print(
                benchlib.table(
                    [
                        "layout",
                        "put MiB/s",
                        "copy+fsync MiB/s",
                        "put/copy",
                        "get MiB/s",
                        "copy MiB/s",
                        "get/copy",
                        "peak RSS MiB",
                    ],
                    rows,
                    f"put/get file throughput, {args.gib:g} GiB per layout (ratios: pachlet speed / plain copy)",
                )
            )
    path = benchlib.write_results("overhead", doc, args.results_dir)
    print(f"results: {path}")
    return doc


if __name__ == "__main__" and not benchlib.worker_main(TASKS, sys.argv[1:]):
    main()
