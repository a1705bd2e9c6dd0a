"""The benchmark suite (``make bench``): DAG vs floor (full, no-op, incremental), DAG vs DVC (full,
no-op, scattered and one-shard incremental), pachlet overhead, SQL egress; then every figure against
the targets of issues 9 and 18.

Defaults are modest (20,000 members, about 3 minutes on 2 cores); the scales of the issue are flags:

    .venv/bin/python bench/run.py                                # 20k members, 1,000 datums, 1 GiB, 1 M rows
    .venv/bin/python bench/run.py --members 100000 1000000       # the issue's two scales (1 M: ~30 min)
    .venv/bin/python bench/run.py --only dag --members 100000 --skip-incremental
    .venv/bin/python bench/run.py --only overhead egress

Each benchmark prints its tables and writes ``bench/results/<name>-<time>.json``; this script adds
``suite-<time>.json`` with the target table. The machine is shared and noisy: compare ratios taken
within one invocation, not absolute seconds across runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import bench_dag
import bench_dvc
import bench_egress
import bench_overhead
import benchlib

BENCHES = ("dag", "dvc", "overhead", "egress")
TARGET_MEMBERS = 1_000_000


def target_rows(results: dict[str, Any]) -> list[list[Any]]:
    """``[target, scale, measured, limit, verdict]`` rows for every figure the issue sets a target for."""
    rows: list[list[Any]] = []
    for members, doc in sorted(results.get("dag", {}).items()):
        s = doc["summary"]
        scale = f"{members:,} members"
        full_scale = scale + ("" if members >= TARGET_MEMBERS else " (target is for 1 M)")
        rows.append(
            [
                "full run / floor wall",
                full_scale,
                f"{s['full_ratio']:.2f}x ({s['full_wall_s']:.1f}s / {s['floor_wall_s']:.1f}s)",
                "<= 1.0x",
                benchlib.verdict(s["full_ratio"] <= 1.0),
            ]
        )
        fp, pp = s["floor_stage_s"].get("predict"), s["full_stage_s"].get("predict")
        rows.append(
            [
                "predict stage / floor wall",
                scale,
                f"{pp / fp:.2f}x ({pp:.1f}s / {fp:.1f}s)" if fp and pp else "-",
                "<= 1.5x",
                benchlib.verdict(pp / fp <= 1.5) if fp and pp else "-",
            ]
        )
        rss_gib = s["full_peak_rss_mib"] / 1024
        rows.append(
            [
                "full run peak RSS (tree)",
                scale,
                f"{rss_gib:.2f} GiB",
                "< 5 GiB",
                benchlib.verdict(rss_gib < 5),
            ]
        )
        rows.append(
            [
                "no-op: datums after ingest skipped",
                scale,
                "all" if s["noop_all_skipped_after_ingest"] else "NOT all",
                "all",
                benchlib.verdict(s["noop_all_skipped_after_ingest"]),
            ]
        )
        rows.append(
            [
                "no-op rerun time",
                scale,
                f"{s['noop_wall_s']:.2f}s (queries {s['query_alone_s']:.2f}s)",
                f"< {s['noop_budget_s']:.2f}s",
                benchlib.verdict(s["noop_wall_s"] < s["noop_budget_s"]),
            ]
        )
        if "incremental_fraction" in s:
            rows.append(
                [
                    "incremental (1 of 16 shards) / full",
                    scale,
                    f"{s['incremental_fraction']:.1%} ({s['incremental_wall_s']:.1f}s / {s['full16_wall_s']:.1f}s)",
                    "< 25 %",
                    benchlib.verdict(s["incremental_fraction"] < 0.25),
                ]
            )
    for members, doc in sorted(results.get("dvc", {}).items()):
        for name, ph in doc["phases"].items():
            p, d = ph["pachlet"], ph["dvc"]
            wlim, clim = bench_dvc.TARGETS[name]
            wr, cr = benchlib.ratio(p["wall_s"], d["wall_s"]), benchlib.ratio(p["cpu_s"], d["cpu_s"])
            ok = wr is not None and wr <= wlim and (clim is None or (cr is not None and cr <= clim))
            rows.append(
                [
                    f"{name} / DVC" + ("" if ph["scores_identical"] else " (scores DIFFER)"),
                    f"{members:,} members",
                    f"wall {wr:.2f}x ({p['wall_s']:.1f}s / {d['wall_s']:.1f}s), cpu {cr:.2f}x",
                    f"wall <= {wlim}x" + (f", cpu <= {clim}x" if clim else ""),
                    benchlib.verdict(ok and ph["scores_identical"]),
                ]
            )
    ov = results.get("overhead")
    if ov:
        d = ov["datums"]
        rows.append(
            [
                "per-datum overhead",
                f"{d['datums']:,} datums of `true`",
                f"{d['overhead_per_datum_ms']:.1f} ms ({d['per_datum_ms']:.1f} ms per datum)",
                "< 30 ms",
                benchlib.verdict(d["per_datum_ms"] < 30),
            ]
        )
        for f in ov.get("files", []):
            rows.append(
                [
                    f"put / get throughput, {f['layout']}",
                    f"{f['bytes'] / benchlib.GIB:.2g} GiB",
                    f"{f['put_mib_s']:,.0f} / {f['get_mib_s']:,.0f} MiB/s",
                    "(no target)",
                    "-",
                ]
            )
    eg = results.get("egress")
    if eg:
        p = eg["pachlet"]
        rows.append(
            [
                "egress of 1 M rows",
                f"{eg['data']['rows']:,} rows",
                f"{p['egress_s']:.1f}s ({eg['data']['rows'] / p['egress_s']:,.0f} rows/s, "
                f"{p['egress_peak_rss_mib']:,.0f} MiB)",
                "< 20 s",
                benchlib.verdict(p["egress_s"] < 20),
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the selected benchmarks and print the target table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, nargs="+", default=[20_000], help="DAG scales (members)")
    ap.add_argument("--only", nargs="+", choices=BENCHES, default=list(BENCHES))
    ap.add_argument("--skip-incremental", action="store_true")
    ap.add_argument("--datums", type=int, default=1000)
    ap.add_argument("--gib", type=float, default=1.0, help="GiB of files per put/get layout")
    ap.add_argument("--egress-rows", type=int, default=1_000_000)
    ap.add_argument("--results-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    extra = ["--results-dir", str(args.results_dir)] if args.results_dir else []
    results: dict[str, Any] = {"machine": benchlib.machine()}
    started = time.perf_counter()
    if "dag" in args.only:
        results["dag"] = {}
        for m in args.members:
            print(f"\n=== DAG vs floor, {m:,} members ===", flush=True)
            dag_argv = ["--members", str(m), *extra]
            if args.skip_incremental:
                dag_argv.append("--skip-incremental")
            results["dag"][m] = bench_dag.main(dag_argv)
    if "dvc" in args.only:
        results["dvc"] = {}
        for m in args.members:
            print(f"\n=== pachlet vs DVC, {m:,} members ===", flush=True)
            results["dvc"][m] = bench_dvc.main(["--members", str(m), *extra])
    if "overhead" in args.only:
        print("\n=== pachlet overhead ===", flush=True)
        results["overhead"] = bench_overhead.main(
            ["--datums", str(args.datums), "--gib", str(args.gib), *extra]
        )
    if "egress" in args.only:
        print("\n=== SQL egress ===", flush=True)
        results["egress"] = bench_egress.main(["--rows", str(args.egress_rows), *extra])
    rows = target_rows(results)
    print()
    print(
        benchlib.table(["target", "scale", "measured", "limit", "verdict"], rows, "targets (issues 9 and 18)")
    )
    results["targets"] = rows
    results["suite_wall_s"] = round(time.perf_counter() - started, 1)
    path = benchlib.write_results("suite", results, args.results_dir)
    print(f"suite: {results['suite_wall_s']:.0f}s; results: {path}")
    return results


if __name__ == "__main__":
    main()
