"""SQL egress throughput (issue 9, item 6): 1 M CHURN_SCORES rows loaded into the embedded warehouse
through pachlet's SQL egress, next to the same load called directly.

A ``prepare`` worker writes ``--rows`` score rows as ``CHURN_SCORES/shard-NN.csv`` (with the header
the ``churn_predict`` spec names) and runs ``churn warehouse init``. Then, each in its own worker:

- ``direct`` (the floor): ``pachlet.egress.load_tables`` with the ``snowflake`` driver on the files;
- ``pachlet``: the files are put in a repo, a pipeline (glob ``/``, ``cp -r`` to ``/pfs/out``) with the
  ``egress.sqlDatabase`` block of ``specs/local/churn_predict.json`` runs; the egress hook is timed and
  the worker's process tree is sampled for peak RSS while it runs.

Both check the table holds exactly ``--rows`` rows afterwards.

    .venv/bin/python bench/bench_egress.py [--rows 1000000] [--files 8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import benchlib

ME = Path(__file__)
TABLE = "CHURN_SCORES"


def _egress_block() -> dict[str, Any]:
    spec = json.loads((benchlib.PROJECT_DIR / "specs" / "local" / "churn_predict.json").read_text())
    return dict(spec["egress"]["sqlDatabase"])


def prepare(params: benchlib.Params) -> dict[str, Any]:
    """Worker: write the score files and initialise the warehouse."""
    import numpy as np
    import pandas as pd

    from churn.warehouse import connect
    from churn.warehouse.schema import init

    rows, files = int(params["rows"]), int(params["files"])
    out = Path(params["data_dir"]) / TABLE
    out.mkdir(parents=True)
    rng = np.random.default_rng(5)
    cols = _egress_block()["fileFormat"]["columns"]
    for i, idx in enumerate(np.array_split(np.arange(rows), files)):
        proba = rng.random(len(idx))
        frame = pd.DataFrame(
            {
                "MSNO": [f"{m:040x}" for m in idx],
                "CHURN_PROBABILITY": np.round(proba, 6),
                "CHURN_PREDICTION": (proba >= 0.5).astype(int),
                "MODEL_COMMIT": "0" * 32,
                "GLOBAL_ID": "f" * 32,
                "SCORED_AT": "2017-04-01T00:00:00Z",
            }
        )[cols]
        frame.to_csv(out / f"shard-{i:02d}.csv", index=False, lineterminator="\n")
    with connect(lock_timeout=60) as conn:
        init(conn)
    size = sum(p.stat().st_size for p in out.iterdir())
    return {"rows": rows, "files": files, "bytes": size}


def _count() -> int:
    from churn.warehouse import connect

    with connect(lock_timeout=60) as conn:
        cur = conn.cursor()
        cur.execute(f"SELECT COUNT(*) FROM {TABLE}")
        return int(cur.fetchone()[0])


def direct(params: benchlib.Params) -> dict[str, Any]:
    """Worker: ``load_tables`` on the files, no pachlet."""
    t0 = time.perf_counter()
    from pachlet.egress import PASSWORD_ENV, files_from_dir, load_tables, resolve_driver

    spec = _egress_block()
    imports = time.perf_counter() - t0
    with benchlib.TreeRSSSampler(os.getpid(), 0.1) as s:
        t = time.perf_counter()
        written = load_tables(
            resolve_driver(spec["url"]),
            spec,
            files_from_dir(params["data_dir"]),
            os.environ.get(PASSWORD_ENV),
        )
        secs = time.perf_counter() - t
    return {
        "imports_s": round(imports, 3),
        "egress_s": round(secs, 3),
        "rows": sum(written.values()),
        "table_rows": _count(),
        "egress_peak_rss_mib": round(s.peak / benchlib.MIB, 1),
    }


def through_pachlet(params: benchlib.Params) -> dict[str, Any]:
    """Worker: put the files, run a copying pipeline with SQL egress; time the egress hook."""
    t0 = time.perf_counter()
    import pachlet.egress
    from pachlet.api import Pachlet

    real = pachlet.egress.run_egress
    timing: dict[str, Any] = {}

    def timed(p: Any, pipeline_info: Any, job_info: Any, commit: Any) -> dict[str, int]:
        with benchlib.TreeRSSSampler(os.getpid(), 0.1) as s:
            t = time.perf_counter()
            rows = real(p, pipeline_info, job_info, commit)
            timing["egress_s"] = round(time.perf_counter() - t, 3)
        timing["egress_peak_rss_mib"] = round(s.peak / benchlib.MIB, 1)
        timing["rows"] = sum(rows.values())
        return rows

    pachlet.egress.run_egress = timed
    imports = time.perf_counter() - t0
    with Pachlet.open(params["root"]) as p:
        p.create_secret(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "snowflakesecret"},
                "stringData": {"PACHYDERM_SQL_PASSWORD": "unused-by-the-embedded-warehouse"},
            }
        )
        p.create_repo("scores")
        t = time.perf_counter()
        p.put_files("scores", "master", "/", params["data_dir"])
        put_s = time.perf_counter() - t
        p.create_pipeline(
            {
                "pipeline": {"name": "scores_out"},
                "input": {"pfs": {"repo": "scores", "glob": "/"}},
                "transform": {"cmd": ["sh", "-c", "cp -r /pfs/scores/. /pfs/out/"]},
                "egress": {"sqlDatabase": _egress_block()},
            }
        )
        t = time.perf_counter()
        job = p.run_until_idle()[-1]
        job_s = time.perf_counter() - t
        assert job.state == "JOB_SUCCESS", job.reason
    return {
        "imports_s": round(imports, 3),
        "put_s": round(put_s, 3),
        "job_s": round(job_s, 3),
        **timing,
        "table_rows": _count(),
    }


TASKS: dict[str, benchlib.WorkerFn] = {"prepare": prepare, "direct": direct, "pachlet": through_pachlet}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Prepare, run the direct load and the pachlet egress; print the table; write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--results-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    doc: dict[str, Any] = {"bench": "egress", "machine": benchlib.machine()}
    with benchlib.temp_dir("bench-egress-") as tmp:
        env = benchlib.bench_env(tmp)
        data = tmp / "data"
        prep = benchlib.run_worker(
            ME, "prepare", {"rows": args.rows, "files": args.files, "data_dir": str(data)}, env
        )
        doc["data"] = prep.result
        runs = {}
        for task in ("direct", "pachlet"):
            r = benchlib.run_worker(ME, task, {"data_dir": str(data), "root": str(tmp / "pachlet")}, env)
            runs[task] = {
                **r.result,
                "process_wall_s": round(r.wall_s, 3),
                "peak_rss_mib": round(r.peak_rss_mib, 1),
            }
            if r.result["table_rows"] != args.rows:
                raise RuntimeError(
                    f"{task}: {TABLE} holds {r.result['table_rows']} rows, expected {args.rows}"
                )
    doc.update(runs)
    d, p = runs["direct"], runs["pachlet"]
    rows = [
        ["egress s", d["egress_s"], p["egress_s"], benchlib.ratio(p["egress_s"], d["egress_s"])],
        [
            "rows/s",
            args.rows / d["egress_s"],
            args.rows / p["egress_s"],
            benchlib.ratio(d["egress_s"], p["egress_s"]),
        ],
        [
            "peak RSS MiB (egress window)",
            d["egress_peak_rss_mib"],
            p["egress_peak_rss_mib"],
            benchlib.ratio(p["egress_peak_rss_mib"], d["egress_peak_rss_mib"]),
        ],
        ["peak RSS MiB (whole worker tree)", d["peak_rss_mib"], p["peak_rss_mib"], None],
        ["job s (datum + egress)", None, p["job_s"], None],
        ["put file s", None, p["put_s"], None],
    ]
    print(
        benchlib.table(
            ["measure", "direct load_tables", "through pachlet", "ratio"],
            rows,
            f"SQL egress of {args.rows:,} CHURN_SCORES rows ({args.files} CSV files, "
            f"{prep.result['bytes'] / benchlib.MIB:,.0f} MiB) into the embedded warehouse",
        )
    )
    path = benchlib.write_results("egress", doc, args.results_dir)
    print(f"results: {path}")
    return doc


if __name__ == "__main__" and not benchlib.worker_main(TASKS, sys.argv[1:]):
    main()
