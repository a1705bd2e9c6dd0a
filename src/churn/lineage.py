"""Lineage of one churn score, from the warehouse row back to the SQL that produced its inputs.

A CHURN_SCORES row carries ``GLOBAL_ID`` (the predict job that computed it) and ``MODEL_COMMIT`` (the
``churn_model`` commit it was scored with). From there the pachlet provenance graph leads to the
feature shard and model commits, the training job and its metrics, and the ingest commits with the exact
SQL text and cron tick time. ``explain`` gathers it as one JSON-able dict; ``churn explain MSNO``
(``churn.cli.explain``) prints it; the console's churn plugin shows the same dict.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from churn.errors import LineageError
from churn.stages.sharding import shard_name, shard_of
from pachlet.errors import NotFoundError

SCORE_TABLE = "CHURN_SCORES"
SCORE_COLUMNS = ("MSNO", "CHURN_PROBABILITY", "CHURN_PREDICTION", "MODEL_COMMIT", "GLOBAL_ID", "SCORED_AT")
PREDICT = "churn_predict"
MODEL = "churn_model"
QUERY_FILE = "/0000"


@dataclass(frozen=True)
class Node:
    """One commit on the provenance path, with the job that produced it (None for user commits)."""

    repo: str
    commit: str
    branch: str
    origin: str
    pipeline: str | None
    job_state: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "repo": self.repo,
            "commit": self.commit,
            "branch": self.branch,
            "origin": self.origin,
            "pipeline": self.pipeline,
            "job_state": self.job_state,
        }


def score_row(msno: str, url: str | None = None) -> dict[str, Any]:
    """The CHURN_SCORES row of ``msno`` from the warehouse (``LineageError`` if there is none)."""
    from churn.warehouse import connect
    from churn.warehouse.loading import jsonable

    with connect(url) as conn:
        cur = conn.cursor()
        cur.execute(
            f"SELECT {', '.join(SCORE_COLUMNS)} FROM {SCORE_TABLE} WHERE MSNO = %s ORDER BY SCORED_AT DESC",
            (msno,),
        )
        rows = cur.fetchall()
    if not rows:
        raise LineageError(f"no {SCORE_TABLE} row for MSNO {msno!r} (has churn_predict egressed yet?)")
    return {c: jsonable(v) for c, v in zip(SCORE_COLUMNS, rows[0], strict=True)}


def _repo_pipeline(p: Any, repo: str) -> str | None:
    return p.inspect_repo(repo).pipeline


def _node(p: Any, info: Any) -> Node:
    pipeline = _repo_pipeline(p, info.repo)
    state = None
    if pipeline is not None and info.origin == "AUTO":
        try:
            state = p.inspect_job(pipeline, info.id).state
        except NotFoundError:  # a cron repo belongs to its pipeline but has no job of its own
            state = None
    return Node(info.repo, info.id, info.branch, info.origin, pipeline, state)


def provenance_chain(p: Any, repo: str, commit_id: str) -> list[Node]:
    """Every commit ``repo@commit_id`` was computed from (itself first, then upstream breadth-first),
    each once."""
    seen: set[tuple[str, str]] = set()
    out: list[Node] = []
    queue = [(repo, commit_id)]
    while queue:
        key = queue.pop(0)
        if key in seen:
            continue
        seen.add(key)
        info = p.inspect_commit(*key)
        out.append(_node(p, info))
        queue.extend((r, c) for r, _branch, c in info.provenance)
    return out


def _direct(p: Any, repo: str, commit_id: str) -> dict[str, str]:
    """Direct provenance of a commit: upstream repo -> commit ID."""
    return {r: c for r, _b, c in p.inspect_commit(repo, commit_id).provenance}


def _job(p: Any, pipeline: str, job_id: str) -> dict[str, Any]:
    j = p.inspect_job(pipeline, job_id)
    return {
        "pipeline": j.pipeline,
        "id": j.id,
        "state": j.state,
        "started": j.started.isoformat() if j.started else None,
        "finished": j.finished.isoformat() if j.finished else None,
        "datums": {
            "processed": j.data_processed,
            "skipped": j.data_skipped,
            "failed": j.data_failed,
            "total": j.data_total,
        },
        "reason": j.reason,
    }


def _ingest(p: Any, chain: list[Node], data_repo: str) -> dict[str, Any] | None:
    """The ingest commit of ``data_repo`` on the chain, with the query commit's SQL and the tick."""
    data = next((n for n in chain if n.repo == data_repo), None)
    if data is None:
        return None
    queries = _direct(p, data.repo, data.commit)
    entry: dict[str, Any] = {"pipeline": data.pipeline, "repo": data.repo, "commit": data.commit}
    for q_repo, q_commit in queries.items():
        entry["queries"] = {"repo": q_repo, "commit": q_commit}
        try:
            entry["sql"] = p.get_file(q_repo, q_commit, QUERY_FILE).decode("utf-8", "replace")
        except NotFoundError:
            entry["sql"] = None
        for tick_repo, tick_commit in _direct(p, q_repo, q_commit).items():
            ticks = [f.path.lstrip("/") for f in p.list_files(tick_repo, tick_commit, "/")]
            entry["tick"] = {"repo": tick_repo, "commit": tick_commit, "time": max(ticks) if ticks else None}
    return entry


