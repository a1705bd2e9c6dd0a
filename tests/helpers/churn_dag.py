"""The churn stages on fixture data through pachlet in a chosen runtime, for comparing runtimes: ingest
once on the host (a small seeded embedded warehouse), then clean -> features -> train -> predict from
the local specs, and the resulting files' digests."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import REPO_ROOT
from pachlet.api import Pachlet

URL = "snowflake://churn@embedded/KKBOX/PUBLIC?warehouse=LOCAL_WH"
STAGES = (
    "churn_train_clean",
    "churn_train_features",
    "churn_model",
    "churn_score_clean",
    "churn_score_features",
    "churn_predict",
)
PER_RUN_COLUMNS = ("MODEL_COMMIT", "GLOBAL_ID", "SCORED_AT")
"""Columns of the scores that name the run (commit IDs, time), dropped before comparing two roots."""


def ingest(base: Path, members: int = 1500) -> dict[str, Path]:
    """Seed a warehouse under ``base`` and run queries + ingest for both windows on the host; returns
    ``{"churn_train_data": dir, "churn_score_data": dir}`` of CSV shards."""
    env = {**os.environ, "CHURN_HOME": str(base / "churn-home")}
    env.pop("CHURN_WAREHOUSE_URL", None)
    env.pop("CHURN_WAREHOUSE_DIR", None)
    bin_dir = Path(sys.executable).parent

    def run(*args: str) -> None:
        subprocess.run([str(bin_dir / args[0]), *args[1:]], env=env, check=True, capture_output=True)

    run("churn", "warehouse", "seed", "--members", str(members), "--seed", "5", "--no-progress")
    (base / "tick").mkdir(exist_ok=True)
    (base / "tick" / "2026-11-24T04:00:00Z").write_text("")
    out: dict[str, Path] = {}
    for window in ("train", "score"):
        sql = (REPO_ROOT / "pipelines" / "sql" / f"{window}.sql").read_text()
        queries, data = base / f"{window}-queries", base / f"churn_{window}_data"
        run("churn-queries", "--tick-dir", str(base / "tick"), "--query", sql, "--out", str(queries))
        run("churn-ingest", "--queries", str(queries), "--url", URL, "--shards", "4", "--out", str(data))
        out[f"churn_{window}_data"] = data
    return out


def local_spec(name: str, *, batching: bool = True) -> dict:
    """A local spec without its egress (pachlet runs egress itself, in no runtime); without
    ``transform.datumBatching`` unless ``batching``."""
    spec = json.loads((REPO_ROOT / "specs" / "local" / f"{name}.json").read_text())
    spec.pop("egress", None)
    if not batching:
        spec["transform"].pop("datumBatching", None)
    return spec


def comparable(path: str, data: bytes) -> bytes:
    """A file's bytes, with the per-run columns of a scores CSV removed."""
    if not path.startswith("/CHURN_SCORES/"):
        return data
    rows = list(csv.reader(io.StringIO(data.decode())))
    keep = [i for i, c in enumerate(rows[0]) if c not in PER_RUN_COLUMNS] if rows else []
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([[r[i] for i in keep] for r in rows])
    return buf.getvalue().encode()


def run_stages(
    root: Path,
    runtime: str,
    data: dict[str, Path],
    stages: tuple[str, ...] = STAGES,
    *,
    one_job_at_a_time: bool = False,
    batching: bool = True,
) -> dict[str, dict[str, str]]:
    """Run ``stages`` in a fresh root with ``runtime`` (jobs side by side, or with
    ``one_job_at_a_time`` each job alone; the specs' ``datumBatching`` unless not ``batching``);
    ``{repo: {path: sha256}}`` of their outputs."""
    with Pachlet.open(root, runtime=runtime) as p:
        for repo, d in data.items():
            p.create_repo(repo)
            p.put_files(repo, "master", "/", d)
        for name in stages:
            p.create_pipeline(local_spec(name, batching=batching))
        if one_job_at_a_time:
            jobs = []
            while ended := p.process_pending(limit=1):
                jobs.extend(ended)
        else:
            jobs = p.run_until_idle()
        bad = [(j.pipeline, j.state, j.reason) for j in jobs if j.state != "JOB_SUCCESS"]
        assert not bad, f"{runtime}: {bad}\n" + "\n".join(
            Path(d.logs_path).read_text(errors="replace")[-2000:]
            for j in jobs
            if j.state != "JOB_SUCCESS"
            for d in p.list_datums(j.pipeline, j.id)
            if d.logs_path and Path(d.logs_path).exists()
        )
        assert {j.runtime for j in jobs} == {runtime}
        return {
            repo: {
                f.path: hashlib.sha256(comparable(f.path, p.get_file(repo, "master", f.path))).hexdigest()
                for f in p.walk_files(repo, "master")
            }
            for repo in stages
        }
