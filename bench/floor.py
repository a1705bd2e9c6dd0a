"""The floor: the churn DAG's computation as one plain process, the lower bound pachlet is compared with.

Same work as the DAG (query, clean, features, train, predict, write scores into CHURN_SCORES), done
by the very library functions the stage entry points call (``churn.stages.*``, ``churn.ml``), in one
process: no versioning, no subprocesses, no datums, one shard (``--shards`` to change). The SQL, the
warehouse URL, the seed and the egress block are read from the rendered specs, so the floor runs
exactly what the pipelines run. Scores are loaded with pachlet's ``load_tables`` and the ``snowflake``
driver, i.e. the same way the egress writes them.

Also holds the ``query`` task: the two ingest queries alone (execute + fetch every Arrow batch, no
files), the reference of the no-op rerun target.

    .venv/bin/python bench/floor.py --members 20000          # seeds a temporary warehouse, runs once
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import benchlib

TICK = "2017-04-01T00:00:00Z"


class Stopwatch:
    """Wall and CPU seconds per named step (each step runs from the previous ``lap`` to this one)."""

    def __init__(self) -> None:
        self.start = self.t = time.perf_counter()
        self.start_cpu = self.cpu = benchlib.cpu_seconds()
        self.wall: dict[str, float] = {}
        self.cpu_s: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """Close step ``name``."""
        now, cpu = time.perf_counter(), benchlib.cpu_seconds()
        self.wall[name] = round(now - self.t, 3)
        self.cpu_s[name] = round(cpu - self.cpu, 3)
        self.t, self.cpu = now, cpu

    def total(self) -> None:
        """Record ``total`` since the stopwatch was made."""
        self.wall["total"] = round(time.perf_counter() - self.start, 3)
        self.cpu_s["total"] = round(benchlib.cpu_seconds() - self.start_cpu, 3)


def _specs_by_name(spec_dir: Path) -> dict[str, dict[str, Any]]:
    return {s["pipeline"]["name"]: s for s in benchlib.load_specs(spec_dir)}


def run_floor(params: benchlib.Params) -> dict[str, Any]:
    """The whole computation in this process; per-stage seconds and rows. ``params``: ``spec_dir``,
    ``work_dir``, optional ``shards`` (default 1)."""
    sw = Stopwatch()
    from churn.stages.clean import clean_file
    from churn.stages.common import csv_inputs
    from churn.stages.features import build_features, read_clean, write_features
    from churn.stages.ingest import ingest
    from churn.stages.predict import predict
    from churn.stages.queries import write_query
    from churn.stages.train import train
    from pachlet.egress import PASSWORD_ENV, files_from_dir, load_tables, resolve_driver

    rows: dict[str, int] = {}
    quality: dict[str, Any] = {}
    sw.lap("imports")
    specs = _specs_by_name(Path(params["spec_dir"]))
    work = Path(params["work_dir"])
    shards = int(params.get("shards", 1))
    ticks = work / "in"
    ticks.mkdir(parents=True, exist_ok=True)
    (ticks / TICK).write_text("")
    os.environ.setdefault("model_COMMIT", "floor")
    os.environ.setdefault("PACH_JOB_ID", "floor")
    sw.lap("setup")
    for side in ("train", "score"):
        qspec = specs[f"churn_{side}_queries"]
        dspec = specs[f"churn_{side}_data"]
        base = work / side
        write_query(ticks, benchlib.spec_arg(qspec, "--query"), base / "queries")
        shard_rows = ingest(base / "queries", benchlib.spec_arg(dspec, "--url"), shards, True, base / "data")
        rows[f"{side}_query"] = sum(shard_rows)
        sw.lap(f"{side}_query")
        clean_rows = 0
        for path in csv_inputs(base / "data"):
            rep = clean_file(path, base / "clean")
            clean_rows += int(rep["rows_in"])  # type: ignore[call-overload]
        rows[f"{side}_clean"] = clean_rows
        sw.lap(f"{side}_clean")
        feat_rows = 0
        for path in csv_inputs(base / "clean"):
            frame = build_features(read_clean(path))
            write_features(frame, base / "features" / path.stem)
            feat_rows += len(frame)
        rows[f"{side}_features"] = feat_rows
        sw.lap(f"{side}_features")
        if side == "train":
            seed = int(benchlib.spec_arg(specs["churn_model"], "--seed"))
            doc = train(base / "features", work / "model", seed)
            rows["model"] = int(doc["rows"]["total"])
            quality = {"auc": round(float(doc["model"]["auc"]), 4), "rows": doc["rows"]}
            sw.lap("model")
    written = predict(work / "score" / "features", work / "model", work / "predict")
    rows["predict"] = sum(written.values())
    sw.lap("predict")
    egress = specs["churn_predict"]["egress"]["sqlDatabase"]
    loaded = load_tables(
        resolve_driver(egress["url"]),
        egress,
        files_from_dir(work / "predict"),
        os.environ.get(PASSWORD_ENV),
    )
    rows["egress"] = sum(loaded.values())
    sw.lap("egress")
    sw.total()
    return {"seconds": sw.wall, "cpu_s": sw.cpu_s, "rows": rows, "shards": shards, "model": quality}


def run_queries(params: benchlib.Params) -> dict[str, Any]:
    """Both ingest queries alone: connect, execute, fetch every Arrow batch (nothing written)."""
    sw = Stopwatch()
    from churn.stages.ingest import sql_text
    from churn.warehouse import connect, iter_arrow_batches

    specs = _specs_by_name(Path(params["spec_dir"]))
    rows: dict[str, int] = {}
    sw.lap("imports")
    tmp = Path(params["work_dir"]) / "q"
    tmp.mkdir(parents=True, exist_ok=True)
    url = benchlib.spec_arg(specs["churn_train_data"], "--url")
    with connect(url) as conn:
        sw.lap("connect")
        for side in ("train", "score"):
            qfile = tmp / side
            qfile.write_text(f"-- {TICK}\n" + benchlib.spec_arg(specs[f"churn_{side}_queries"], "--query"))
            cur = conn.cursor()
            cur.execute(sql_text(qfile))
            rows[side] = sum(b.num_rows for b in iter_arrow_batches(cur, batch_rows=50_000))
            cur.close()
            sw.lap(side)
    sw.total()
    sw.wall["queries"] = round(sw.wall["train"] + sw.wall["score"], 3)
    return {"seconds": sw.wall, "cpu_s": sw.cpu_s, "rows": rows}


def seed(params: benchlib.Params) -> dict[str, Any]:
    """Seed the embedded warehouse of this process's environment (``members``, ``seed``)."""
    from churn.warehouse import connect
    from churn.warehouse.generate import seed_warehouse

    t = time.perf_counter()
    with connect(lock_timeout=5) as conn:
        stats = seed_warehouse(conn, int(params["members"]), int(params.get("seed", 42)))
    return {"rows": stats.rows, "seconds": round(time.perf_counter() - t, 2), "churn_rate": stats.churn_rate}


