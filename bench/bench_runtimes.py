"""Per-datum cost of each runtime: the same trivial datums (``true``, glob ``/*``, parallelism 1) through
pachlet on the ``host``, ``sandbox`` (bubblewrap) and ``container`` (podman/docker, ``churn-pachlet:dev``
from ``make image``) runtimes; per-datum wall time and the difference to ``host``. Runtimes that cannot
run here are reported as such.

    .venv/bin/python bench/bench_runtimes.py [--datums 200] [--container-datums 30] [--runtimes host sandbox container]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pachlet.api import Pachlet
from pachlet.errors import PachletError

IMAGE = "churn-pachlet:dev"


def per_datum(runtime: str, datums: int, tmp: Path) -> float:
    """Seconds per datum of ``true`` on ``runtime``."""
    src = tmp / f"src-{runtime}"
    src.mkdir()
    for i in range(datums):
        (src / f"f{i:05d}").write_text(f"{i}\n")
    with Pachlet.open(tmp / f"root-{runtime}", runtime=runtime) as p:
        p.create_repo("data")
        p.put_files("data", "master", "/", src)
        p.create_pipeline(
            {
                "pipeline": {"name": "noop"},
                "input": {"pfs": {"repo": "data", "glob": "/*"}},
                "transform": {"cmd": ["true"], "image": IMAGE},
            }
        )
        t = time.perf_counter()
        (job,) = p.run_until_idle()
        wall = time.perf_counter() - t
    if job.state != "JOB_SUCCESS" or job.data_processed != datums:
        raise PachletError(f"{runtime}: {job.state} {job.reason}")
    return wall / datums


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datums", type=int, default=200)
    ap.add_argument("--container-datums", type=int, default=30)
    ap.add_argument("--runtimes", nargs="+", default=["host", "sandbox", "container"])
    args = ap.parse_args()
    results: dict[str, float | str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rt in args.runtimes:
            n = args.container_datums if rt == "container" else args.datums
            try:
                results[rt] = per_datum(rt, n, Path(tmp))
            except PachletError as exc:
                results[rt] = str(exc)
    host = results.get("host")
    print(f"{'runtime':<10} {'ms/datum':>10} {'vs host':>10}")
    for rt, v in results.items():
        if isinstance(v, str):
            print(f"{rt:<10} unavailable: {v}")
            continue
        extra = f"{(v - host) * 1000:+.1f}" if isinstance(host, float) else "-"
        print(f"{rt:<10} {v * 1000:>10.1f} {extra:>10}")


if __name__ == "__main__":
    main()
