"""The steps of ``churn demo``: the whole churn DAG on a laptop, on the embedded warehouse and pachlet.

Seed the embedded warehouse (once per members/seed: a rerun keeps the data, including changes made by
``churn warehouse advance``), render the local specs, create or update every pipeline in pachlet, tick
both cron pipelines and run the jobs, then read back the model's holdout metrics and the users most at
risk from CHURN_SCORES. Each step returns what it did; ``churn.cli.demo`` prints it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from churn.deploy import SECRET_KEY, SECRET_NAME
from churn.errors import DemoError
from churn.lineage import SCORE_TABLE
from churn.specs import dependency_order
from churn.warehouse.generate import SeedStats

TARGET = "local"
CRON_PIPELINES = ("churn_train_queries", "churn_score_queries")
# ticked once, on the first run, so churn_monitor has its outcomes input (header-only until outcomes are
# loaded: then `pachlet run cron churn_outcomes_queries`)
OUTCOMES_CRON = "churn_outcomes_queries"
SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": SECRET_NAME},
    # The embedded warehouse ignores the password; the secret exists so the local specs are the
    # cluster's, secret references included.
    "stringData": {SECRET_KEY: "embedded"},
}
SEED_MARKER = "seeded.json"
METRICS = ("auc", "log_loss", "brier", "precision_top_decile", "recall_top_decile")

Progress = Callable[[int], AbstractContextManager[Callable[[int], object]]]
"""Given the member count, a context yielding ``update(members_done)`` (a progress bar)."""


@dataclass
class RunSummary:
    """What one tick of the DAG did, per pipeline."""

    jobs: list[Any]

    def downstream_of_ingest(self) -> list[Any]:
        """Jobs after ingest (clean, features, model, predict)."""
        return [j for j in self.jobs if not j.pipeline.endswith(("_queries", "_data"))]

    def processed_after_ingest(self) -> int:
        """Datums computed (not skipped) after ingest."""
        return sum(j.data_processed + j.data_failed for j in self.downstream_of_ingest())

    def skipped_after_ingest(self) -> int:
        """Datums skipped after ingest."""
        return sum(j.data_skipped for j in self.downstream_of_ingest())

    def failure(self) -> str | None:
        """The first job that did not succeed, as one line, or None."""
        failed = [j for j in self.jobs if j.state != "JOB_SUCCESS"]
        if not failed:
            return None
        j = failed[0]
        return f"job {j.pipeline}@{j.id} ended {j.state}: {j.reason}"


@dataclass(frozen=True)
class SeedOutcome:
    """What ``ensure_seeded`` found or did, and the row counts afterwards."""

    kept: bool
    stats: SeedStats | None
    counts: dict[str, int | None]


def ensure_seeded(members: int, seed: int, *, reseed: bool, progress: Progress) -> SeedOutcome:
    """Initialise the embedded warehouse and seed it, unless it already holds this (members, seed)."""
    from churn.warehouse import connect, init, warehouse_dir
    from churn.warehouse.generate import seed_warehouse
    from churn.warehouse.schema import table_counts

    marker = warehouse_dir() / SEED_MARKER
    wanted = {"members": members, "seed": seed}
    stats = None
    with connect() as conn:
        init(conn)
        current = json.loads(marker.read_text()) if marker.is_file() else None
        kept = current == wanted and not reseed
        if not kept:
            marker.unlink(missing_ok=True)
            with progress(members) as update:
                stats = seed_warehouse(conn, members, seed, progress=update)
            marker.write_text(json.dumps(wanted))
        counts = table_counts(conn)
    return SeedOutcome(kept, stats, counts)


def render_local_specs() -> tuple[dict[str, dict[str, Any]], int]:
    """Render the local target into specs/local (unchanged files are left alone); returns the specs and
    how many files changed."""
    from churn.render import find_project, render_target, write_specs

    project = find_project()
    specs = render_target(project, TARGET)
    changed = write_specs(specs, project.specs_dir / TARGET)
    return specs, len(changed)


def local_runtime(p: Any) -> None:
    """Give the root's sandbox/container datums the embedded warehouse (ingest reads it): its directory
    mounted read-write at its own path, ``CHURN_WAREHOUSE_DIR`` set, and container datums running as the
    directory's owner, as pachlet runtime settings (the local target's specs stay the cluster's)."""
    from churn.warehouse import warehouse_dir

    wh = warehouse_dir().absolute()
    wh.mkdir(parents=True, exist_ok=True)
    settings = p.runtime_settings()
    want_env = {**settings.env, "CHURN_WAREHOUSE_DIR": str(wh)}
    want_mounts = [*settings.mounts, *([] if str(wh) in settings.mounts else [str(wh)])]
    st = wh.stat()
    want_user = (
        settings.user or f"{st.st_uid}:{st.st_gid}"
    )  # containers write the warehouse's lock as its owner
    if (want_env, want_mounts, want_user) != (settings.env, settings.mounts, settings.user):
        settings.env, settings.mounts, settings.user = want_env, want_mounts, want_user
        p.set_runtime_settings(settings)


