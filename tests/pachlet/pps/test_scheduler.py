"""Jobs side by side within one core budget (``pachlet.pps.scheduler``), through the facade: real datum
subprocesses on the host runtime, which share a directory to meet in."""

from __future__ import annotations

import functools
import sys
import threading
from pathlib import Path

import pytest

from helpers import churn_dag
from helpers.polling import wait_for
from helpers.rendezvous import meet
from pachlet.api import Pachlet
from pachlet.pps.scheduler import CoreBudget


def logged(name: str) -> list[str]:
    """A datum that appends ``start <name>`` and ``end <name>`` lines to ``$TRACE`` around a pause."""
    code = (
        "import os, time\n"
        "def say(w):\n"
        "    fd = os.open(os.environ['TRACE'], os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n"
        "    os.write(fd, (w + ' ' + os.environ['PPS_PIPELINE_NAME'] + '\\n').encode())\n"
        "    os.close(fd)\n"
        "say('start')\n"
        "time.sleep(0.05)\n"
        "say('end')\n"
        f"open('/pfs/out/' + os.environ['PACH_DATUM_ID'], 'w').write('{name}')\n"
    )
    return [sys.executable, "-c", code]


def spec(name: str, repo: str, cmd: list[str], env: dict[str, str], **extra: object) -> dict[str, object]:
    return {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": repo, "glob": "/*"}},
        "transform": {"cmd": cmd, "env": env},
        "datumTries": 1,
        **extra,
    }


def test_independent_pipelines_run_side_by_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each pipeline's only datum waits for the other's to start: run one job at a time, the first
    would fail after 30 s; side by side both succeed."""
    monkeypatch.setenv("PACHLET_CORES", "2")
    rdv = tmp_path / "meet"
    rdv.mkdir()
    with Pachlet.open(tmp_path / "root", runtime="host") as p:
        for repo in ("a", "b"):
            p.create_repo(repo)
            p.put_file(repo, "master", "/x", b"x")
        p.create_pipeline(spec("left", "a", meet("left", "right"), {"MEET": str(rdv)}))
        p.create_pipeline(spec("right", "b", meet("right", "left"), {"MEET": str(rdv)}))
        jobs = p.run_until_idle()
        assert sorted((j.pipeline, j.state) for j in jobs) == [
            ("left", "JOB_SUCCESS"),
            ("right", "JOB_SUCCESS"),
        ]
        assert p.get_file("left", "master", "/left") == b"met"
        assert p.get_file("right", "master", "/right") == b"met"


def test_one_core_budget_runs_one_datum_at_a_time_across_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a budget of one core, the datums of two concurrent jobs (one asking for parallelism 2) never
    overlap: the trace alternates start/end."""
    monkeypatch.setenv("PACHLET_CORES", "1")
    trace = tmp_path / "trace"
    with Pachlet.open(tmp_path / "root", runtime="host") as p:
        for repo in ("a", "b"):
            p.create_repo(repo)
            p.put_files(repo, "master", "/", _three_files(tmp_path / repo))
        env = {"TRACE": str(trace)}
        p.create_pipeline(spec("one", "a", logged("one"), env, parallelismSpec={"constant": 2}))
        p.create_pipeline(spec("two", "b", logged("two"), env))
        jobs = p.run_until_idle()
        assert sorted((j.pipeline, j.state, j.data_processed) for j in jobs) == [
            ("one", "JOB_SUCCESS", 3),
            ("two", "JOB_SUCCESS", 3),
        ]
    words = [line.split()[0] for line in trace.read_text().splitlines()]
    assert words == ["start", "end"] * 6


def test_downstream_job_waits_for_its_input_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chain a -> up -> down with two cores: ``down`` never starts before ``up`` ended (its datum sees
    ``up``'s output), and a second commit's jobs run after the first's, in order."""
    monkeypatch.setenv("PACHLET_CORES", "2")
    trace = tmp_path / "trace"
    env = {"TRACE": str(trace)}
    with Pachlet.open(tmp_path / "root", runtime="host") as p:
        p.create_repo("a")
        p.put_file("a", "master", "/x", b"1")
        p.put_file("a", "master", "/y", b"2")
        p.create_pipeline(spec("up", "a", logged("up"), env))
        p.create_pipeline(spec("down", "up", logged("down"), env))
        jobs = p.run_until_idle()
        assert [j.pipeline for j in jobs if j.state == "JOB_SUCCESS"][-1] == "down"
    lines = trace.read_text().splitlines()
    last_up = max(i for i, line in enumerate(lines) if line == "end up")
    first_down = min(i for i, line in enumerate(lines) if line == "start down")
    assert last_up < first_down


def _three_files(d: Path) -> Path:
    d.mkdir()
    for n in ("f1", "f2", "f3"):
        (d / n).write_text(n)
    return d


@pytest.mark.e2e
def test_churn_outputs_identical_batched_side_by_side_and_unbatched_one_job_at_a_time(tmp_path: Path) -> None:
    """clean, features, train and predict on the same ingested shards: jobs side by side (train and score
    branches overlapping) with the specs' ``datumBatching`` (one stage process per worker) give the same
    files byte for byte as one job at a time with one process per datum (scores without their per-run
    columns; model.joblib and the metrics included)."""
    data = churn_dag.ingest(tmp_path)
    alone = churn_dag.run_stages(tmp_path / "alone", "host", data, one_job_at_a_time=True, batching=False)
    together = churn_dag.run_stages(tmp_path / "together", "host", data)
    assert alone["churn_predict"] and any(p.endswith(".joblib") for p in alone["churn_model"])
    assert together == alone
    workers = "logs/churn_predict/*/worker-*.log"  # a batching worker's log (user code outside a datum)
    assert list((tmp_path / "together").glob(workers)) and not list((tmp_path / "alone").glob(workers))


def lined_up(budget: CoreBudget, n: int) -> bool:
    return budget.waiting == n


def test_a_freed_core_goes_to_the_highest_priority_first_come_first_served_among_equals() -> None:
    budget = CoreBudget(1)
    order: list[str] = []

    def take(name: str, priority: int) -> None:
        with budget.core(priority):
            order.append(name)

    threads = []
    with budget.core(0):  # the only core is held while four datums line up for it
        for name, priority in [("low", 0), ("high-a", 2), ("mid", 1), ("high-b", 2)]:
            t = threading.Thread(target=take, args=(name, priority))
            t.start()
            threads.append(t)
            wait_for(f"{name} waiting", functools.partial(lined_up, budget, len(threads)), timeout=10)
    for t in threads:
        t.join(10)
    assert order == ["high-a", "high-b", "mid", "low"]
    assert budget.waiting == 0
    with budget.core(5):  # and the core is free again
        pass


def test_chain_lengths_count_the_longest_chain_of_pipelines_through_each(tmp_path: Path) -> None:
    """p1 -> p2 -> join <- q1: the long chain's pipelines get 2, the side branch 1 (the cores'
    priorities, ``CoreBudget``)."""
    with Pachlet.open(tmp_path / "root", runtime="host") as p:
        for repo in ("a", "b"):
            p.create_repo(repo)
        copy = ["sh", "-c", "true"]
        p.create_pipeline(spec("p1", "a", copy, {}))
        p.create_pipeline(spec("p2", "p1", copy, {}))
        p.create_pipeline(spec("q1", "b", copy, {}))
        p.create_pipeline(
            {
                "pipeline": {"name": "join"},
                "input": {
                    "cross": [{"pfs": {"repo": "p2", "glob": "/"}}, {"pfs": {"repo": "q1", "glob": "/"}}]
                },
                "transform": {"cmd": copy},
            }
        )
        assert p._pps.pipelines.chain_lengths() == {"p1": 2, "p2": 2, "join": 2, "q1": 1}
