"""``churn demo``: the whole churn DAG on a laptop, on the embedded warehouse and pachlet.

Steps, each printed as it runs: seed the embedded warehouse (once per members/seed: a rerun keeps the
data, including changes made by ``churn warehouse advance``), render the local specs, create or update
every pipeline in pachlet, tick both cron pipelines and run the jobs (progress per job), then print the
job table, the model's holdout metrics, the ten users most at risk read back from CHURN_SCORES in the
warehouse, and the lineage of the riskiest row. A rerun with nothing changed processes only the cron
and ingest datums and says that everything after ingest was skipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from churn.deploy import SECRET_KEY, SECRET_NAME
from churn.lineage import PREDICT, SCORE_TABLE, explain, format_lineage

TARGET = "local"
CRON_PIPELINES = ("churn_train_queries", "churn_score_queries")
SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": SECRET_NAME},
    # The embedded warehouse ignores the password; the secret exists so the local specs are the
    # cluster's, secret references included.
    "stringData": {SECRET_KEY: "embedded"},
}
SEED_MARKER = "seeded.json"


class DemoError(click.ClickException):
    """A demo step failed; the message names the step."""


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


def _step(title: str) -> float:
    click.secho(f"\n==> {title}", bold=True)
    return time.perf_counter()


def _done(started: float, what: str = "done") -> None:
    click.echo(f"    {what} in {time.perf_counter() - started:.1f}s")


def ensure_seeded(members: int, seed: int, *, reseed: bool) -> None:
    """Initialise the embedded warehouse and seed it, unless it already holds this (members, seed)."""
    from churn.warehouse import connect, init, warehouse_dir
    from churn.warehouse.cli import table_counts
    from churn.warehouse.generate import seed_warehouse

    marker = warehouse_dir() / SEED_MARKER
    wanted = {"members": members, "seed": seed}
    with connect() as conn:
        init(conn)
        current = json.loads(marker.read_text()) if marker.is_file() else None
        if current == wanted and not reseed:
            click.echo(
                f"    warehouse already seeded with {members:,} members (seed {seed}); keeping its data "
                "(--reseed to regenerate)"
            )
        else:
            marker.unlink(missing_ok=True)
            with click.progressbar(
                length=members, label=f"    seeding {members:,} members", file=None
            ) as bar:
                stats = seed_warehouse(conn, members, seed, progress=bar.update)
            marker.write_text(json.dumps(wanted))
            click.echo(
                f"    {stats.total_rows():,} rows loaded in {stats.wall_seconds:.1f}s; "
                f"TRAIN churn rate {stats.churn_rate:.1%}"
            )
        counts = table_counts(conn)
    width = max(len(t) for t in counts)
    for table, n in counts.items():
        click.echo(f"    {table:<{width}}  {'-' if n is None else f'{n:,}':>12} rows")


def render_local_specs() -> dict[str, dict[str, Any]]:
    """Render the local target into specs/local (unchanged files are left alone); returns the specs."""
    from churn.render import find_project, render_target, write_specs

    project = find_project()
    specs = render_target(project, TARGET)
    changed = write_specs(specs, project.specs_dir / TARGET)
    click.echo(f"    {len(specs)} specs in specs/{TARGET} ({len(changed)} changed)")
    return specs


def deploy(p: Any, specs: dict[str, dict[str, Any]]) -> None:
    """Create the secret if missing, then create or update every pipeline in dependency order."""
    from churn.render import dependency_order
    from pachlet.errors import NotFoundError
    from pachlet.spec import normalize_spec

    if SECRET["metadata"]["name"] not in {s.name for s in p.list_secrets()}:
        p.create_secret(SECRET)
    for name in dependency_order(specs):
        spec = specs[name]
        source = f"specs/{TARGET}/{name}.json"
        try:
            existing = p.inspect_pipeline(name)
        except NotFoundError:
            p.create_pipeline(spec, source=source)
            click.echo(f"    {name:<22} created")
            continue
        current = {k: v for k, v in existing.spec.items() if k != "salt"}  # salt is pachlet's, not the spec's
        if normalize_spec(spec, source) == current:
            click.echo(f"    {name:<22} unchanged")
        else:
            p.create_pipeline(spec, update=True, source=source)
            click.echo(f"    {name:<22} updated (version {existing.version + 1})")


def run_jobs(p: Any) -> list[Any]:
    """Run every queued job with a progress bar per job; returns the jobs that ended."""
    from pachlet.cli import ProgressBars

    bars = ProgressBars(enabled=True)
    try:
        return p.run_until_idle(lambda job, done, total: bars(job.pipeline, job.id, done, total))
    finally:
        bars.close()


def tick(p: Any) -> tuple[list[str], RunSummary]:
    """Tick both cron pipelines and run everything they trigger; returns the global IDs and a summary
    of the jobs of those IDs."""
    ids = [p.run_cron(name) for name in CRON_PIPELINES]
    run_jobs(p)
    jobs = [j for gid in ids for j in reversed(p.list_jobs(global_id=gid))]
    return ids, RunSummary(jobs)


def print_jobs(jobs: Iterable[Any]) -> None:
    """The pachctl-style job table."""
    from pachlet import protos, tables

    click.echo(_indent(tables.job_table([protos.job_info(j) for j in jobs])))


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.rstrip("\n").splitlines())


def print_metrics(p: Any) -> None:
    """Holdout metrics of the current model, next to the baseline."""
    doc = json.loads(p.get_file("churn_model", "master", "/metrics.json"))
    model, base = doc["model"], doc["baseline"]
    click.echo(f"    {'holdout metric':<24}{'model':>10}{'baseline':>10}")
    for key in ("auc", "log_loss", "brier", "precision_top_decile", "recall_top_decile"):
        click.echo(f"    {key:<24}{model[key]:>10.4f}{base[key]:>10.4f}")
    rows = doc.get("rows") or {}
    if rows:
        click.echo(f"    rows: {json.dumps(rows)}")


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


def print_top(top: Sequence[tuple[Any, ...]], total: int, score_users: int) -> None:
    """The riskiest users table and the coverage check."""
    from pachlet.tables import render_table

    rows = [(m, f"{prob:.4f}", pred, model[:12], gid[:12]) for m, prob, pred, model, gid in top]
    click.echo(
        _indent(render_table(("MSNO", "CHURN_PROBABILITY", "PREDICTED", "MODEL_COMMIT", "GLOBAL_ID"), rows))
    )
    click.echo(f"    {SCORE_TABLE}: {total:,} rows, one per SCORE user ({score_users:,} users)")
    if total != score_users:
        raise DemoError(f"{SCORE_TABLE} holds {total} rows but SCORE has {score_users} users")


def print_skips(summary: RunSummary, first_run: bool) -> None:
    """The verdict on skipping after ingest (the job table shows each job's processed + skipped)."""
    done, skipped = summary.processed_after_ingest(), summary.skipped_after_ingest()
    if not first_run and done == 0:
        click.secho(
            f"    nothing changed in the warehouse: all {skipped} datums after ingest were skipped "
            "(outputs carried over from the previous jobs)",
            fg="green",
        )
    elif not first_run:
        click.echo(f"    after ingest: {done} datums reprocessed, {skipped} skipped")


def run_demo(members: int, seed: int, root: Path | None, reseed: bool) -> None:
    """All the steps of ``churn demo``."""
    from pachlet.api import Pachlet
    from pachlet.errors import PachletError

    t0 = time.perf_counter()
    t = _step(f"embedded warehouse ({members:,} members, seed {seed})")
    ensure_seeded(members, seed, reseed=reseed)
    _done(t)

    t = _step("rendering the local specs from the Jsonnet")
    specs = render_local_specs()

    try:
        with Pachlet.open(root) as p:
            first_run = PREDICT not in {x.name for x in p.list_pipelines()}
            t = _step(f"creating the pipelines in pachlet ({p.root})")
            deploy(p, specs)
            run_jobs(p)  # creating/updating a pipeline processes existing input, as on a cluster
            t = _step("ticking the cron pipelines: " + ", ".join(CRON_PIPELINES))
            ids, summary = tick(p)
            _done(t, "jobs finished")
            t = _step("jobs of this run (" + ", ".join(ids) + ")")
            print_jobs(summary.jobs)
            failed = [j for j in summary.jobs if j.state != "JOB_SUCCESS"]
            if failed:
                raise DemoError(
                    f"job {failed[0].pipeline}@{failed[0].id} ended {failed[0].state}: {failed[0].reason}"
                )
            print_skips(summary, first_run)
            _step("model (churn_model@master, holdout)")
            print_metrics(p)
            _step(f"top 10 users at risk, read back from the {SCORE_TABLE} table")
            top, total, score_users = top_at_risk()
            print_top(top, total, score_users)
            if top:
                _step(f"lineage of the score of {top[0][0]} (churn explain {top[0][0]})")
                click.echo(_indent(format_lineage(explain(p, str(top[0][0]))), "  "))
    except PachletError as exc:
        raise DemoError(str(exc)) from None
    click.secho(f"\ndemo finished in {time.perf_counter() - t0:.1f}s", bold=True)
    click.echo(
        "next: `pachlet list job`, `pachlet inspect commit churn_predict@master`, "
        "`churn warehouse advance --count 5` then `pachlet run cron churn_score_queries`, "
        "`pachlet serve` for the console"
    )


@click.command("demo")
@click.option("--members", type=click.IntRange(min=100), default=20_000, show_default=True)
@click.option("--seed", "seed_", type=int, default=42, show_default=True, help="Data generator seed.")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="pachlet root (default: $PACHLET_ROOT or ./.pachlet).")  # fmt: skip
@click.option("--reseed", is_flag=True, help="Regenerate the warehouse data even if already seeded.")
def demo_command(members: int, seed_: int, root: Path | None, reseed: bool) -> None:
    """Run the churn DAG end to end on the embedded warehouse and pachlet, and show scores and lineage."""
    run_demo(members, seed_, root, reseed)
