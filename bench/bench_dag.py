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
import os
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


def _job_row(p: Any, job: Any, cpu: float | None) -> dict[str, Any]:
    datums = p.list_datums(job.pipeline, job.id)
    wall = (job.finished - job.started).total_seconds() if job.started and job.finished else None
    return {
        "pipeline": job.pipeline,
        "id": job.id,
        "state": job.state,
        "reason": job.reason,
        "wall_s": wall,
        "cpu_s": None if cpu is None else round(cpu, 3),
        "processed": job.data_processed,
        "skipped": job.data_skipped,
        "failed": job.data_failed,
        "total": job.data_total,
        "datum_s": round(sum(d.duration for d in datums), 3),
        "upload_bytes": job.upload_bytes,
        "download_bytes": job.download_bytes,
    }


def _tick_and_run(p: Any, egress_log: list[dict[str, Any]], *, one_at_a_time: bool = False) -> dict[str, Any]:
    """Tick every cron pipeline (train first, as ``churn deploy --tick`` does), then run the queued jobs
    side by side (``run_until_idle``; a job's own CPU cannot be told apart then: ``cpu_s`` None), or with
    ``one_at_a_time`` via ``process_pending(limit=1)`` until none is left, each job's CPU seconds (pachlet
    + its datum processes) read around it."""
    egress_log.clear()
    t, cpu0 = time.perf_counter(), benchlib.cpu_seconds()
    gids = [p.run_cron(name) for name in ("churn_train_queries", "churn_score_queries")]
    jobs = []
    if not one_at_a_time:
        jobs = [_job_row(p, j, None) for j in p.run_until_idle()]
    while one_at_a_time:
        c = benchlib.cpu_seconds()
        ended = p.process_pending(limit=1)
        if not ended:
            break
        jobs.append(_job_row(p, ended[0], benchlib.cpu_seconds() - c))
    wall, cpu = time.perf_counter() - t, benchlib.cpu_seconds() - cpu0
    bad = [j for j in jobs if j["state"] != "JOB_SUCCESS"]
    if bad:
        raise RuntimeError(f"jobs did not succeed: {bad}")
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "load_after": benchlib.loadavg(),
        "gids": gids,
        "jobs": jobs,
        "egress": list(egress_log),
    }


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


def _queries_alone(params: benchlib.Params) -> dict[str, Any]:
    """The two ingest queries alone in a fresh process, right next to the no-op rerun (same load)."""
    run = benchlib.run_worker(
        FLOOR, "query", {"spec_dir": params["spec_dir"], "work_dir": params["query_work_dir"]}, os.environ
    )
    return {**run.result, "wall_s": round(run.wall_s, 3), "load_before": run.load_before}


def run_dag(params: benchlib.Params) -> dict[str, Any]:
    """Worker: create the pipelines of ``spec_dir`` on a fresh root ``root``, then run ``phases`` in order
    (``full``, ``noop``, ``incremental``); each phase ticks both crons and runs until idle."""
    t0 = time.perf_counter()
    import pachlet.egress
    from pachlet.api import Pachlet

    egress_log: list[dict[str, Any]] = []
    real = pachlet.egress.run_egress

    def timed_egress(p: Any, pipeline_info: Any, job_info: Any, commit: Any) -> dict[str, int]:
        t, c = time.perf_counter(), benchlib.cpu_seconds()
        rows = real(p, pipeline_info, job_info, commit)
        egress_log.append(
            {
                "job": job_info.id,
                "rows": sum(rows.values()),
                "seconds": round(time.perf_counter() - t, 3),
                "cpu_s": round(benchlib.cpu_seconds() - c, 3),
            }
        )
        return rows

    pachlet.egress.run_egress = timed_egress  # the engine looks the hook up at call time
    out: dict[str, Any] = {"imports_s": round(time.perf_counter() - t0, 3), "phases": {}}
    from churn.demo import local_runtime

    with Pachlet.open(params["root"], timeout=10) as p:
        t = time.perf_counter()
        local_runtime(p)  # sandboxed datums reach the embedded warehouse, as `make demo` sets up
        p.create_secret(_secret())
        for spec in benchlib.load_specs(Path(params["spec_dir"])):
            p.create_pipeline(spec)
        p.run_until_idle()
        out["create_s"] = round(time.perf_counter() - t, 3)
        for phase in params["phases"]:
            if phase == "incremental":
                out["advance"] = _advance_one_shard(params["advance"])
            if phase == "noop" and params.get("query_work_dir"):
                out.setdefault("query_adjacent", []).append(_queries_alone(params))
            load = benchlib.loadavg()
            one = bool(params.get("one_at_a_time"))
            out["phases"][phase] = {"load_before": load, **_tick_and_run(p, egress_log, one_at_a_time=one)}
            if phase == "noop" and params.get("query_work_dir"):
                out["query_adjacent"].append(_queries_alone(params))
    return out


