"""`churn deploy` against `pachlet serve` (a real server subprocess, the real python-pachyderm client)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import python_pachyderm

from churn.deploy import deploy_order, spec_differences
from churn.errors import SpecError
from churn.specs import SpecFile
from helpers import REPO_ROOT
from helpers.served import Served

pytestmark = pytest.mark.e2e

CHURN = str(Path(sys.executable).with_name("churn"))


def toy_specs(d: Path, *, cmd_suffix: str = "") -> Path:
    """A cron pipeline and a pipeline reading it (written in reverse dependency order on purpose)."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "a_count.json").write_text(
        json.dumps(
            {
                "pipeline": {"name": "toy_count"},
                "input": {"pfs": {"repo": "toy_queries", "glob": "/"}},
                "transform": {
                    "image": "churn-pachlet:dev",
                    "cmd": ["sh", "-c", f"ls /pfs/toy_queries | wc -l > /pfs/out/count{cmd_suffix}"],
                },
            }
        )
    )
    (d / "b_queries.json").write_text(
        json.dumps(
            {
                "pipeline": {"name": "toy_queries"},
                "input": {"cron": {"name": "in", "spec": "@every 24h", "overwrite": True}},
                "transform": {
                    "image": "churn-pachlet:dev",
                    "cmd": ["sh", "-c", "ls /pfs/in > /pfs/out/ticks"],
                },
            }
        )
    )
    return d


