"""`churn demo`: run the churn DAG end to end on the embedded warehouse and pachlet, printing each step.

After the run: the job table, the model's holdout metrics, the ten users most at risk read back from
CHURN_SCORES, and the lineage of the riskiest row. A rerun with nothing changed processes only the cron
and ingest datums and says that everything after ingest was skipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from churn import demo
from churn.cli.errors import one_line_errors
from churn.errors import DemoError
from churn.lineage import PREDICT, SCORE_TABLE, explain, format_lineage


def _step(title: str) -> float:
    click.secho(f"\n==> {title}", bold=True)
    return time.perf_counter()


def _done(started: float, what: str = "done") -> None:
    click.echo(f"    {what} in {time.perf_counter() - started:.1f}s")


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.rstrip("\n").splitlines())


@contextmanager
def _seed_bar(members: int) -> Iterator[Callable[[int], object]]:
    with click.progressbar(length=members, label=f"    seeding {members:,} members", file=None) as bar:
        yield bar.update


def print_seeding(members: int, seed: int, *, reseed: bool) -> None:
    """Seed the embedded warehouse if needed and print what it holds."""
    outcome = demo.ensure_seeded(members, seed, reseed=reseed, progress=_seed_bar)
    if outcome.kept:
        click.echo(
            f"    warehouse already seeded with {members:,} members (seed {seed}); keeping its data "
            "(--reseed to regenerate)"
        )
    elif outcome.stats is not None:
        stats = outcome.stats
        click.echo(
            f"    {stats.total_rows():,} rows loaded in {stats.wall_seconds:.1f}s; "
            f"TRAIN churn rate {stats.churn_rate:.1%}"
        )
    counts = outcome.counts
    width = max(len(t) for t in counts)
    for table, n in counts.items():
        click.echo(f"    {table:<{width}}  {'-' if n is None else f'{n:,}':>12} rows")


def run_jobs(p: Any) -> list[Any]:
    """Run every queued job with a progress bar per job; returns the jobs that ended."""
    from pachlet.cli.output import ProgressBars

    bars = ProgressBars(enabled=True)
    try:
        return p.run_until_idle(lambda job, done, total: bars(job.pipeline, job.id, done, total))
    finally:
        bars.close()


def print_jobs(jobs: Iterable[Any]) -> None:
    """The pachctl-style job table."""
    from pachlet import protos, tables

    click.echo(_indent(tables.job_table([protos.job_info(j) for j in jobs])))


def print_metrics(p: Any) -> None:
    """Holdout metrics of the current model, next to the baseline."""
    doc = demo.model_metrics(p)
    model, base = doc["model"], doc["baseline"]
    click.echo(f"    {'holdout metric':<24}{'model':>10}{'baseline':>10}")
    for key in demo.METRICS:
        click.echo(f"    {key:<24}{model[key]:>10.4f}{base[key]:>10.4f}")
    rows = doc.get("rows") or {}
    if rows:
        click.echo(f"    rows: {json.dumps(rows)}")


def print_top(top: Sequence[tuple[Any, ...]], total: int, score_users: int) -> None:
    """The riskiest users table and the coverage check."""
    from pachlet.tables import render_table

    rows = [(m, f"{prob:.4f}", pred, model[:12], gid[:12]) for m, prob, pred, model, gid in top]
    click.echo(
        _indent(render_table(("MSNO", "CHURN_PROBABILITY", "PREDICTED", "MODEL_COMMIT", "GLOBAL_ID"), rows))
    )
    click.echo(f"    {SCORE_TABLE}: {total:,} rows, one per SCORE user ({score_users:,} users)")
    if err := demo.coverage_error(total, score_users):
        raise DemoError(err)


def print_skips(summary: demo.RunSummary, first_run: bool) -> None:
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
    print_seeding(members, seed, reseed=reseed)
    _done(t)

    t = _step("rendering the local specs from the Jsonnet")
    specs, changed = demo.render_local_specs()
    click.echo(f"    {len(specs)} specs in specs/{demo.TARGET} ({changed} changed)")

    try:
        with Pachlet.open(root) as p:
            first_run = PREDICT not in {x.name for x in p.list_pipelines()}
            t = _step(f"creating the pipelines in pachlet ({p.root})")
            for name, action in demo.deploy(p, specs):
                click.echo(f"    {name:<22} {action}")
            run_jobs(p)  # creating/updating a pipeline processes existing input, as on a cluster
            t = _step("ticking the cron pipelines: " + ", ".join(demo.CRON_PIPELINES))
            ids = demo.tick(p)
            run_jobs(p)
            summary = demo.summarize(p, ids)
            _done(t, "jobs finished")
            t = _step("jobs of this run (" + ", ".join(ids) + ")")
            print_jobs(summary.jobs)
            if failure := summary.failure():
                raise DemoError(failure)
            print_skips(summary, first_run)
            _step("model (churn_model@master, holdout)")
            print_metrics(p)
            _step(f"top 10 users at risk, read back from the {SCORE_TABLE} table")
            top, total, score_users = demo.top_at_risk()
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
@one_line_errors
def demo_command(members: int, seed_: int, root: Path | None, reseed: bool) -> None:
    """Run the churn DAG end to end on the embedded warehouse and pachlet, and show scores and lineage."""
    run_demo(members, seed_, root, reseed)
