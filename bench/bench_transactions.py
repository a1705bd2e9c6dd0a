"""Transactions: N create_repo requests added to one transaction and finished, vs the same N run directly.

Each append dry-runs the whole transaction (as pachd's ``appendTransaction``), so appending N requests
costs O(N^2) request applications; finish applies them once, in one store transaction. Prints wall and
CPU seconds of each phase and the ratio to direct calls, per N. Temporary roots only.

    .venv/bin/python bench/bench_transactions.py [--n 50 200] [--json]

Measured here (2 cores, shared): N=200: appends 1.25 s in all, finish 0.03 s, 200 direct calls 0.04 s.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from pachlet.api import Pachlet
from pachlet.transactions import Transactions


def _timed(fn) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(n: int) -> dict[str, float]:
    """Seconds for direct creates, appends and the finish of ``n`` create_repo requests."""
    with tempfile.TemporaryDirectory(prefix="bench-txn-") as tmp:
        with Pachlet.open(Path(tmp) / "direct") as p:
            direct = _timed(lambda: [p.create_repo(f"r{i}") for i in range(n)])
        with Pachlet.open(Path(tmp) / "txn") as p:
            t = Transactions(p)
            txn = t.start().id
            append = _timed(lambda: [t.append(txn, {"op": "create_repo", "repo": f"r{i}"}) for i in range(n)])
            finish = _timed(lambda: t.finish(txn))
            assert len(p.list_repos()) == n
    return {
        "n": n,
        "direct_wall": direct[0],
        "direct_cpu": direct[1],
        "append_wall": append[0],
        "append_cpu": append[1],
        "finish_wall": finish[0],
        "finish_cpu": finish[1],
        "finish_vs_direct_wall": finish[0] / direct[0] if direct[0] else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    rows = [measure(n) for n in args.n]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'N':>5} {'direct s':>9} {'append s':>9} {'finish s':>9} {'finish/direct':>14}")
    for r in rows:
        print(
            f"{r['n']:>5} {r['direct_wall']:>9.3f} {r['append_wall']:>9.3f} {r['finish_wall']:>9.3f}"
            f" {r['finish_vs_direct_wall']:>14.2f}"
        )


if __name__ == "__main__":
    main()
