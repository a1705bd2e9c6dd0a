"""PPS pipelines: create / update / delete / inspect / list, their versions and salt (the
``pipelines`` and ``pipeline_versions`` tables), and what a spec says about repos and branches."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Mapping
from typing import Any

from pachlet.errors import AlreadyExistsError, NotFoundError, PachletError
from pachlet.pfs.driver import PFS
from pachlet.projects import internal_spec, path_segment, project_name_error, spec_project
from pachlet.records import (
    JOB_TERMINAL_STATES,
    PIPELINE_PAUSED,
    PIPELINE_RUNNING,
    PIPELINE_STANDBY,
    PipelineInfo,
)
from pachlet.spec import cron_inputs, input_repos, normalize_spec, pipeline_name, validate_spec
from pachlet.spec.inputs import sort_by_filled_names
from pachlet.store import Store, new_id
from pachlet.timeutil import now_ts, to_dt


def output_branch(spec: Mapping[str, Any]) -> str:
    """The branch a pipeline writes (``outputBranch``, default master)."""
    return spec.get("outputBranch") or "master"


def cron_repo(pipeline: str, cin: Mapping[str, Any]) -> str:
    """The repo a cron input ticks into."""
    return cin.get("repo") or f"{pipeline}_{cin['name']}"


def input_branches(name: str, spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(repo, branch) pairs a pipeline reads, cron repos included, without duplicates."""
    seen: list[tuple[str, str]] = []
    for _n, repo, branch in input_repos(spec.get("input") or {}, name):
        if (repo, branch or "master") not in seen:
            seen.append((repo, branch or "master"))
    for cin in cron_inputs(spec):
        pair = (cron_repo(name, cin), "master")
        if pair not in seen:
            seen.append(pair)
    return seen


INPUT_ORDER_KEY = "pachletInputOrder"
"""Key of the stored spec blob (never of a returned spec) saying how its composite inputs are ordered."""
INPUT_ORDER_PACHD = "sorted-before-default-names"


def _load_spec(blob: str) -> dict[str, Any]:
    """A stored spec. Specs stored before pachlet sorted inputs at creation (no ``INPUT_ORDER_KEY``) had
    their composites sorted by the filled-in names at datum time; that order is applied here, so the
    datum IDs of a root made by an older pachlet do not change."""
    spec: dict[str, Any] = json.loads(blob)
    if spec.pop(INPUT_ORDER_KEY, None) is None and spec.get("input"):
        sort_by_filled_names(spec["input"])
    return spec