TASKS: dict[str, benchlib.WorkerFn] = {"dag": run_dag}


# --------------------------------------------------------------------------- parent side


def stage_seconds(phase: dict[str, Any], key: str = "wall_s") -> dict[str, float | None]:
    """Wall (``key="wall_s"``) or CPU (``"cpu_s"``) seconds per floor stage name from a pachlet phase:
    jobs summed per stage, the egress (inside the churn_predict job) split out."""
    if any(j[key] is None for j in phase["jobs"]):  # jobs ran side by side: only the phase's total
        return {**{s: None for s in (*STAGE_PIPELINES, "egress")}, "total": round(phase[key], 3)}
    by_pipe: dict[str, float] = {}
    for j in phase["jobs"]:
        by_pipe[j["pipeline"]] = by_pipe.get(j["pipeline"], 0.0) + (j[key] or 0.0)
    out = {s: round(sum(by_pipe.get(n, 0.0) for n in pipes), 3) for s, pipes in STAGE_PIPELINES.items()}
    egress = sum(e["seconds" if key == "wall_s" else "cpu_s"] for e in phase["egress"])
    out["predict"] = round(out["predict"] - egress, 3)
    out["egress"] = round(egress, 3)
    out["total"] = round(phase[key], 3)
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


def _stage_table(floor: benchlib.WorkerRun, dag: benchlib.WorkerRun, title: str) -> str:
    fsec, fcpu, frows = floor.result["seconds"], floor.result["cpu_s"], floor.result["rows"]
    full = dag.result["phases"]["full"]
    psec, pcpu = stage_seconds(full), stage_seconds(full, "cpu_s")
    rows = []
    for s in (*STAGES, "total"):
        n = frows.get(s)
        rows.append(
            [
                s,
                n,
                fsec.get(s),
                psec.get(s),
                benchlib.ratio(psec.get(s), fsec.get(s)),
                fcpu.get(s),
                pcpu.get(s),
                benchlib.ratio(pcpu.get(s), fcpu.get(s)),
                n / fsec[s] if n and fsec.get(s) else None,
                n / psec[s] if n and psec.get(s) else None,
            ]
        )
    rows.append(
        [
            "worker process",
            None,
            floor.wall_s,
            dag.wall_s,
            benchlib.ratio(dag.wall_s, floor.wall_s),
            floor.cpu_s,
            dag.cpu_s,
            benchlib.ratio(dag.cpu_s, floor.cpu_s),
            None,
            None,
        ]
    )
    headers = [
        "stage",
        "rows",
        "floor s",
        "pachlet s",
        "ratio",
        "floor cpu s",
        "pachlet cpu s",
        "cpu ratio",
        "floor rows/s",
        "pachlet rows/s",
    ]
    text = benchlib.table(headers, rows, title)
    rss = (
        f"peak RSS of the process tree: floor {floor.peak_rss_mib:,.0f} MiB, pachlet "
        f"{dag.peak_rss_mib:,.0f} MiB (largest single process {dag.peak_single_rss_bytes / benchlib.MIB:,.0f} "
        f"MiB; the pachlet worker also ran the no-op rerun); load average {floor.load_before:.1f} -> "
        f"{dag.load_after:.1f}"
    )
    return text + "\n" + rss