def deploy(p: Any, specs: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """Set the local runtime up (``local_runtime``), create the secret if missing, then create or update
    every pipeline in dependency order; yields ``(pipeline, what was done)`` as it goes."""
    from pachlet.errors import NotFoundError
    from pachlet.spec import normalize_spec

    local_runtime(p)

    if SECRET["metadata"]["name"] not in {s.name for s in p.list_secrets()}:
        p.create_secret(SECRET)
    for name in dependency_order(specs):
        spec = specs[name]
        source = f"specs/{TARGET}/{name}.json"
        try:
            existing = p.inspect_pipeline(name)
        except NotFoundError:
            p.create_pipeline(spec, source=source)
            yield name, "created"
            continue
        current = {k: v for k, v in existing.spec.items() if k != "salt"}  # salt is pachlet's, not the spec's
        if normalize_spec(spec, source) == current:
            yield name, "unchanged"
        else:
            p.create_pipeline(spec, update=True, source=source)
            yield name, f"updated (version {existing.version + 1})"


def tick(p: Any) -> list[str]:
    """Tick both cron pipelines (and the outcomes cron if it never ticked); returns the global IDs (run
    the jobs, then ``summarize`` them)."""
    from pachlet.errors import NotFoundError

    ids = []
    try:
        p.inspect_pipeline(OUTCOMES_CRON)
    except NotFoundError:
        pass  # specs without the monitor
    else:
        try:  # pachd (and pachlet) give the cron repo an empty head commit at creation: a tick is a file
            ticked = bool(p.list_files(f"{OUTCOMES_CRON}_in", "master"))
        except NotFoundError:  # no branch (or no commit) before the first tick
            ticked = False
        if not ticked:
            ids.append(p.run_cron(OUTCOMES_CRON))
    return ids + [p.run_cron(name) for name in CRON_PIPELINES]


def summarize(p: Any, ids: list[str]) -> RunSummary:
    """The jobs of the global IDs ``ids``, upstream first."""
    return RunSummary([j for gid in ids for j in reversed(p.list_jobs(global_id=gid))])


def model_metrics(p: Any) -> dict[str, Any]:
    """The current model's ``metrics.json`` (``model``, ``baseline``, ``rows``)."""
    return json.loads(p.get_file("churn_model", "master", "/metrics.json"))


def top_at_risk(limit: int = 10) -> tuple[list[tuple[Any, ...]], int, int]:
    """The ``limit`` highest scores in CHURN_SCORES, its row count and the SCORE user count."""
    from churn.warehouse import connect

    with connect() as conn:
        cur = conn.cursor()
        cur.execute(
            f"SELECT MSNO, CHURN_PROBABILITY, CHURN_PREDICTION, MODEL_COMMIT, GLOBAL_ID FROM {SCORE_TABLE} "
            "ORDER BY CHURN_PROBABILITY DESC, MSNO LIMIT %s",
            (limit,),
        )
        top = cur.fetchall()
        cur.execute(f"SELECT COUNT(*), COUNT(DISTINCT MSNO) FROM {SCORE_TABLE}")
        total, distinct = cur.fetchone()
        cur.execute("SELECT COUNT(DISTINCT MSNO) FROM SCORE")
        (score_users,) = cur.fetchone()
    if total != distinct:
        raise DemoError(f"{SCORE_TABLE} holds {total} rows for {distinct} users: duplicates")
    return top, int(total), int(score_users)


def coverage_error(total: int, score_users: int) -> str | None:
    """Why CHURN_SCORES does not hold one row per SCORE user, or None."""
    if total != score_users:
        return f"{SCORE_TABLE} holds {total} rows but SCORE has {score_users} users"
    return None