def deploy(served: Served, *args: str, env_password: str | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ)
    env.pop("PACHYDERM_SQL_PASSWORD", None)
    if env_password is not None:
        env["PACHYDERM_SQL_PASSWORD"] = env_password
    return subprocess.run(
        [CHURN, "deploy", "--pachd", served.address, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A fresh server without scheduled cron ticks (deploy's --tick runs cron explicitly), its root given
    the embedded warehouse as runtime settings first (what `churn demo` does) for sandboxed ingest."""
    from churn.demo import local_runtime
    from pachlet.api import Pachlet

    with Pachlet.open(tmp_path / "root") as p:
        local_runtime(p)
    s = Served(tmp_path / "root", "--no-cron")
    yield s
    code, _, err = s.stop()
    assert code == 0, err


def test_deploy_is_idempotent_updates_changes_and_ticks(served: Served, tmp_path: Path) -> None:
    specs = toy_specs(tmp_path / "specs" / "toy")
    first = deploy(served, "--target", "toy", "--specs-dir", str(specs), env_password="s3cret-value")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    # dependency order: the cron pipeline first although its file sorts last
    assert lines.index("pipeline toy_queries: created") < lines.index("pipeline toy_count: created")
    assert "secret snowflakesecret: created from PACHYDERM_SQL_PASSWORD" in first.stdout
    assert "s3cret-value" not in first.stdout + first.stderr

    second = deploy(served, "--target", "toy", "--specs-dir", str(specs))
    assert second.returncode == 0, second.stderr
    assert "pipeline toy_queries: unchanged" in second.stdout
    assert "pipeline toy_count: unchanged" in second.stdout
    assert "pipelines: 2 unchanged; no changes" in second.stdout
    assert "secret snowflakesecret: kept" in second.stdout

    toy_specs(specs, cmd_suffix=".txt")
    third = deploy(served, "--target", "toy", "--specs-dir", str(specs), "--tick")
    assert third.returncode == 0, third.stderr
    assert "pipeline toy_count: updated (transform)" in third.stdout
    assert "pipeline toy_queries: unchanged" in third.stdout
    table = [ln for ln in third.stdout.splitlines() if ln.startswith(("PIPELINE", "toy_"))]
    assert table[0].split()[:3] == ["PIPELINE", "JOB", "STATE"]
    rows = {ln.split()[0]: ln.split() for ln in table[1:]}
    assert rows.keys() == {"toy_queries", "toy_count"} and all(r[2] == "SUCCESS" for r in rows.values())
    assert len({r[1] for r in rows.values()}) == 1  # one global ID for the tick
    assert table[0].index("STATE") == table[1].index("SUCCESS")  # aligned columns
    c = served.client()
    assert c.get_file(("toy_count", "master"), "/count.txt").read().strip() == b"1"
    assert c.inspect_pipeline("toy_count").__next__().version == 2

    fourth = deploy(served, "--target", "toy", "--specs-dir", str(specs), "--reprocess")
    assert fourth.returncode == 0, fourth.stderr
    assert "pipeline toy_count: reprocessed" in fourth.stdout


def test_deploy_reports_bad_spec_and_unreachable_pachd(served: Served, tmp_path: Path) -> None:
    specs = toy_specs(tmp_path / "specs" / "toy")
    (specs / "c_bad.json").write_text(json.dumps({"pipeline": {"name": "bad"}, "transform": {"cmdd": ["x"]}}))
    bad = deploy(served, "--target", "toy", "--specs-dir", str(specs))
    assert bad.returncode != 0 and "c_bad.json" in bad.stderr and "cmdd" in bad.stderr
    (specs / "c_bad.json").write_text(
        json.dumps(
            {
                "pipeline": {"name": "bad"},
                "input": {"pfs": {"repo": "nowhere", "glob": "/"}},
                "transform": {"cmd": ["true"]},
            }
        )
    )
    bad = deploy(served, "--target", "toy", "--specs-dir", str(specs))
    assert bad.returncode != 0 and "c_bad.json" in bad.stderr and "nowhere" in bad.stderr
    down = subprocess.run(
        [CHURN, "deploy", "--pachd", "localhost:1", "--target", "toy", "--specs-dir", str(specs)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert down.returncode != 0 and "localhost:1" in down.stderr


def test_dependency_order_and_cycles() -> None:
    def sf(name: str, *repos: str) -> SpecFile:
        spec = {
            "pipeline": {"name": name},
            "input": {"cross": [{"pfs": {"repo": r, "glob": "/"}} for r in repos]},
        }
        return SpecFile(name, Path(f"{name}.json"), spec, None)

    order = [s.name for s in deploy_order([sf("c", "a", "b"), sf("b", "a"), sf("a", "raw")])]
    assert order == ["a", "b", "c"]
    with pytest.raises(SpecError, match="cycle"):
        deploy_order([sf("x", "y"), sf("y", "x")])


def test_spec_differences_ignore_server_defaults() -> None:
    from python_pachyderm.proto.v2.pps import pps_pb2

    spec = {
        "pipeline": {"name": "p"},
        "input": {"pfs": {"repo": "r", "glob": "/*"}},
        "transform": {"image": "i", "cmd": ["a"]},
    }
    req = python_pachyderm.parse_dict_pipeline_spec(spec)
    details = pps_pb2.PipelineInfo.Details()
    details.transform.CopyFrom(req.transform)
    details.input.CopyFrom(req.input)
    details.input.pfs.branch = "master"  # filled in by pachd
    details.datum_tries = 3
    details.salt = "abc"
    assert spec_differences(req, details) == []
    details.transform.cmd.append("b")
    details.egress.URL = "s3://x"
    assert spec_differences(req, details) == ["egress", "transform"]


@pytest.fixture(scope="module")
def local_specs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """specs/local as committed, else rendered from the Jsonnet into a temporary directory."""
    committed = REPO_ROOT / "specs" / "local"
    if committed.is_dir() and any(committed.glob("*.json")):
        return committed
    out = tmp_path_factory.mktemp("specs") / "local"
    r = subprocess.run(
        [CHURN, "render", "-t", "local", "--out", str(out)], capture_output=True, text=True, timeout=120
    )
    if r.returncode != 0:
        pytest.skip(f"specs/local not available and rendering failed: {r.stderr.strip()}")
    return out


def test_deploy_local_target(served: Served, local_specs: Path) -> None:
    first = deploy(served, "--target", "local", "--specs-dir", str(local_specs))
    assert first.returncode == 0, first.stderr
    created = re.findall(r"^pipeline (\S+): created$", first.stdout, re.M)
    assert len(created) == len(list(local_specs.glob("*.json"))) == 13
    assert (
        created.index("churn_train_queries")
        < created.index("churn_train_data")
        < created.index("churn_model")
    )
    assert created.index("churn_model") < created.index("churn_predict")
    assert created.index("churn_score_features") < created.index("churn_predict")
    second = deploy(served, "--target", "local", "--specs-dir", str(local_specs))
    assert second.returncode == 0, second.stderr
    assert "pipelines: 13 unchanged; no changes" in second.stdout
    c = served.client()
    predict = next(c.inspect_pipeline("churn_predict", details=True))
    assert predict.details.egress.sql_database.secret.name == "snowflakesecret"
    assert {p.pipeline.name for p in c.list_pipeline()} == set(created)


def _sql(query: str) -> str:
    r = subprocess.run([CHURN, "warehouse", "sql", query], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.slow
def test_deploy_local_target_and_tick_runs_the_dag(served: Served, local_specs: Path) -> None:
    seed = subprocess.run(
        [CHURN, "warehouse", "seed", "--members", "400", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert seed.returncode == 0, seed.stderr
    run = deploy(served, "--target", "local", "--specs-dir", str(local_specs), "--tick")
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [ln.split() for ln in run.stdout.splitlines() if ln.startswith("churn_")]
    states = {(r[0], r[2]) for r in rows if len(r) > 2 and re.fullmatch(r"[0-9a-f]{32}", r[1])}
    assert {name for name, _ in states} >= {
        "churn_model",
        "churn_predict",
        "churn_train_data",
        "churn_score_data",
    }
    assert {state for _, state in states} == {"SUCCESS"}
    scored = _sql("select count(*) as n from CHURN_SCORES").split()
    expected = _sql("select count(*) as n from SCORE").split()
    assert scored[-1] == expected[-1] and int(scored[-1]) > 0