class PipelineRegistry:
    """The pipelines of one root."""

    def __init__(self, store: Store, pfs: PFS) -> None:
        self.store = store
        self.pfs = pfs

    def specs(self) -> dict[str, dict[str, Any]]:
        """Every pipeline's current spec by name."""
        c = self.store.conn()
        return {r["name"]: _load_spec(r["spec"]) for r in c.execute("SELECT name, spec FROM pipelines")}

    def exists(self, name: str) -> bool:
        """Whether the pipeline exists."""
        return (
            self.store.conn().execute("SELECT 1 FROM pipelines WHERE name=?", (name,)).fetchone() is not None
        )

    def create(
        self,
        spec: Mapping[str, Any],
        *,
        update: bool,
        reprocess: bool,
        source: str | None,
        gid: str | None = None,
    ) -> dict[str, Any]:
        """Store a new pipeline (or a new version of it) with its output and cron repos and the output
        branch's provenance, and an empty head commit (global ID ``gid``) on each input branch that has
        none; returns the normalized spec. The caller queues the first job (``gid``) in the same
        transaction."""
        external = normalize_spec(dict(spec), source=source)
        project = spec_project(external)
        given = pipeline_name(external) or ""
        if not given or "/" in given or project_name_error(project):  # validate_spec names the field
            pipeline = {**external["pipeline"], "project": {"name": project}} if given else None
            validate_spec(
                {**external, "pipeline": pipeline or external.get("pipeline")},
                known_repos=frozenset(),
                pipelines={},
                source=source,
            )
        if not self.pfs.project_exists(project):
            raise NotFoundError(f'project "{project}" not found')
        norm = internal_spec(external)
        name = norm["pipeline"]["name"]
        with self.store.tx() as c:
            existing = c.execute("SELECT * FROM pipelines WHERE name=?", (name,)).fetchone()
            if existing is not None and not update:
                raise AlreadyExistsError(f"pipeline {name} already exists (use update pipeline)")
            repo = self.pfs.inspect_repo(name) if self.pfs.repo_exists(name) else None
            if existing is None and repo is not None and repo.pipeline != name:
                raise AlreadyExistsError(
                    f"cannot create pipeline {name}: repo {name} already exists (the output repo takes "
                    "the pipeline's name)"
                )
            others = {n: s for n, s in self.specs().items() if n != name}
            own_repos = {name} | {cron_repo(name, ci) for ci in cron_inputs(norm)}
            known = self.pfs.repo_names() - own_repos
            validate_spec(norm, known_repos=known, pipelines=others)
            ts = now_ts()
            # api_server.go CreatePipeline: an update preserves Stopped
            paused = existing is not None and existing["state"] == PIPELINE_PAUSED
            state = PIPELINE_PAUSED if paused else PIPELINE_RUNNING
            if existing is None:
                version, salt, created = 1, new_id(), ts
            else:
                version = existing["version"] + 1
                salt = new_id() if reprocess else existing["salt"]
                created = existing["created"]
            norm["salt"] = salt
            blob = json.dumps({**norm, INPUT_ORDER_KEY: INPUT_ORDER_PACHD}, sort_keys=True)
            c.execute(
                "INSERT OR REPLACE INTO pipelines(name, spec, version, salt, state, created, updated)"
                " VALUES(?,?,?,?,?,?,?)",
                (name, blob, version, salt, state, created, ts if existing is not None else None),
            )
            c.execute(
                "INSERT OR REPLACE INTO pipeline_versions(name, version, spec, salt, created) VALUES(?,?,?,?,?)",
                (name, version, blob, salt, ts),
            )
            if repo is None:
                self.pfs.create_repo(name, f"Output repo for pipeline {name}.", pipeline=name, kind="output")
            self.pfs.ensure_branch(name, output_branch(norm), input_branches(name, norm))
            self.pfs.set_output_kind(name, spout=norm.get("spout") is not None)
            for cin in cron_inputs(norm):
                crepo = cron_repo(name, cin)
                if not self.pfs.repo_exists(crepo):
                    self.pfs.create_repo(
                        crepo, f"Cron tick repo for pipeline {name}.", pipeline=name, kind="cron"
                    )
            self._empty_input_heads(name, norm, gid)
        return norm

    def _empty_input_heads(self, name: str, norm: Mapping[str, Any], gid: str | None) -> None:
        """pachd creates every input branch that has no head with an empty commit when it creates the
        pipeline's output branch (pfs ``CreateBranch`` of a provenance branch, in the same transaction):
        a cron repo's first commit is empty, before any tick. Upstream pipelines' output branches are
        theirs to write and are left alone."""
        for repo, branch in input_branches(name, norm):
            if self.pfs.branch_head(repo, branch) is not None:
                continue
            owner = self.pfs.inspect_repo(repo).pipeline
            if owner is not None and owner != name:
                continue
            ci = self.pfs.start_commit(repo, branch, commit_id=gid)
            self.pfs.finish_commit(repo, ci.id)

    def stopped(self) -> set[str]:
        """Names of the stopped pipelines."""
        c = self.store.conn()
        return {r[0] for r in c.execute("SELECT name FROM pipelines WHERE state=?", (PIPELINE_PAUSED,))}

    def set_stopped(self, name: str, stopped: bool) -> bool:
        """Mark a pipeline stopped (PIPELINE_PAUSED) or not; returns whether it was stopped before."""
        with self.store.tx() as c:
            row = c.execute("SELECT state FROM pipelines WHERE name=?", (name,)).fetchone()
            if row is None:
                raise NotFoundError(f"pipeline {name} not found")
            new = PIPELINE_PAUSED if stopped else PIPELINE_RUNNING
            c.execute("UPDATE pipelines SET state=? WHERE name=?", (new, name))
        return bool(row["state"] == PIPELINE_PAUSED)

    def _info(self, c: sqlite3.Connection, row: sqlite3.Row) -> PipelineInfo:
        spec = _load_spec(row["spec"])
        last = c.execute(
            "SELECT id, state FROM jobs WHERE pipeline=? ORDER BY seq DESC LIMIT 1", (row["name"],)
        ).fetchone()
        state = row["state"]
        if state != PIPELINE_PAUSED and spec.get("autoscaling"):
            # pipeline_controller.go / monitor.go: an autoscaling pipeline is in STANDBY while it has no
            # job to run, RUNNING while it has one
            busy = c.execute(
                f"SELECT 1 FROM jobs WHERE pipeline=? AND state NOT IN ({','.join('?' * len(JOB_TERMINAL_STATES))})"
                " LIMIT 1",
                (row["name"], *sorted(JOB_TERMINAL_STATES)),
            ).fetchone()
            state = PIPELINE_RUNNING if busy else PIPELINE_STANDBY
        return PipelineInfo(
            name=row["name"],
            spec=spec,
            version=row["version"],
            salt=row["salt"],
            state=state,
            created=to_dt(row["created"]),  # type: ignore[arg-type]
            updated=to_dt(row["updated"]),
            last_job_state=last["state"] if last else None,
            last_job_id=last["id"] if last else None,
            output_repo=row["name"],
            description=spec.get("description") or "",
        )

    def list(self) -> list[PipelineInfo]:
        """Every pipeline, newest first."""
        with self.store.snapshot() as c:
            rows = c.execute("SELECT * FROM pipelines ORDER BY created DESC, name").fetchall()
            return [self._info(c, r) for r in rows]

    def inspect(self, name: str) -> PipelineInfo:
        """One pipeline; ``NotFoundError`` if absent."""
        with self.store.snapshot() as c:
            row = c.execute("SELECT * FROM pipelines WHERE name=?", (name,)).fetchone()
            if row is None:
                raise NotFoundError(f"pipeline {name} not found")
            return self._info(c, row)

    def version(self, name: str, version: int) -> tuple[dict[str, Any], str]:
        """(spec, salt) of one version of a pipeline."""
        row = (
            self.store.conn()
            .execute("SELECT spec, salt FROM pipeline_versions WHERE name=? AND version=?", (name, version))
            .fetchone()
        )
        return _load_spec(row["spec"]), row["salt"]

    def readers_of(self, repo: str) -> list[str]:
        """Pipelines reading ``repo``, by name."""
        return sorted(n for n, s in self.specs().items() if repo in {r for r, _ in input_branches(n, s)})

    def chain_lengths(self) -> dict[str, int]:
        """Every pipeline's longest chain of pipelines through it: the most pipelines upstream of it on
        one path plus the most downstream of it on one path (0: it is alone)."""
        specs = self.specs()
        inputs = {n: [r for r, _b in input_branches(n, s) if r in specs and r != n] for n, s in specs.items()}
        readers: dict[str, list[str]] = {}
        for name, repos in inputs.items():
            for repo in repos:
                readers.setdefault(repo, []).append(name)

        def longest(edges: dict[str, list[str]]) -> dict[str, int]:
            memo: dict[str, int] = {}

            def of(name: str, path: frozenset[str]) -> int:
                if name not in memo:
                    nxt = [m for m in edges.get(name, []) if m not in path]  # a DAG; guard anyway
                    memo[name] = max((1 + of(m, path | {m}) for m in nxt), default=0)
                return memo[name]

            return {name: of(name, frozenset({name})) for name in specs}

        up, down = longest(inputs), longest(readers)
        return {name: up[name] + down[name] for name in specs}

    def check_repo_deletable(self, name: str, *, force: bool) -> None:
        """Refuse to delete a pipeline's output repo or a repo a pipeline reads (unless ``force``)."""
        if force:
            return
        owner = self.pfs.inspect_repo(name).pipeline
        if owner and self.exists(owner):
            raise PachletError(
                f"cannot delete repo {name}: it belongs to pipeline {owner} (delete the pipeline)"
            )
        readers = self.readers_of(name)
        if readers:
            raise PachletError(
                f"cannot delete repo {name}: pipeline(s) {', '.join(readers)} read it (use --force)"
            )

    def delete(self, name: str, *, force: bool, keep_repo: bool) -> None:
        """Delete a pipeline with its jobs, datums, cron state and cron repos, and its output repo unless
        ``keep_repo`` (then its open commits are abandoned and it becomes a user repo)."""
        with self.store.tx() as c:
            row = c.execute("SELECT * FROM pipelines WHERE name=?", (name,)).fetchone()
            if row is None:
                raise NotFoundError(f"pipeline {name} not found")
            readers = [r for r in self.readers_of(name) if r != name]
            if readers and not force:
                raise PachletError(
                    f"cannot delete pipeline {name}: pipeline(s) {', '.join(readers)} read its output (use --force)"
                )
            spec = _load_spec(row["spec"])
            for table in ("jobs", "datums", "datum_outputs", "cron_ticks"):
                c.execute(f"DELETE FROM {table} WHERE pipeline=?", (name,))
            c.execute("DELETE FROM pipelines WHERE name=?", (name,))
            c.execute("DELETE FROM pipeline_versions WHERE name=?", (name,))
            for cin in cron_inputs(spec):
                crepo = cron_repo(name, cin)
                if self.pfs.repo_exists(crepo):
                    self.pfs.delete_repo(crepo)
            if keep_repo:
                self.pfs.abandon_open_commits(name)
                self.pfs.detach_repo(name)
            elif self.pfs.repo_exists(name):
                self.pfs.delete_repo(name)
        shutil.rmtree(self.store.logs / path_segment(name), ignore_errors=True)