def explain(
    p: Any, msno: str, *, url: str | None = None, row: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The lineage of ``msno``'s score: its warehouse row, the predict job and datum, the feature shard,
    the model commit with its metrics and training job, and the ingest commits with SQL and tick time.
    ``p`` is a ``pachlet.api.Pachlet``; ``row`` skips the warehouse read (the console passes it)."""
    score = row if row is not None else score_row(msno, url)
    global_id = score.get("GLOBAL_ID") or ""
    model_commit = score.get("MODEL_COMMIT") or ""
    if not global_id:
        raise LineageError(f"the {SCORE_TABLE} row of {msno} has no GLOBAL_ID")
    try:
        predict_job = _job(p, PREDICT, global_id)
    except NotFoundError as exc:
        raise LineageError(f"predict job {PREDICT}@{global_id} of {msno}'s score not found: {exc}") from None
    chain = provenance_chain(p, PREDICT, global_id)
    direct = _direct(p, PREDICT, global_id)
    features_repo = next((r for r in direct if r != MODEL), None)
    result: dict[str, Any] = {"msno": msno, "score": score, "predict_job": predict_job}
    if features_repo is not None:
        shards = len(p.list_files(features_repo, direct[features_repo], "/")) or 1
        shard = shard_name(shard_of(msno, shards))
        result["feature_shard"] = {
            "repo": features_repo,
            "commit": direct[features_repo],
            "path": f"/{shard}/",
        }
        result["predict_datum"] = _predict_datum(p, global_id, shard)
    model_id = model_commit or direct.get(MODEL, "")
    if model_id:
        model: dict[str, Any] = {"repo": MODEL, "commit": model_id}
        try:
            model["metrics"] = json.loads(p.get_file(MODEL, model_id, "/metrics.json"))
        except (NotFoundError, ValueError):  # no metrics file, or not JSON
            model["metrics"] = None
        try:
            model["training_job"] = _job(p, MODEL, model_id)
        except NotFoundError:
            model["training_job"] = None
        if direct.get(MODEL) and direct[MODEL] != model_id:
            model["note"] = f"the predict job read {MODEL}@{direct[MODEL]}, the row names {model_id}"
        result["model"] = model
        model_chain = provenance_chain(p, MODEL, model_id)
    else:
        model_chain = []
    on_chain = {(n.repo, n.commit) for n in chain}
    all_nodes = chain + [n for n in model_chain if (n.repo, n.commit) not in on_chain]
    result["ingest"] = [
        e for e in (_ingest(p, all_nodes, n.repo) for n in _data_repos(all_nodes)) if e is not None
    ]
    result["chain"] = [n.to_dict() for n in all_nodes]
    result["table"] = table_status(p, global_id)
    return result


def table_status(p: Any, global_id: str) -> dict[str, Any]:
    """Whether CHURN_SCORES (whose rows come from predict job ``global_id``) is behind pachlet: stale when
    a newer ``churn_predict`` job did not load its output (it failed, e.g. its egress, or it is still
    running). ``{"stale": bool, "latest_job": {...} | None, "note": str}``."""
    newer = []
    for j in p.list_jobs(PREDICT):  # newest first
        if j.id == global_id:
            break
        newer.append(j)
    if not newer:
        return {"stale": False, "latest_job": None, "note": ""}
    latest = newer[0]
    job = {"id": latest.id, "state": latest.state, "reason": latest.reason}
    if latest.state in ("JOB_FAILURE", "JOB_KILLED", "JOB_UNRUNNABLE"):
        why = f": {latest.reason}" if latest.reason else ""
        note = (
            f"{SCORE_TABLE} is stale: the newest {PREDICT} job {latest.id} ended {latest.state}{why}; "
            f"the table still holds the output of job {global_id}"
        )
    elif latest.state == "JOB_SUCCESS":
        note = f"{SCORE_TABLE} is stale: {PREDICT} job {latest.id} succeeded but this row is from job {global_id}"
    else:
        note = f"{SCORE_TABLE} is stale until {PREDICT} job {latest.id} ({latest.state}) loads its output"
    return {"stale": True, "latest_job": job, "note": note}


def _data_repos(nodes: list[Node]) -> Iterator[Node]:
    """Ingest outputs: AUTO commits whose own inputs are a queries pipeline's output."""
    names = {n.repo for n in nodes}
    for n in nodes:
        if n.repo.endswith("_data") and n.repo.removesuffix("_data") + "_queries" in names:
            yield n


def _predict_datum(p: Any, job_id: str, shard: str) -> dict[str, Any] | None:
    for d in p.list_datums(PREDICT, job_id):
        if any(i.path.rstrip("/") == f"/{shard}" for i in d.inputs):
            return {"id": d.datum_id, "state": d.state, "duration": round(d.duration, 6)}
    return None


def format_lineage(info: dict[str, Any]) -> str:
    """Human-readable lineage, one fact per line."""
    s = info["score"]
    lines = [
        f"score of {info['msno']}: CHURN_PROBABILITY {s.get('CHURN_PROBABILITY')} "
        f"(prediction {s.get('CHURN_PREDICTION')}), scored at {s.get('SCORED_AT')}",
        f"  global ID        {s.get('GLOBAL_ID')}",
        f"  predict job      {PREDICT}@{info['predict_job']['id']} {info['predict_job']['state']}",
    ]
    table = info.get("table") or {}
    if table.get("stale"):
        lines.insert(1, f"  STALE            {table['note']}")
    if info.get("predict_datum"):
        d = info["predict_datum"]
        lines.append(f"  predict datum    {d['id']} {d['state']}")
    if info.get("feature_shard"):
        f = info["feature_shard"]
        lines.append(f"  feature shard    {f['repo']}@{f['commit']}:{f['path']}")
    model = info.get("model")
    if model:
        lines.append(f"  model commit     {model['repo']}@{model['commit']}")
        tj = model.get("training_job")
        if tj:
            lines.append(f"  training job     {tj['pipeline']}@{tj['id']} {tj['state']}")
        metrics = (model.get("metrics") or {}).get("model") or {}
        if metrics:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
            lines.append(f"  holdout metrics  {shown}")
    for e in info.get("ingest", []):
        tick = (e.get("tick") or {}).get("time")
        lines.append(f"  ingest           {e['repo']}@{e['commit']} (tick {tick})")
        q = e.get("queries")
        if q:
            lines.append(f"    query commit   {q['repo']}@{q['commit']}:{QUERY_FILE}")
        sql = (e.get("sql") or "").splitlines()
        if sql:
            lines.append(f"    SQL            {sql[0]}")
            lines.extend(f"                   {line}" for line in sql[1:4])
            if len(sql) > 4:
                lines.append(f"                   ... ({len(sql) - 4} more lines)")
    return "\n".join(lines)
