"""`churn render`: the Jsonnet renders the contract DAG, `make specs` is idempotent, committed specs don't drift."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import _jsonnet
import pytest

from churn.render import dump_spec, find_project, render_target
from churn.specs import dependency_order, input_repos
from helpers import REPO_ROOT

CHURN = str(Path(sys.executable).parent / "churn")
SQL = [REPO_ROOT / "pipelines" / "sql" / "train.sql", REPO_ROOT / "pipelines" / "sql" / "score.sql"]
EMBEDDED_URL = "snowflake://churn@embedded/KKBOX/PUBLIC?warehouse=LOCAL_WH"
TARGETS = ["local", "cluster", "cluster-v2.8"]
TRAIN = [
    "churn_train_queries",
    "churn_train_data",
    "churn_train_clean",
    "churn_train_features",
    "churn_model",
]
SCORE = [
    "churn_score_queries",
    "churn_score_data",
    "churn_score_clean",
    "churn_score_features",
    "churn_predict",
]
MONITOR = ["churn_outcomes_queries", "churn_outcomes_data", "churn_monitor"]
SCORE_COLUMNS = ["MSNO", "CHURN_PROBABILITY", "CHURN_PREDICTION", "MODEL_COMMIT", "GLOBAL_ID", "SCORED_AT"]

needs_sql = pytest.mark.skipif(
    not all(p.is_file() for p in SQL), reason="pipelines/sql/train.sql and score.sql not written yet"
)


def _run(*args: str, cwd: Path = REPO_ROOT, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([CHURN, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, dict[str, Any]]]:
    if not all(p.is_file() for p in SQL):
        pytest.skip("pipelines/sql/*.sql not written yet")
    project = find_project(REPO_ROOT)
    return {t: render_target(project, t) for t in TARGETS}


@needs_sql
def test_contract_dag(rendered: dict[str, dict[str, dict[str, Any]]]) -> None:
    for target in TARGETS:
        specs = rendered[target]
        expected = TRAIN + SCORE + MONITOR + (["churn_egress"] if target == "cluster-v2.8" else [])
        assert sorted(specs) == sorted(expected), target
        # the outcomes feed only the monitor: no training or scoring pipeline reads them
        readers = [n for n, s in specs.items() if "churn_outcomes_data" in json.dumps(s.get("input"))]
        assert readers == ["churn_monitor"], target
        inputs = [leaf["pfs"]["repo"] for leaf in specs["churn_monitor"]["input"]["cross"]]
        assert inputs == ["churn_predict", "churn_model", "churn_score_features", "churn_outcomes_data"]
        assert specs["churn_monitor"]["transform"]["cmd"][:2] == ["churn", "monitor"]
        train_cmd = specs["churn_model"]["transform"]["cmd"]
        assert train_cmd[train_cmd.index("--policy") + 1] == "top-share"
        assert train_cmd[train_cmd.index("--contact-share") + 1] == "0.1"
        cron = specs["churn_train_queries"]["input"]["cron"]
        assert cron["name"] == "in" and cron["overwrite"] is True
        assert specs["churn_train_data"]["input"]["pfs"] == {
            "name": "queries",
            "repo": "churn_train_queries",
            "glob": "/*",
        }
        assert specs["churn_score_clean"]["input"]["pfs"] == {
            "name": "data",
            "repo": "churn_score_data",
            "glob": "/*",
        }
        assert specs["churn_train_features"]["input"]["pfs"]["glob"] == "/data/*"
        assert specs["churn_model"]["input"]["pfs"] == {
            "name": "features",
            "repo": "churn_train_features",
            "glob": "/",
        }
        cross = specs["churn_predict"]["input"]["cross"]
        assert cross == [
            {"pfs": {"name": "features", "repo": "churn_score_features", "glob": "/*"}},
            {"pfs": {"name": "model", "repo": "churn_model", "glob": "/"}},
        ]
        ingest = specs["churn_score_data"]["transform"]
        assert ingest["cmd"][0] == "churn-ingest"
        assert ingest["secrets"] == [
            {"name": "snowflakesecret", "key": "PACHYDERM_SQL_PASSWORD", "envVar": "PACHYDERM_SQL_PASSWORD"}
        ]
        query = specs["churn_score_queries"]["transform"]["cmd"]
        assert query[:3] == ["churn-queries", "--tick-dir", "/pfs/in"]
        assert query[query.index("--query") + 1] == SQL[1].read_text()


@needs_sql
def test_egress_per_target(rendered: dict[str, dict[str, dict[str, Any]]]) -> None:
    for target in ("local", "cluster"):
        egress = rendered[target]["churn_predict"]["egress"]["sqlDatabase"]
        assert egress["fileFormat"] == {"type": "CSV", "columns": SCORE_COLUMNS}
        assert egress["secret"] == {"name": "snowflakesecret", "key": "PACHYDERM_SQL_PASSWORD"}
    assert rendered["local"]["churn_predict"]["egress"]["sqlDatabase"]["url"] == EMBEDDED_URL
    v28 = rendered["cluster-v2.8"]
    assert "egress" not in v28["churn_predict"]
    egress = v28["churn_egress"]
    assert egress["input"]["pfs"] == {"name": "predict", "repo": "churn_predict", "glob": "/"}
    cmd = egress["transform"]["cmd"]
    assert cmd[0] == "churn-egress" and cmd[cmd.index("--columns") + 1] == ",".join(SCORE_COLUMNS)
    assert cmd[cmd.index("--url") + 1] == rendered["cluster"]["churn_predict"]["egress"]["sqlDatabase"]["url"]


@needs_sql
def test_local_target_is_portable(rendered: dict[str, dict[str, dict[str, Any]]]) -> None:
    try:
        from churn.warehouse import EMBEDDED_URL as warehouse_url
    except ImportError:
        warehouse_url = EMBEDDED_URL
    assert warehouse_url == EMBEDDED_URL
    text = "".join(dump_spec(s) for s in rendered["local"].values())
    for machine in (str(REPO_ROOT), str(Path.home()), "/Users/", "/tmp/"):
        assert machine not in text
    for spec in rendered["local"].values():
        assert spec["transform"]["image"] == "churn-pachlet:dev"
    data = rendered["local"]["churn_train_data"]["transform"]["cmd"]
    assert data[data.index("--url") + 1] == EMBEDDED_URL


@needs_sql
def test_cluster_targets_are_pinned_and_sized(rendered: dict[str, dict[str, dict[str, Any]]]) -> None:
    for target in ("cluster", "cluster-v2.8"):
        for name, spec in rendered[target].items():
            assert spec["transform"]["image"] == "ghcr.io/churn-pachlet/churn:0.1.0", name
            assert {"cpu", "memory"} <= set(spec["resourceRequests"]), name
            assert spec["datumTries"] >= 1
        url = rendered[target]["churn_train_data"]["transform"]["cmd"]
        assert (
            "snowflake://CHURN_SVC@myorg-myaccount/KKBOX/PUBLIC?warehouse=COMPUTE_WH&role=CHURN_ROLE" in url
        )
        for per_shard in ("churn_train_clean", "churn_score_features", "churn_predict"):
            assert rendered[target][per_shard]["parallelismSpec"]["constant"] > 1
        assert rendered[target]["churn_score_queries"]["input"]["cron"]["spec"] == "@daily"


@needs_sql
def test_tla_overrides_connection(tmp_path: Path) -> None:
    out = _run(
        "render", "--target", "cluster", "--stdout", "--tla", "account=acme-prod", "--tla", "role="
    ).stdout
    decoder, specs, pos = json.JSONDecoder(), [], 0
    while pos < len(out):
        spec, pos = decoder.raw_decode(out, pos)
        specs.append(spec)
        pos += len(out[pos:]) - len(out[pos:].lstrip())
    by_name = {s["pipeline"]["name"]: s for s in specs}
    url = by_name["churn_predict"]["egress"]["sqlDatabase"]["url"]
    # an empty override means "target default", so the role stays
    assert url == "snowflake://CHURN_SVC@acme-prod/KKBOX/PUBLIC?warehouse=COMPUTE_WH&role=CHURN_ROLE"
    # --stdout is in dependency order: every pipeline after the pipelines it reads
    names = [s["pipeline"]["name"] for s in specs]
    for i, spec in enumerate(specs):
        for repo in input_repos(spec["input"]):
            if repo in by_name:
                assert names.index(repo) < i, (repo, names)


@needs_sql
def test_committed_specs_do_not_drift(tmp_path: Path) -> None:
    """Render every target into a temp dir and compare with the committed specs/ byte for byte."""
    _run("render", "--all", "--out", str(tmp_path))
    for target in TARGETS:
        committed = REPO_ROOT / "specs" / target
        fresh = tmp_path / target
        names = sorted(p.name for p in fresh.glob("*.json"))
        assert names == sorted(p.name for p in committed.glob("*.json")), f"{target}: run `make specs`"
        match, mismatch, errors = filecmp.cmpfiles(fresh, committed, names, shallow=False)
        assert not mismatch and not errors, (
            f"specs/{target} drifted from the Jsonnet: {mismatch}; run `make specs`"
        )
    assert _run("render", "--all", "--check").returncode == 0


@needs_sql
def test_make_specs_is_idempotent(tmp_path: Path) -> None:
    """`make specs` twice on a copy of the project: the second run changes nothing; stale specs are pruned."""
    for part in ("jsonnet", "pipelines", "specs", "Makefile"):
        src = REPO_ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / part)
    (tmp_path / "specs" / "local" / "churn_old.json").write_text("{}\n")
    venv = REPO_ROOT / ".venv"
    (tmp_path / ".venv").symlink_to(venv)
    (venv / ".installed").exists() or pytest.skip(".venv not set up by make")
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}

    def make_specs() -> str:
        # -o: never re-run `setup` (pip) from the copy; the venv is the project's own
        result = subprocess.run(
            ["make", "-s", "-o", ".venv/.installed", "specs"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        return result.stderr

    make_specs()
    assert not (tmp_path / "specs" / "local" / "churn_old.json").exists()
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "specs").rglob("*.json")}
    second = make_specs()
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "specs").rglob("*.json")}
    assert before == after
    assert "(0 changed)" in second and "changed)" in second
    assert second.count("(0 changed)") == len(TARGETS)


@needs_sql
def test_all_targets_validate() -> None:
    result = _run("validate", check=False)
    assert result.returncode == 0, result.stderr
    for target in TARGETS:
        assert f"{target}: " in result.stdout and "ok" in result.stdout


def test_spec_text_is_canonical() -> None:
    text = dump_spec({"transform": {"image": "x"}, "pipeline": {"name": "a"}})
    assert text == '{\n  "pipeline": {\n    "name": "a"\n  },\n  "transform": {\n    "image": "x"\n  }\n}\n'


def test_dependency_order_puts_producers_first() -> None:
    specs = {
        "c": {"input": {"cross": [{"pfs": {"repo": "b"}}, {"pfs": {"repo": "a"}}]}},
        "b": {"input": {"pfs": {"repo": "a"}}},
        "a": {"input": {"cron": {"name": "in"}}},
    }
    assert dependency_order(specs) == ["a", "b", "c"]


def _evaluate_template(**tla: str) -> list[dict[str, Any]]:
    text = _jsonnet.evaluate_file(
        str(REPO_ROOT / "jsonnet" / "sql_ingest_cron.jsonnet"),
        jpathdir=[str(REPO_ROOT / "jsonnet")],
        tla_vars=tla,
    )
    return json.loads(text)


def test_import_template_keeps_pachyderms_interface() -> None:
    """Called like Pachyderm's sql_ingest_cron.jsonnet: `<name>_queries` and `<name>`, string args."""
    first, second = _evaluate_template(
        name="members",
        url="snowflake://U@acct/DB/PUBLIC?warehouse=WH",
        query="SELECT * FROM MEMBERS",
        format="csv",
        cronSpec="@every 1h",
        secretName="snowflakesecret",
        shards="4",
        header="false",
    )
    assert first["pipeline"]["name"] == "members_queries"
    assert first["input"] == {"cron": {"name": "in", "spec": "@every 1h", "overwrite": True}}
    assert second["pipeline"]["name"] == "members"
    assert second["input"]["pfs"] == {"name": "queries", "repo": "members_queries", "glob": "/*"}
    cmd = second["transform"]["cmd"]
    assert cmd[cmd.index("--shards") + 1] == "4" and "--no-header" in cmd
    assert second["transform"]["secrets"][0]["name"] == "snowflakesecret"


def test_import_template_rejects_other_formats() -> None:
    with pytest.raises(RuntimeError, match="format must be"):
        _evaluate_template(
            name="m",
            url="snowflake://u@a/d/s",
            query="SELECT 1",
            format="json",
            cronSpec="@daily",
            secretName="s",
        )


def test_unknown_target_is_one_clear_line() -> None:
    result = _run("render", "--target", "staging", "--stdout", check=False)
    assert result.returncode != 0
    assert "unknown target" in result.stderr and "cluster-v2.8" in result.stderr