def _datum_table(phase: dict[str, Any], title: str) -> str:
    counts = datum_counts(phase)
    walls: dict[str, float] = {}
    cpus: dict[str, float] = {}
    for j in phase["jobs"]:
        walls[j["pipeline"]] = walls.get(j["pipeline"], 0.0) + (j["wall_s"] or 0.0)
        cpus[j["pipeline"]] = cpus.get(j["pipeline"], 0.0) + (j["cpu_s"] or 0.0)
    rows: list[list[Any]] = [
        [
            name,
            c["jobs"],
            c["processed"],
            c["skipped"],
            c["total"],
            round(walls[name], 3),
            round(cpus[name], 3),
        ]
        for name, c in counts.items()
    ]
    egress = sum(e["seconds"] for e in phase["egress"])
    egress_cpu = sum(e["cpu_s"] for e in phase["egress"])
    rows.append(
        [
            "(egress, in churn_predict)",
            len(phase["egress"]),
            None,
            None,
            None,
            round(egress, 3),
            round(egress_cpu, 3),
        ]
    )
    rows.append(["phase total", None, None, None, None, phase["wall_s"], phase["cpu_s"]])
    return benchlib.table(["pipeline", "jobs", "processed", "skipped", "datums", "s", "cpu s"], rows, title)


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
        env = benchlib.bench_env(tmp, PACHLET_RUNTIME="host")  # as the floor; CPU of sandboxed datums is lost
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
            {
                "spec_dir": str(specs8),
                "root": str(tmp / "pachlet-8"),
                "phases": ["full", "noop"],
                "query_work_dir": str(tmp / "query-adjacent"),
            },
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
                "cpu_s": run.cpu_s,
                "load_before": run.load_before,
                "load_after": run.load_after,
                "result": run.result,
            }

    text = _stage_table(floor, dag, f"full run, {args.members:,} members, 8 shards (pachlet vs floor)")
    print()
    print(text)
    full = dag.result["phases"]["full"]
    noop = dag.result["phases"]["noop"]
    print()
    print(_datum_table(noop, "no-op rerun (cron tick, warehouse unchanged)"))
    # the reference: both queries alone, measured right before and right after the no-op rerun (same
    # load on the machine); the standalone measurement is kept in the JSON too
    adjacent = [r["seconds"]["queries"] for r in dag.result.get("query_adjacent", [])]
    q = sum(adjacent) / len(adjacent) if adjacent else query.result["seconds"]["queries"]
    noop_budget = 1.2 * q + 2.0
    summary: dict[str, Any] = {
        "full_wall_s": full["wall_s"],
        "floor_wall_s": floor.result["seconds"]["total"],
        "full_ratio": benchlib.ratio(full["wall_s"], floor.result["seconds"]["total"]),
        "full_peak_rss_mib": round(dag.peak_rss_mib, 1),
        "floor_peak_rss_mib": round(floor.peak_rss_mib, 1),
        "full_cpu_s": full["cpu_s"],
        "floor_cpu_s": floor.result["cpu_s"]["total"],
        "full_cpu_ratio": benchlib.ratio(full["cpu_s"], floor.result["cpu_s"]["total"]),
        "full_stage_s": stage_seconds(full),
        "full_stage_cpu_s": stage_seconds(full, "cpu_s"),
        "floor_stage_s": floor.result["seconds"],
        "floor_stage_cpu_s": floor.result["cpu_s"],
        "rows": floor.result["rows"],
        "query_alone_s": round(q, 3),
        "query_alone_adjacent_s": adjacent,
        "query_alone_standalone_s": query.result["seconds"]["queries"],
        "query_alone_cpu_s": round(query.result["cpu_s"]["train"] + query.result["cpu_s"]["score"], 3),
        "noop_wall_s": noop["wall_s"],
        "noop_cpu_s": noop["cpu_s"],
        "noop_budget_s": round(noop_budget, 3),
        "noop_all_skipped_after_ingest": _noop_ok(noop),
        "noop_stage_s": stage_seconds(noop),
        "noop_datums": datum_counts(noop),
    }
    print(
        f"no-op: {noop['wall_s']:.2f}s vs 1.2 x ingest queries alone ({q:.2f}s, mean of "
        f"{', '.join(f'{a:.2f}' for a in adjacent)} measured before/after it; standalone "
        f"{query.result['seconds']['queries']:.2f}s) + 2s = {noop_budget:.2f}s; "
        f"every datum after ingest skipped: {summary['noop_all_skipped_after_ingest']}; full run "
        f"{full['wall_s'] / summary['floor_wall_s']:.2f}x the floor's wall, "
        f"{full['cpu_s'] / summary['floor_cpu_s']:.2f}x its CPU"
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
                "full16_cpu_s": full16["cpu_s"],
                "incremental_cpu_s": incr["cpu_s"],
                "incremental_cpu_fraction": benchlib.ratio(incr["cpu_s"], full16["cpu_s"]),
                "incremental_stage_s": stage_seconds(incr),
                "incremental_datums": datum_counts(incr),
                "full16_stage_s": stage_seconds(full16),
                "full16_peak_rss_mib": round(inc.peak_rss_mib, 1),
            }
        )
        print(
            f"incremental: {incr['wall_s']:.2f}s = {summary['incremental_fraction']:.1%} of the 16-shard full "
            f"run ({full16['wall_s']:.2f}s); CPU {incr['cpu_s']:.1f}s = {summary['incremental_cpu_fraction']:.1%} "
            f"of {full16['cpu_s']:.1f}s; 16-shard full run / 8-shard: "
            f"{full16['wall_s'] / full['wall_s']:.2f}x wall, {full16['cpu_s'] / full['cpu_s']:.2f}x CPU"
        )
    doc["summary"] = summary
    path = benchlib.write_results(f"dag-{args.members}", doc, args.results_dir)
    print(f"results: {path}")
    return doc


if __name__ == "__main__" and not benchlib.worker_main(TASKS, sys.argv[1:]):
    main()
