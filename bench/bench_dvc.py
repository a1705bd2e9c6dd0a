"""The churn DAG on pachlet against DVC, side by side in one invocation (issue 18, item 5).

DVC is what a user of data-versioned pipelines would pick instead. The bench installs it into its own
venv (``.venv-dvc``, ``pip install dvc``; never a project dependency) and generates a ``dvc.yaml`` whose
stages run the same console scripts with the same arguments as the rendered local specs, over the
same warehouse: the two queries stages (tick directory -> query file), the two ingests (8 shards),
then one DVC stage per shard for clean, features and predict (so DVC, too, reruns only the shards
whose input changed), the model, and the egress (``churn-egress`` over the scores, as the predict
spec's ``egress`` block says). A cron tick is a new file in ``tick/`` for DVC, ``run_cron`` for
pachlet.

Phases, each run by pachlet and then by DVC before the next warehouse change:

1. ``full``: everything from scratch;
2. ``noop``: tick again, warehouse unchanged;
3. ``scattered``: tick after ``churn.warehouse.advance`` added a day for ``--changed`` SCORE members
   spread over all shards;
4. ``one_shard``: the same for ``--changed`` members all in one shard of eight.

Per phase and tool: wall and CPU seconds of the whole process tree (pachlet: a fresh worker process
that ticks both crons and runs until idle, jobs side by side, on the ``host`` runtime as DVC runs its
stages; DVC: ``dvc repro``), peak RSS, and whether the scores (predict's files, without their per-run
columns) are identical between the tools (read after each tool's timed run, by both).

    .venv/bin/python bench/bench_dvc.py [--members 100000] [--changed 200]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import resource
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchlib

ME = Path(__file__)
FLOOR = ME.parent / "floor.py"
DVC_VENV = benchlib.PROJECT_DIR / ".venv-dvc"
SHARDS = 8
PHASES = ("full", "noop", "scattered", "one_shard")
PER_RUN_COLUMNS = ("MODEL_COMMIT", "GLOBAL_ID", "SCORED_AT")
ONE_SHARD = 3


# --------------------------------------------------------------------------- DVC


def ensure_dvc() -> Path:
    """The ``dvc`` executable of the bench's own venv, installing DVC there on first use."""
    dvc = DVC_VENV / "bin" / "dvc"
    if not dvc.exists():
        print(f"installing DVC into {DVC_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(DVC_VENV)], check=True)
        subprocess.run([str(DVC_VENV / "bin" / "pip"), "install", "-q", "dvc"], check=True)
    return dvc


def _cmd(spec: dict[str, Any], paths: dict[str, str], files: dict[str, str] | None = None) -> str:
    """The spec's ``transform.cmd`` as one shell line, ``/pfs/<name>`` replaced by workspace paths, and
    the value of each option in ``files`` read from that file (DVC runs each line of a cmd apart)."""
    args = []
    take_file = None
    for a in spec["transform"]["cmd"]:
        a = str(a)
        if take_file is not None:
            args.append(f'"$(cat {take_file})"')
            take_file = None
            continue
        if files and a in files:
            take_file = files[a]
        elif a.startswith("/pfs/"):
            name, _, rest = a[len("/pfs/") :].partition("/")
            a = paths[name] + ("/" + rest if rest else "")
        args.append(shlex.quote(a))
    return " ".join(args)


def dvc_yaml(specs: dict[str, dict[str, Any]], shards: list[str], ws: Path) -> dict[str, Any]:
    """The DVC pipeline of the churn DAG (train and score branches, per-shard stages); the two queries'
    SQL goes to ``ws/sql/<side>.sql``."""
    stages: dict[str, Any] = {}
    (ws / "sql").mkdir(exist_ok=True)
    for side in ("train", "score"):
        qspec = specs[f"churn_{side}_queries"]
        (ws / "sql" / f"{side}.sql").write_text(benchlib.spec_arg(qspec, "--query"))
        stages[f"{side}_queries"] = {
            "cmd": _cmd(qspec, {"in": "tick", "out": f"{side}/queries"}, {"--query": f"sql/{side}.sql"}),
            "deps": ["tick", f"sql/{side}.sql"],
            "outs": [f"{side}/queries"],
        }
        stages[f"{side}_data"] = {
            "cmd": _cmd(specs[f"churn_{side}_data"], {"queries": f"{side}/queries", "out": f"{side}/data"}),
            "deps": [f"{side}/queries"],
            "outs": [f"{side}/data"],
        }
        for s in shards:
            one = f"{side}/in/{s}"  # the shard alone, as the clean datum of glob /* sees it
            link = f"rm -rf {one} && mkdir -p {one} && ln -s ../../data/{s}.csv {one}/{s}.csv && "
            stages[f"{side}_clean_{s}"] = {
                "cmd": link + _cmd(specs[f"churn_{side}_clean"], {"data": one, "out": f"{side}/clean/{s}"}),
                "deps": [f"{side}/data/{s}.csv"],
                "outs": [f"{side}/clean/{s}"],
            }
            stages[f"{side}_features_{s}"] = {
                "cmd": _cmd(
                    specs[f"churn_{side}_features"], {"clean": f"{side}/clean/{s}", "out": f"{side}/features"}
                ),
                "deps": [f"{side}/clean/{s}"],
                "outs": [f"{side}/features/{s}"],
            }
    stages["model"] = {
        "cmd": _cmd(specs["churn_model"], {"features": "train/features", "out": "model"}),
        "deps": [f"train/features/{s}" for s in shards],
        "outs": ["model"],
    }
    for s in shards:
        stages[f"predict_{s}"] = {
            "cmd": _cmd(
                specs["churn_predict"],
                {"features": f"score/features/{s}", "model": "model", "out": f"predict/{s}"},
            ),
            "deps": [f"score/features/{s}", "model"],
            "outs": [f"predict/{s}"],
        }
    egress = specs["churn_predict"]["egress"]["sqlDatabase"]
    fmt = egress.get("fileFormat") or {}
    links = " && ".join(
        f"ln -s ../../predict/{s}/CHURN_SCORES/{s}.csv egress/CHURN_SCORES/{s}.csv" for s in shards
    )
    stages["egress"] = {
        "cmd": (
            f"rm -rf egress && mkdir -p egress/CHURN_SCORES && {links} && churn-egress --input egress "
            f"--url {shlex.quote(egress['url'])} --format {fmt.get('type', 'CSV')} "
            f"--columns {shlex.quote(','.join(fmt.get('columns') or []))}"
        ),
        "deps": [f"predict/{s}" for s in shards],
    }
    return {"stages": stages}


def _tick(ws: Path) -> None:
    tick = ws / "tick"
    tick.mkdir(exist_ok=True)
    for old in tick.iterdir():
        old.unlink()
    (tick / datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")).write_text("")


def _dvc_phase(dvc: Path, ws: Path, env: dict[str, str]) -> dict[str, Any]:
    """Tick, then ``dvc repro``: wall, CPU (the dvc process tree) and peak RSS."""
    _tick(ws)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = kids.ru_utime + kids.ru_stime
    t = time.perf_counter()
    with open(ws / "repro.log", "ab") as log:
        proc = subprocess.Popen([str(dvc), "repro"], cwd=ws, env=env, stdout=log, stderr=subprocess.STDOUT)
        with benchlib.TreeRSSSampler(proc.pid) as sampler:
            code = proc.wait()
    wall = time.perf_counter() - t
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        tail = "\n".join((ws / "repro.log").read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"dvc repro exited {code}:\n{tail}")
    ran = (ws / "repro.log").read_text(errors="replace").split("\n")
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(kids.ru_utime + kids.ru_stime - cpu0, 3),
        "peak_rss_mib": round(sampler.peak / benchlib.MIB, 1),
        "stages_run": sum(1 for line in ran if line.startswith("Running stage")),
    }


def _dvc_scores(ws: Path) -> dict[str, str]:
    return {
        f"/CHURN_SCORES/{p.name}": _digest(p.read_bytes())
        for p in sorted((ws / "predict").glob("*/CHURN_SCORES/*.csv"))
    }


def _digest(data: bytes) -> str:
    """sha256 of a scores CSV without its per-run columns."""
    rows = list(csv.reader(io.StringIO(data.decode())))
    keep = [i for i, c in enumerate(rows[0]) if c not in PER_RUN_COLUMNS] if rows else []
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([[r[i] for i in keep] for r in rows])
    return hashlib.sha256(buf.getvalue().encode()).hexdigest()


# --------------------------------------------------------------------------- pachlet (worker side)


def pachlet_setup(params: benchlib.Params) -> dict[str, Any]:
    """Worker: a fresh root with the secret and the pipelines of ``spec_dir``."""
    from bench_dag import _secret
    from churn.demo import local_runtime
    from pachlet.api import Pachlet

    with Pachlet.open(params["root"], timeout=10) as p:
        local_runtime(p)  # sandboxed datums reach the embedded warehouse, as `make demo` sets up
        p.create_secret(_secret())
        for spec in benchlib.load_specs(Path(params["spec_dir"])):
            p.create_pipeline(spec)
        p.run_until_idle()
    return {}


def pachlet_phase(params: benchlib.Params) -> dict[str, Any]:
    """Worker: tick both crons, run until idle (jobs side by side); jobs and the scores' digests."""
    from pachlet.api import Pachlet

    t, cpu0 = time.perf_counter(), benchlib.cpu_seconds()
    with Pachlet.open(params["root"], timeout=10) as p:
        for name in ("churn_train_queries", "churn_score_queries"):
            p.run_cron(name)
        jobs = p.run_until_idle()
        bad = [(j.pipeline, j.state, j.reason) for j in jobs if j.state != "JOB_SUCCESS"]
        if bad:
            raise RuntimeError(f"jobs did not succeed: {bad}")
        rows = [
            {
                "pipeline": j.pipeline,
                "processed": j.data_processed,
                "skipped": j.data_skipped,
                "wall_s": (j.finished - j.started).total_seconds() if j.started and j.finished else None,
            }
            for j in jobs
        ]
    return {
        "inner_wall_s": round(time.perf_counter() - t, 3),
        "inner_cpu_s": round(benchlib.cpu_seconds() - cpu0, 3),
        "jobs": rows,
    }


def pachlet_scores(params: benchlib.Params) -> dict[str, Any]:
    """Worker (not timed, as DVC's scores are read outside its timing): the scores' digests."""
    from pachlet.api import Pachlet

    with Pachlet.open(params["root"], timeout=10, read_only=True) as p:
        return {
            "scores": {
                f.path: _digest(p.get_file("churn_predict", "master", f.path))
                for f in p.walk_files("churn_predict", "master")
                if f.path.endswith(".csv")
            }
        }


def advance_members(params: benchlib.Params) -> dict[str, Any]:
    """Worker: a day of data for ``count`` SCORE members, spread over all shards or all in one."""
    from churn.stages.sharding import shard_of
    from churn.warehouse import connect
    from churn.warehouse.advance import advance

    count, shard = int(params["count"]), params.get("shard")
    with connect(lock_timeout=60) as conn:
        cur = conn.cursor()
        cur.execute("SELECT DISTINCT MSNO FROM SCORE ORDER BY MSNO")
        pool = [r[0] for r in cur.fetchall()]
        cur.close()
        if shard is None:
            others = [m for m in pool if shard_of(m, SHARDS) != ONE_SHARD]  # kept for the one-shard phase
            step = max(1, len(others) // count)
            chosen = others[::step][:count]
        else:
            chosen = [m for m in pool if shard_of(m, SHARDS) == int(shard)][:count]
        advance(conn, chosen, seed=11)
    return {"members": len(chosen), "shards_touched": len({shard_of(m, SHARDS) for m in chosen})}


TASKS: dict[str, benchlib.WorkerFn] = {
    "setup": pachlet_setup,
    "phase": pachlet_phase,
    "scores": pachlet_scores,
    "advance": advance_members,
}


# --------------------------------------------------------------------------- parent side


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run both tools through the four phases; print the side-by-side table; write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--changed", type=int, default=200, help="members advanced in each incremental phase")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (prints its path)")
    ap.add_argument("--results-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    dvc = ensure_dvc()
    doc: dict[str, Any] = {"bench": "dvc", "members": args.members, "machine": benchlib.machine()}
    doc["dvc_version"] = subprocess.run(
        [str(dvc), "--version"], capture_output=True, text=True
    ).stdout.strip()
    with benchlib.temp_dir(f"bench-dvc-{args.members}-", keep=args.keep) as tmp:
        if args.keep:
            print(f"work directory: {tmp}")
        # host runtime: DVC runs the stages on the host, and a sandboxed datum's CPU never reaches this
        # process's rusage (bubblewrap does not wait for its pid-1 child); the sandbox adds ~11 ms a datum
        env = benchlib.bench_env(tmp, DVC_NO_ANALYTICS="1", PACHLET_RUNTIME="host")
        print(f"seeding {args.members:,} members ...", flush=True)
        benchlib.run_worker(FLOOR, "seed", {"members": args.members, "seed": args.seed}, env)
        spec_dir = benchlib.render_specs(tmp / "specs")
        specs = {s["pipeline"]["name"]: s for s in benchlib.load_specs(spec_dir)}
        ws = tmp / "dvc"
        ws.mkdir()
        subprocess.run([str(dvc), "init", "--no-scm", "-q"], cwd=ws, env=env, check=True)
        subprocess.run([str(dvc), "config", "core.analytics", "false"], cwd=ws, env=env, check=True)
        shards = [f"shard-{i:02d}" for i in range(SHARDS)]
        (ws / "dvc.yaml").write_text(json.dumps(dvc_yaml(specs, shards, ws), indent=1))  # YAML 1.2 holds JSON
        root = str(tmp / "pachlet")
        benchlib.run_worker(ME, "setup", {"root": root, "spec_dir": str(spec_dir)}, env)
        phases: dict[str, Any] = {}
        for phase in PHASES:
            if phase in ("scattered", "one_shard"):
                adv = {"count": args.changed, "shard": ONE_SHARD if phase == "one_shard" else None}
                moved = benchlib.run_worker(ME, "advance", adv, env).result
            else:
                moved = None
            print(f"{phase}: pachlet ...", flush=True)
            run = benchlib.run_worker(ME, "phase", {"root": root}, env)
            print(f"{phase}: dvc ...", flush=True)
            d = _dvc_phase(dvc, ws, env)
            pach = {
                "wall_s": round(run.wall_s, 3),
                "cpu_s": run.cpu_s,
                "peak_rss_mib": round(run.peak_rss_mib, 1),
                "inner_wall_s": run.result["inner_wall_s"],
                "processed": sum(j["processed"] for j in run.result["jobs"]),
                "jobs": run.result["jobs"],
            }
            scores = benchlib.run_worker(ME, "scores", {"root": root}, env).result["scores"]
            same = scores == _dvc_scores(ws) and bool(scores)
            phases[phase] = {"advanced": moved, "pachlet": pach, "dvc": d, "scores_identical": same}
            print(
                f"  pachlet {pach['wall_s']:.1f}s / {pach['cpu_s']:.1f} cpu s, dvc {d['wall_s']:.1f}s / "
                f"{d['cpu_s']:.1f} cpu s, scores identical: {same}",
                flush=True,
            )
    doc["phases"] = phases
    print()
    print(table(phases, args.members))
    path = benchlib.write_results(f"dvc-{args.members}", doc, args.results_dir)
    print(f"results: {path}")
    return doc


TARGETS = {"full": (0.8, 1.2), "noop": (0.8, None), "scattered": (1.0, None), "one_shard": (0.35, None)}
"""Issue 18's limits per phase: (wall ratio, CPU ratio) of pachlet over DVC."""


def table(phases: dict[str, Any], members: int) -> str:
    """The side-by-side table: wall, CPU, ratios against the targets, scores identical."""
    rows = []
    for name, ph in phases.items():
        p, d = ph["pachlet"], ph["dvc"]
        wr, cr = benchlib.ratio(p["wall_s"], d["wall_s"]), benchlib.ratio(p["cpu_s"], d["cpu_s"])
        wlim, clim = TARGETS[name]
        ok = (wr is not None and wr <= wlim) and (clim is None or (cr is not None and cr <= clim))
        rows.append(
            [
                name,
                p["wall_s"],
                d["wall_s"],
                wr,
                f"<= {wlim}",
                p["cpu_s"],
                d["cpu_s"],
                cr,
                f"<= {clim}" if clim else "-",
                f"{p['processed']} / {d['stages_run']}",
                "yes" if ph["scores_identical"] else "NO",
                benchlib.verdict(ok),
            ]
        )
    headers = [
        "phase",
        "pachlet s",
        "dvc s",
        "wall ratio",
        "target",
        "pachlet cpu s",
        "dvc cpu s",
        "cpu ratio",
        "target",
        "datums / stages run",
        "scores same",
        "",
    ]
    return benchlib.table(headers, rows, f"pachlet vs DVC, {members:,} members, {SHARDS} shards, 2 cores")


if __name__ == "__main__" and not benchlib.worker_main(TASKS, sys.argv[1:]):
    main()
