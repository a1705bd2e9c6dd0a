"""Seeding throughput: generate and bulk-load the synthetic KKBox data set into a fresh embedded warehouse.

Prints rows and load rows/s per table, generation time, overall rows/s, the TRAIN churn rate and the
process's peak RSS. Uses a temporary warehouse directory unless ``--dir`` is given.

    .venv/bin/python bench/bench_seed.py [--members 100000] [--seed 42] [--chunk-members 50000] [--json]
    /usr/bin/time -v .venv/bin/python bench/bench_seed.py --members 1000000   # OS view of peak memory

Measured here (2 cores): 100k members 4.1 M rows in 8-12 s (360k-520k rows/s overall), peak RSS 1.1 GiB;
1 M members 41.7 M rows (31.6 M USER_LOGS) in 106 s (393k rows/s), peak RSS 4.2 GiB, churn 9.6 %.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--chunk-members", type=int, default=50_000)
    parser.add_argument(
        "--dir", type=Path, default=None, help="warehouse directory (default: a temporary one)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-seed-") as tmp:
        os.environ["CHURN_WAREHOUSE_DIR"] = str(args.dir or Path(tmp) / "warehouse")
        from churn.warehouse import connect
        from churn.warehouse.generate import seed_warehouse

        with connect(lock_timeout=5) as conn:
            stats = seed_warehouse(conn, args.members, args.seed, chunk_members=args.chunk_members)
        db_bytes = sum(p.stat().st_size for p in Path(os.environ["CHURN_WAREHOUSE_DIR"]).glob("*.db"))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = stats.total_rows()
    result = {
        "members": args.members,
        "seed": args.seed,
        "chunk_members": args.chunk_members,
        "rows": stats.rows,
        "load_rows_per_s": {t: round(v) for t, v in stats.rows_per_second().items()},
        "generate_s": round(stats.generate_seconds, 2),
        "wall_s": round(stats.wall_seconds, 2),
        "rows_per_s": round(total / stats.wall_seconds),
        "churn_rate": round(stats.churn_rate, 4),
        "log_rows_per_member": round(stats.rows["USER_LOGS"] / max(args.members, 1), 1),
        "peak_rss_mib": round(peak_mib),
        "db_mib": round(db_bytes / 2**20),
    }
    if args.json:
        print(json.dumps(result))
        return
    for table, rows in stats.rows.items():
        print(f"{table:<13} {rows:>12,} rows  {result['load_rows_per_s'][table]:>12,} rows/s (load)")
    print(
        f"{args.members:,} members: {total:,} rows in {result['wall_s']}s "
        f"({result['rows_per_s']:,} rows/s overall, generation {result['generate_s']}s), "
        f"churn {stats.churn_rate:.1%}, {result['log_rows_per_member']} log rows/member, "
        f"peak RSS {result['peak_rss_mib']:,} MiB, database {result['db_mib']:,} MiB"
    )


if __name__ == "__main__":
    main()
