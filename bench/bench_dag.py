"""The churn DAG on pachlet against the floor, side by side in one invocation: full run, no-op rerun,
incremental rerun (issue 9, items 2-4).

One temporary warehouse is seeded with ``--members`` members, then, each in a fresh worker process
whose process tree is sampled for peak RSS:

1. ``floor``: the same computation in one plain process (``bench/floor.py``);
2. ``query``: the two ingest queries alone (the no-op reference);
3. ``dag`` on the local target's specs (8 shards): full run (tick both crons on a fresh pachlet root,
   run until idle), then a no-op rerun (tick again, nothing changed in the warehouse);
4. ``dag`` on specs rendered with ``shards=16``: full run, then an incremental rerun after
   ``churn.warehouse.advance`` adds a day of data (20170331, SCORE window) for members that all hash
   into one of the 16 shards. This changes the warehouse, so it runs last.

Per stage: wall seconds (pachlet: the jobs' started..finished, the egress timed separately) and
rows/s; total wall; peak RSS of the whole process tree; ratio pachlet/floor; datums processed and
skipped per pipeline. Results go to ``bench/results/dag-<members>-*.json``.

    .venv/bin/python bench/bench_dag.py [--members 100000] [--skip-incremental] [--repeat 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import benchlib

ME = Path(__file__)
FLOOR = ME.parent / "floor.py"
SIDES = ("train", "score")
STAGES = (
    "train_query",
    "train_clean",
    "train_features",
    "model",
    "score_query",
    "score_clean",
    "score_features",
    "predict",
    "egress",
)
STAGE_PIPELINES: dict[str, tuple[str, ...]] = {
    "train_query": ("churn_train_queries", "churn_train_data"),
    "train_clean": ("churn_train_clean",),
    "train_features": ("churn_train_features",),
    "model": ("churn_model",),
    "score_query": ("churn_score_queries", "churn_score_data"),
    "score_clean": ("churn_score_clean",),
    "score_features": ("churn_score_features",),
    "predict": ("churn_predict",),
}
INGEST_PIPELINES = ("churn_train_queries", "churn_train_data", "churn_score_queries", "churn_score_data")


# --------------------------------------------------------------------------- worker side


def _secret() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "snowflakesecret"},
        "stringData": {"PACHYDERM_SQL_PASSWORD": "unused-by-the-embedded-warehouse"},
    }


def _job_row(p: Any, job: Any) -> dict[str, Any]:
    datums = p.list_datums(job.pipeline, job.id)
    wall = (job.finished - job.started).total_seconds() if job.started and job.finished else None
    return {
        "pipeline": job.pipeline,
        "id": job.id,
        "state": job.state,
        "reason": job.reason,
        "wall_s": wall,
        "processed": job.data_processed,
        "skipped": job.data_skipped,
        "failed": job.data_failed,
        "total": job.data_total,
        "datum_s": round(sum(d.duration for d in datums), 3),
        "upload_bytes": job.upload_bytes,
        "download_bytes": job.download_bytes,
    }


def _tick_and_run(p: Any, egress_log: list[dict[str, Any]]) -> dict[str, Any]:
    """Tick every cron pipeline (train first, as ``churn deploy --tick`` does), run until idle."""
    egress_log.clear()
    t = time.perf_counter()
    gids = [p.run_cron(name) for name in ("churn_train_queries", "churn_score_queries")]
    ended = p.run_until_idle()
    wall = time.perf_counter() - t
    jobs = [_job_row(p, j) for j in ended]
    bad = [j for j in jobs if j["state"] != "JOB_SUCCESS"]
    if bad:
        raise RuntimeError(f"jobs did not succeed: {bad}")
    return {"wall_s": round(wall, 3), "gids": gids, "jobs": jobs, "egress": list(egress_log)}


def _advance_one_shard(params: benchlib.Params) -> dict[str, Any]:
    """A day of data for up to ``count`` SCORE members hashing into shard ``shard`` of ``shards``."""
    from churn.stages.sharding import shard_of
    from churn.warehouse import connect
    from churn.warehouse.advance import advance

    shards, shard, count = int(params["shards"]), int(params["shard"]), int(params["count"])
    t = time.perf_counter()
    with connect(lock_timeout=60) as conn:
        cur = conn.cursor()
        cur.execute("SELECT DISTINCT MSNO FROM SCORE ORDER BY MSNO")
        pool = [r[0] for r in cur.fetchall()]
        cur.close()
        chosen = [m for m in pool if shard_of(m, shards) == shard][:count]
        advance(conn, chosen, seed=7)
    return {
        "members": len(chosen),
        "shards": shards,
        "shard": shard,
        "seconds": round(time.perf_counter() - t, 2),
    }


def run_dag(params: benchlib.Params) -> dict[str, Any]:
    """Worker: create the pipelines of ``spec_dir`` on a fresh root ``root``, then run ``phases`` in order
    (``full``, ``noop``, ``incremental``); each phase ticks both crons and runs until idle."""
    t0 = time.perf_counter()
    import pachlet.egress
    from pachlet.api import Pachlet

    egress_log: list[dict[str, Any]] = []
    real = pachlet.egress.run_egress

    def timed_egress(p: Any, pipeline_info: Any, job_info: Any, commit: Any) -> dict[str, int]:
        t = time.perf_counter()
        rows = real(p, pipeline_info, job_info, commit)
        egress_log.append(
            {"job": job_info.id, "rows": sum(rows.values()), "seconds": round(time.perf_counter() - t, 3)}
        )
        return rows

    pachlet.egress.run_egress = timed_egress  # the engine looks the hook up at call time
    out: dict[str, Any] = {"imports_s": round(time.perf_counter() - t0, 3), "phases": {}}
    with Pachlet.open(params["root"], timeout=10) as p:
        t = time.perf_counter()
        p.create_secret(_secret())
        for spec in benchlib.load_specs(Path(params["spec_dir"])):
            p.create_pipeline(spec)
        p.run_until_idle()
        out["create_s"] = round(time.perf_counter() - t, 3)
        for phase in params["phases"]:
            if phase == "incremental":
                out["advance"] = _advance_one_shard(params["advance"])
            out["phases"][phase] = _tick_and_run(p, egress_log)
    return out


TASKS: dict[str, benchlib.WorkerFn] = {"dag": run_dag}


# --------------------------------------------------------------------------- parent side


def stage_seconds(phase: dict[str, Any]) -> dict[str, float]:
    """Seconds per floor stage name from a pachlet phase (jobs summed per stage; egress split out)."""
    by_pipe: dict[str, float] = {}
    for j in phase["jobs"]:
        by_pipe[j["pipeline"]] = by_pipe.get(j["pipeline"], 0.0) + (j["wall_s"] or 0.0)
    out = {s: round(sum(by_pipe.get(n, 0.0) for n in pipes), 3) for s, pipes in STAGE_PIPELINES.items()}
    egress = sum(e["seconds"] for e in phase["egress"])
    out["predict"] = round(out["predict"] - egress, 3)
    out["egress"] = round(egress, 3)
    return out


def datum_counts(phase: dict[str, Any]) -> dict[str, dict[str, int]]:
    """processed / skipped / total datums per pipeline (summed over the phase's global IDs)."""
    out: dict[str, dict[str, int]] = {}
    for j in phase["jobs"]:
        c = out.setdefault(j["pipeline"], {"jobs": 0, "processed": 0, "skipped": 0, "total": 0})
        c["jobs"] += 1
        for k in ("processed", "skipped", "total"):
            c[k] += int(j[k])
    return out


def _stage_table(floor: benchlib.WorkerRun, dag: benchlib.WorkerRun, title: str) -> tuple[str, list]:
    fsec, frows = floor.result["seconds"], floor.result["rows"]
    psec = stage_seconds(dag.result["phases"]["full"])
    rows = []
    for s in STAGES:
        n = frows.get(s)
        rows.append(
            [
                s,
                n,
                fsec.get(s),
                psec.get(s),
                benchlib.ratio(psec.get(s), fsec.get(s)),
                n / fsec[s] if n and fsec.get(s) else None,
                n / psec[s] if n and psec.get(s) else None,
            ]
        )
    full_wall = dag.result["phases"]["full"]["wall_s"]
    rows.append(
        ["total (run)", None, fsec["total"], full_wall, benchlib.ratio(full_wall, fsec["total"]), None, None]
    )
    rows.append(
        [
            "process wall",
            None,
            floor.wall_s,
            dag.wall_s,
            benchlib.ratio(dag.wall_s, floor.wall_s),
            None,
            None,
        ]
    )
    rows.append(
        [
            "peak RSS MiB",
            None,
            floor.peak_rss_mib,
            dag.peak_rss_mib,
            benchlib.ratio(dag.peak_rss_mib, floor.peak_rss_mib),
            None,
            None,
        ]
    )
    headers = ["stage", "rows", "floor s", "pachlet s", "ratio", "floor rows/s", "pachlet rows/s"]
    return benchlib.table(headers, rows, title), rows


def _datum_table(phase: dict[str, Any], title: str) -> str:
    counts = datum_counts(phase)
    walls: dict[str, float] = {}
    for j in phase["jobs"]:
        walls[j["pipeline"]] = walls.get(j["pipeline"], 0.0) + (j["wall_s"] or 0.0)
    rows = [
        [name, c["jobs"], c["processed"], c["skipped"], c["total"], round(walls[name], 3)]
        for name, c in counts.items()
    ]
    egress = sum(e["seconds"] for e in phase["egress"])
    rows.append(["(egress, in churn_predict)", len(phase["egress"]), None, None, None, round(egress, 3)])
    return benchlib.table(["pipeline", "jobs", "processed", "skipped", "datums", "s"], rows, title)


def _noop_ok(phase: dict[str, Any]) -> bool:
    return all(j["processed"] == 0 for j in phase["jobs"] if j["pipeline"] not in INGEST_PIPELINES) and all(
        j["failed"] == 0 for j in phase["jobs"]
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the DAG benchmark at one scale; print the tables; write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--skip-incremental", action="store_true", help="no 16-shard full + incremental run")
    ap.add_argument("--incremental-members", type=int, default=200, help="members advanced in the shard")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (prints its path)")
    ap.add_argument("--results-dir", type=Path, default=None)
    args = ap.parse_args(argv)

    doc: dict[str, Any] = {
        "bench": "dag",
        "members": args.members,
        "seed": args.seed,
        "machine": benchlib.machine(),
    }
    with benchlib.temp_dir(f"bench-dag-{args.members}-", keep=args.keep) as tmp:
        if args.keep:
            print(f"work directory: {tmp}")
        env = benchlib.bench_env(tmp)
        print(f"seeding {args.members:,} members ...", flush=True)
        seeded = benchlib.run_worker(FLOOR, "seed", {"members": args.members, "seed": args.seed}, env)
        doc["seed_run"] = {"wall_s": seeded.wall_s, "peak_rss_mib": seeded.peak_rss_mib, **seeded.result}
        specs8 = benchlib.render_specs(tmp / "specs-8")

        print("floor ...", flush=True)
        floor = benchlib.run_worker(
            FLOOR, "floor", {"spec_dir": str(specs8), "work_dir": str(tmp / "floor")}, env
        )
        print("ingest queries alone ...", flush=True)
        query = benchlib.run_worker(
            FLOOR, "query", {"spec_dir": str(specs8), "work_dir": str(tmp / "query")}, env
        )
        print("pachlet: full run + no-op rerun (8 shards) ...", flush=True)
        dag = benchlib.run_worker(
            ME,
            "dag",
            {"spec_dir": str(specs8), "root": str(tmp / "pachlet-8"), "phases": ["full", "noop"]},
            env,
        )
        inc: benchlib.WorkerRun | None = None
        if not args.skip_incremental:
            specs16 = benchlib.render_specs(tmp / "specs-16", shards=16)
            print("pachlet: full run + incremental rerun (16 shards) ...", flush=True)
            inc = benchlib.run_worker(
                ME,
                "dag",
                {
                    "spec_dir": str(specs16),
                    "root": str(tmp / "pachlet-16"),
                    "phases": ["full", "incremental"],
                    "advance": {"shards": 16, "shard": 3, "count": args.incremental_members},
                },
                env,
            )

    for name, run in (("floor", floor), ("query", query), ("dag", dag), ("dag16", inc)):
        if run is not None:
            doc[name] = {
                "wall_s": round(run.wall_s, 3),
                "peak_rss_mib": round(run.peak_rss_mib, 1),
                "peak_single_rss_mib": round(run.peak_single_rss_bytes / benchlib.MIB, 1),
                "result": run.result,
            }

    text, _ = _stage_table(floor, dag, f"full run, {args.members:,} members, 8 shards (pachlet vs floor)")
    print()
    print(text)
    full = dag.result["phases"]["full"]
    noop = dag.result["phases"]["noop"]
    print()
    print(_datum_table(noop, "no-op rerun (cron tick, warehouse unchanged)"))
    q = query.result["seconds"]["queries"]
    noop_budget = 1.2 * q + 2.0
    summary: dict[str, Any] = {
        "full_wall_s": full["wall_s"],
        "floor_wall_s": floor.result["seconds"]["total"],
        "full_ratio": benchlib.ratio(full["wall_s"], floor.result["seconds"]["total"]),
        "full_peak_rss_mib": round(dag.peak_rss_mib, 1),
        "floor_peak_rss_mib": round(floor.peak_rss_mib, 1),
        "full_stage_s": stage_seconds(full),
        "floor_stage_s": floor.result["seconds"],
        "rows": floor.result["rows"],
        "query_alone_s": q,
        "noop_wall_s": noop["wall_s"],
        "noop_budget_s": round(noop_budget, 3),
        "noop_all_skipped_after_ingest": _noop_ok(noop),
        "noop_stage_s": stage_seconds(noop),
        "noop_datums": datum_counts(noop),
    }
    print(
        f"no-op: {noop['wall_s']:.2f}s vs 1.2 x ingest queries alone ({q:.2f}s) + 2s = {noop_budget:.2f}s; "
        f"every datum after ingest skipped: {summary['noop_all_skipped_after_ingest']}"
    )
    if inc is not None:
        full16 = inc.result["phases"]["full"]
        incr = inc.result["phases"]["incremental"]
        print()
        print(
            _datum_table(
                incr,
                f"incremental rerun, 16 shards: {inc.result['advance']['members']} members of shard "
                f"{inc.result['advance']['shard']} advanced",
            )
        )
        summary.update(
            {
                "full16_wall_s": full16["wall_s"],
                "incremental_wall_s": incr["wall_s"],
                "incremental_fraction": benchlib.ratio(incr["wall_s"], full16["wall_s"]),
                "incremental_fraction_of_8_shard_full": benchlib.ratio(incr["wall_s"], full["wall_s"]),
                "incremental_stage_s": stage_seconds(incr),
                "incremental_datums": datum_counts(incr),
                "full16_stage_s": stage_seconds(full16),
                "full16_peak_rss_mib": round(inc.peak_rss_mib, 1),
            }
        )
        print(
            f"incremental: {incr['wall_s']:.2f}s = {summary['incremental_fraction']:.1%} of the 16-shard full "
            f"run ({full16['wall_s']:.2f}s)"
        )
    doc["summary"] = summary
    path = benchlib.write_results(f"dag-{args.members}", doc, args.results_dir)
    print(f"results: {path}")
    return doc


if __name__ == "__main__" and not benchlib.worker_main(TASKS, sys.argv[1:]):
    main()
