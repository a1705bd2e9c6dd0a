"""Data gathering for the console's pages: each function reads the facade and returns plain dicts and
records for a template. Nothing here writes, and nothing here knows about HTTP."""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pachlet.api import Pachlet
from pachlet.console.dag import Layout, dag_layout
from pachlet.console.preview import Preview, preview_file
from pachlet.errors import NotFoundError
from pachlet.records import CommitInfo, JobInfo, PipelineInfo, RepoInfo
from pachlet.redact import redact_url
from pachlet.spec import input_repos

PAGE_SIZE = 50
MAX_LOG_LINES = 5000
DATUM_STATES = ("SUCCESS", "SKIPPED", "FAILED", "RECOVERED", "STARTING")


@dataclass(frozen=True)
class LinkedCommit:
    """A commit in a provenance or subvenance walk: how far from the start and which commit led to it."""

    commit: CommitInfo
    depth: int
    via: tuple[str, str] | None  # (repo, commit id) that pointed here
    pipeline: str | None  # the pipeline whose output this commit is, if any


def page_slice(items: Sequence[Any], page: int, size: int = PAGE_SIZE) -> dict[str, Any]:
    """One page of ``items`` (1-based ``page``) with the numbers a pager needs."""
    pages = max(1, -(-len(items) // size))
    page = min(max(page, 1), pages)
    return {
        "rows": list(items[(page - 1) * size : page * size]),
        "page": page,
        "pages": pages,
        "total": len(items),
    }


def _outputs(pipelines: Iterable[PipelineInfo]) -> dict[str, str]:
    """Output repo -> pipeline."""
    return {(pi.output_repo or pi.name): pi.name for pi in pipelines}


def _readers(pipelines: Iterable[PipelineInfo]) -> dict[str, list[str]]:
    """Repo -> pipelines reading it (including their cron repos)."""
    out: dict[str, list[str]] = {}
    for pi in pipelines:
        for _, repo, _ in input_repos(pi.spec.get("input"), pi.name):
            out.setdefault(repo, [])
            if pi.name not in out[repo]:
                out[repo].append(pi.name)
    return out


def dag_page(p: Pachlet) -> dict[str, Any]:
    """The home page: the DAG, every pipeline with its last job, and the latest global IDs."""
    repos = p.list_repos()
    pipelines = p.list_pipelines()
    layout: Layout = dag_layout(repos, pipelines)
    return {
        "layout": layout,
        "pipelines": sorted(pipelines, key=lambda pi: pi.name),
        "repos": sorted((r for r in repos if not r.pipeline or r.name != r.pipeline), key=lambda r: r.name),
        "changes": global_ids(p, limit=10),
    }


def repos_page(p: Pachlet) -> dict[str, Any]:
    """Every repo."""
    return {"repos": sorted(p.list_repos(), key=lambda r: r.name)}


def repo_page(p: Pachlet, repo: str, page: int = 1) -> dict[str, Any]:
    """A repo: branches, commits (paged, newest first), the files of master's head, its pipelines."""
    info: RepoInfo = p.inspect_repo(repo)
    branches = p.list_branches(repo)
    commits = p.list_commits(repo)
    pipelines = p.list_pipelines()
    head = next((b.head for b in branches if b.name == "master" and b.head), None)
    if head is None:
        head = next((b.head for b in branches if b.head), None)
    files = p.list_files(repo, head, "/") if head else []
    return {
        "repo": info,
        "branches": branches,
        "commits": page_slice(commits, page),
        "head": head,
        "files": files,
        "producer": _outputs(pipelines).get(repo),
        "readers": _readers(pipelines).get(repo, []),
    }


def _provenance_walk(p: Pachlet, start: CommitInfo, repo_pipeline: dict[str, str]) -> list[LinkedCommit]:
    """Every commit ``start`` was computed from, transitively, breadth first."""
    seen = {(start.repo, start.id)}
    out: list[LinkedCommit] = []
    queue: deque[tuple[CommitInfo, int]] = deque([(start, 0)])
    while queue:
        commit, depth = queue.popleft()
        for repo, _branch, cid in commit.provenance:
            if (repo, cid) in seen:
                continue
            seen.add((repo, cid))
            try:
                up = p.inspect_commit(repo, cid)
            except NotFoundError:
                continue
            out.append(LinkedCommit(up, depth + 1, (commit.repo, commit.id), repo_pipeline.get(repo)))
            queue.append((up, depth + 1))
    return out


def _subvenance_walk(
    p: Pachlet, start: CommitInfo, readers: dict[str, list[str]], outputs_of: dict[str, str]
) -> list[LinkedCommit]:
    """Every commit computed from ``start``, transitively, breadth first."""
    cache: dict[str, list[CommitInfo]] = {}

    def commits_of(repo: str) -> list[CommitInfo]:
        if repo not in cache:
            try:
                cache[repo] = p.list_commits(repo)
            except NotFoundError:
                cache[repo] = []
        return cache[repo]

    seen = {(start.repo, start.id)}
    out: list[LinkedCommit] = []
    queue: deque[tuple[CommitInfo, int]] = deque([(start, 0)])
    while queue:
        commit, depth = queue.popleft()
        for pipeline in readers.get(commit.repo, []):
            down_repo = outputs_of.get(pipeline, pipeline)
            for c in commits_of(down_repo):
                if (c.repo, c.id) in seen:
                    continue
                if any(r == commit.repo and cid == commit.id for r, _, cid in c.provenance):
                    seen.add((c.repo, c.id))
                    out.append(LinkedCommit(c, depth + 1, (commit.repo, commit.id), pipeline))
                    queue.append((c, depth + 1))
    return out


def commit_page(p: Pachlet, repo: str, ref: str) -> dict[str, Any]:
    """A commit: its job, upstream provenance and downstream subvenance (both transitive), its files."""
    commit = p.inspect_commit(repo, ref)
    pipelines = p.list_pipelines()
    outputs = _outputs(pipelines)
    pipeline_names = {pi.name: pi for pi in pipelines}
    repo_pipeline = dict(outputs)
    producer = outputs.get(repo)
    job: JobInfo | None = None
    if producer and commit.origin == "AUTO":
        try:
            job = p.inspect_job(producer, commit.id)
        except NotFoundError:
            job = None
    out_repo = {name: (pi.output_repo or name) for name, pi in pipeline_names.items()}
    files = p.list_files(repo, commit.id, "/") if commit.finished else []
    return {
        "commit": commit,
        "producer": producer,
        "job": job,
        "provenance": _provenance_walk(p, commit, repo_pipeline),
        "subvenance": _subvenance_walk(p, commit, _readers(pipelines), out_repo),
        "files": files,
    }


def files_page(p: Pachlet, repo: str, ref: str, path: str) -> dict[str, Any]:
    """A directory listing or a file preview inside a commit."""
    commit = p.inspect_commit(repo, ref)
    record = p.inspect_file(repo, commit.id, path)
    ctx: dict[str, Any] = {"commit": commit, "file": record, "crumbs": crumbs(record.path)}
    if record.file_type == "dir":
        ctx["entries"] = p.list_files(repo, commit.id, record.path)
        ctx["preview"] = None
    else:
        ctx["entries"] = []
        ctx["preview"] = preview_file(p.file_object_path(repo, commit.id, record.path), record.path)
    return ctx


def crumbs(path: str) -> list[tuple[str, str]]:
    """Breadcrumbs of a repo path: ``[("a", "/a"), ("b.csv", "/a/b.csv")]``."""
    out: list[tuple[str, str]] = []
    acc = ""
    for part in [x for x in path.split("/") if x]:
        acc += "/" + part
        out.append((part, acc))
    return out


def _change_row(gid: str, commits: Iterable[CommitInfo]) -> dict[str, Any]:
    row: dict[str, Any] = {"id": gid, "commits": 0, "repos": [], "started": None, "finished": None}
    for c in commits:
        row["commits"] += 1
        row["repos"].append(c.repo)
        if row["started"] is None or c.started < row["started"]:
            row["started"] = c.started
        if c.finished and (row["finished"] is None or c.finished > row["finished"]):
            row["finished"] = c.finished
    return row


def global_ids(p: Pachlet, *, limit: int | None = None) -> list[dict[str, Any]]:
    """One row per global ID (newest first): its commits, repos, jobs by state, start and end. With
    ``limit``, only the newest global IDs are read (from the newest commits), each in full."""
    if limit is None:
        by_id: dict[str, list[CommitInfo]] = {}
        for c in p.list_commits():
            by_id.setdefault(c.id, []).append(c)
        rows = [_change_row(gid, cs) for gid, cs in by_id.items()]
        states: dict[str, Counter[str]] = {r["id"]: Counter() for r in rows}
        for j in p.list_jobs():
            if j.id in states:
                states[j.id][j.state] += 1
    else:
        newest = list(dict.fromkeys(c.id for c in p.list_commits(number=max(200, limit * 40))))[:limit]
        rows = [_change_row(gid, p.list_commits(global_id=gid)) for gid in newest]
        states = {gid: Counter(j.state for j in p.list_jobs(global_id=gid)) for gid in newest}
    for r in rows:
        r["jobs"] = dict(sorted(states[r["id"]].items()))
    return rows


def global_id_page(p: Pachlet, gid: str) -> dict[str, Any]:
    """Every commit and job of one global ID."""
    commits = p.commit_set(gid)
    jobs = sorted(p.list_jobs(global_id=gid), key=lambda j: j.created)
    outputs = _outputs(p.list_pipelines())
    return {"id": gid, "commits": commits, "jobs": jobs, "producers": outputs}


def pipelines_page(p: Pachlet) -> dict[str, Any]:
    """Every pipeline with its input repos."""
    pipelines = sorted(p.list_pipelines(), key=lambda pi: pi.name)
    return {
        "pipelines": pipelines,
        "inputs": {
            pi.name: [r for _, r, _ in input_repos(pi.spec.get("input"), pi.name)] for pi in pipelines
        },
    }


def pipeline_page(p: Pachlet, name: str, page: int = 1) -> dict[str, Any]:
    """A pipeline: summary, rendered spec, input repos, egress and the history of its jobs."""
    info = p.inspect_pipeline(name)
    spec = info.spec
    sql = (spec.get("egress") or {}).get("sqlDatabase") or {}
    return {
        "pipeline": info,
        "spec_json": json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False),
        "inputs": input_repos(spec.get("input"), name),
        "transform": spec.get("transform") or {},
        "egress_url": redact_url(str(sql["url"])) if sql.get("url") else "",
        "jobs": page_slice(p.list_jobs(name), page),
    }


def jobs_page(p: Pachlet, limit: int = 200) -> dict[str, Any]:
    """The latest jobs of every pipeline."""
    return {"jobs": p.list_jobs()[:limit]}


def job_page(p: Pachlet, pipeline: str, job_id: str, state: str | None = None) -> dict[str, Any]:
    """A job with its datum table (optionally only datums in ``state``) and counts per state."""
    job = p.inspect_job(pipeline, job_id)
    datums = p.list_datums(pipeline, job_id)
    counts = Counter(d.state for d in datums)
    shown = [d for d in datums if not state or d.state == state]
    return {
        "job": job,
        "datums": shown,
        "all_datums": len(datums),
        "counts": dict(sorted(counts.items())),
        "filter_state": state or "",
        "states": sorted(set(DATUM_STATES) | set(counts)),
    }


def datum_page(p: Pachlet, pipeline: str, job_id: str, datum_id: str) -> dict[str, Any]:
    """A datum: its inputs, state, timing and the last ``MAX_LOG_LINES`` lines of its log."""
    job = p.inspect_job(pipeline, job_id)
    datum = p.inspect_datum(pipeline, job_id, datum_id)
    lines = [line.message for line in p.logs(pipeline, job_id, datum_id)]
    dropped = max(0, len(lines) - MAX_LOG_LINES)
    return {"job": job, "datum": datum, "log_lines": lines[dropped:], "log_dropped": dropped}


__all__ = [
    "LinkedCommit",
    "Preview",
    "commit_page",
    "dag_page",
    "datum_page",
    "files_page",
    "global_id_page",
    "global_ids",
    "job_page",
    "jobs_page",
    "page_slice",
    "pipeline_page",
    "pipelines_page",
    "repo_page",
    "repos_page",
]