TASKS: dict[str, benchlib.WorkerFn] = {"floor": run_floor, "query": run_queries, "seed": seed}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Seed a temporary warehouse, run the floor once, print its stages."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--shards", type=int, default=1)
    args = ap.parse_args(argv)
    me = Path(__file__)
    with benchlib.temp_dir("bench-floor-") as tmp:
        env = benchlib.bench_env(tmp)
        benchlib.run_worker(me, "seed", {"members": args.members, "seed": args.seed}, env)
        specs = benchlib.render_specs(tmp / "specs")
        run = benchlib.run_worker(
            me, "floor", {"spec_dir": str(specs), "work_dir": str(tmp / "floor"), "shards": args.shards}, env
        )
    secs, rows = run.result["seconds"], run.result["rows"]
    body = [[k, secs[k], rows.get(k), (rows[k] / secs[k]) if k in rows and secs[k] else None] for k in secs]
    print(benchlib.table(["stage", "s", "rows", "rows/s"], body, f"floor, {args.members:,} members"))
    print(f"wall {run.wall_s:.1f}s, peak RSS (tree) {run.peak_rss_mib:,.0f} MiB")
    return {"members": args.members, "wall_s": run.wall_s, "peak_rss_mib": run.peak_rss_mib, **run.result}


if __name__ == "__main__" and not benchlib.worker_main(TASKS, sys.argv[1:]):
    main()
