"""Datum batching: a Python stage that imports pandas, per datum, batched (one process per worker,
python-pachyderm's ``Client().worker.next_datum`` loop) against unbatched (one process per datum).

    .venv/bin/python bench/bench_datum_batching.py [--datums 100] [--runtime host]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from pachlet.api import Pachlet

COPY = "import pathlib, shutil, pandas\n"
UNBATCHED = COPY + (
    "import os\nsrc = pathlib.Path(os.environ['data'])\nshutil.copy(src, src.parents[1] / 'out' / src.name)\n"
)
BATCHED = COPY + (
    "from python_pachyderm import Client\n"
    "w = Client().worker\n"
    "while True:\n"
    "    env = dict(e.split('=', 1) for e in w.next_datum().env)\n"
    "    src = pathlib.Path(env['data'])\n"
    "    shutil.copy(src, src.parents[1] / 'out' / src.name)\n"
)


def run(root: Path, runtime: str, n: int, batched: bool) -> float:
    """Seconds per datum of one job over ``n`` one-file datums."""
    with Pachlet.open(root, runtime=runtime) as p:
        p.create_repo("data")
        c = p.start_commit("data", "master")
        for i in range(n):
            p.put_file("data", c.id, f"/f{i:04d}", b"x\n")
        p.finish_commit("data", c.id)
        script = root.parent / ("batched.py" if batched else "unbatched.py")
        script.write_text(BATCHED if batched else UNBATCHED)
        t = time.perf_counter()
        p.create_pipeline(
            {
                "pipeline": {"name": "b"},
                "input": {"pfs": {"repo": "data", "glob": "/*"}},
                "transform": {"cmd": [sys.executable, str(script)], "datumBatching": batched},
            }
        )
        (job,) = p.run_until_idle()
        elapsed = time.perf_counter() - t
        assert job.state == "JOB_SUCCESS", job.reason
        return elapsed / n


def main() -> None:
    """Run both and print per-datum milliseconds."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datums", type=int, default=100)
    ap.add_argument("--runtime", default="sandbox", choices=["host", "sandbox"])
    args = ap.parse_args()
    for batched in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            per = run(Path(tmp) / "root", args.runtime, args.datums, batched)
        label = "batched" if batched else "unbatched"
        print(f"{label:9}  {args.datums} datums, runtime {args.runtime}: {per * 1000:.1f} ms per datum")


if __name__ == "__main__":
    main()
