"""`churn validate`: each check catches its error, naming the spec file and the JSON path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from churn.pachyderm_schema import find_schema, load_schema, locate_schema
from churn.validate import Issue, Policy, validate_files
from helpers import REPO_ROOT

IMAGE = "ghcr.io/churn-pachlet/churn:0.1.0"
SECRETS = {"snowflakesecret": frozenset({"PACHYDERM_SQL_PASSWORD"})}
CLUSTER = Policy(declared_secrets=SECRETS, allow_floating_tags=False)
LOCAL = Policy(declared_secrets=SECRETS, allow_floating_tags=True)


def _spec(name: str, input_: dict[str, Any], **extra: Any) -> dict[str, Any]:
    # `churn` is a console script of this project that always imports, so only the tested check fires.
    return {
        "pipeline": {"name": name},
        "input": input_,
        "transform": {"image": IMAGE, "cmd": ["churn", "--help"]},
        **extra,
    }


def _good_set() -> dict[str, dict[str, Any]]:
    return {
        "ticks": _spec("ticks", {"cron": {"name": "in", "spec": "@daily", "overwrite": True}}),
        "ingest": _spec(
            "ingest",
            {"pfs": {"repo": "ticks", "glob": "/*", "name": "queries"}},
            transform={
                "image": IMAGE,
                "cmd": ["churn", "--help"],
                "secrets": [
                    {
                        "name": "snowflakesecret",
                        "key": "PACHYDERM_SQL_PASSWORD",
                        "envVar": "PACHYDERM_SQL_PASSWORD",
                    }
                ],
            },
        ),
        "score": _spec(
            "score",
            {
                "cross": [
                    {"pfs": {"repo": "ingest", "glob": "/*", "name": "features"}},
                    {"pfs": {"repo": "ticks", "glob": "/", "name": "model"}},
                ]
            },
            egress={
                "sqlDatabase": {
                    "url": "snowflake://CHURN_SVC@myorg-myaccount/KKBOX/PUBLIC?warehouse=COMPUTE_WH",
                    "fileFormat": {"type": "CSV", "columns": ["MSNO"]},
                    "secret": {"name": "snowflakesecret", "key": "PACHYDERM_SQL_PASSWORD"},
                }
            },
            resourceRequests={"cpu": 0.5, "memory": "1Gi"},
            parallelismSpec={"constant": 2},
            datumTries=3,
        ),
    }


SCHEMA_PATH = locate_schema(REPO_ROOT)
# The 2.8+ schema is not shipped (Pachyderm License); it lives in the shared reference next to the
# checkout. Where that is absent, validation runs without it and only the schema's own checks skip.
needs_schema = pytest.mark.skipif(
    SCHEMA_PATH is None,
    reason="Pachyderm's CreatePipelineRequest.schema.json not found (../shared/reference)",
)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any] | None:
    return load_schema(SCHEMA_PATH) if SCHEMA_PATH is not None else None


def _validate(
    tmp_path: Path, specs: dict[str, dict[str, Any]], policy: Policy, schema: dict | None
) -> list[Issue]:
    directory = tmp_path / "specs" / "cluster"
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, spec in specs.items():
        path = directory / f"{name}.json"
        path.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
        files[f"specs/cluster/{name}.json"] = path
    return validate_files(files, policy, schema)


def _only(issues: list[Issue], file: str, path: str, fragment: str) -> Issue:
    """Exactly the expected issue is reported (the rest of the set is valid)."""
    assert [str(i) for i in issues] and len(issues) == 1, [str(i) for i in issues]
    issue = issues[0]
    assert issue.file == file and issue.path == path, str(issue)
    assert fragment in issue.message, str(issue)
    assert str(issue).startswith(f"{file}: {path}: ")
    return issue


def test_good_set_has_no_issues(tmp_path: Path, schema: dict | None) -> None:
    assert _validate(tmp_path, _good_set(), CLUSTER, schema) == []


def test_cycle_is_reported(tmp_path: Path, schema: dict | None) -> None:
    specs = _good_set()
    specs["ticks"] = _spec("ticks", {"pfs": {"repo": "score", "glob": "/"}})
    specs["score"]["input"]["cross"][1]["pfs"]["repo"] = "ingest"
    issues = _validate(tmp_path, specs, CLUSTER, schema)
    # one cycle, reported once, at the input that closes it, in data-flow order
    _only(
        issues,
        "specs/cluster/ingest.json",
        "$.input.pfs.repo",
        "cycle in the DAG: ticks -> ingest -> score -> ticks",
    )


def test_unknown_repo(tmp_path: Path, schema: dict | None) -> None:
    specs = _good_set()
    specs["score"]["input"]["cross"][1]["pfs"]["repo"] = "churn_modle"
    _only(
        _validate(tmp_path, specs, CLUSTER, schema),
        "specs/cluster/score.json",
        "$.input.cross[1].pfs.repo",
        "unknown repo 'churn_modle'",
    )


def test_declared_source_repo_is_accepted(tmp_path: Path, schema: dict | None) -> None:
    specs = _good_set()
    specs["score"]["input"]["cross"][1]["pfs"]["repo"] = "raw_uploads"
    policy = Policy(
        declared_secrets=SECRETS, source_repos=frozenset({"raw_uploads"}), allow_floating_tags=False
    )
    assert _validate(tmp_path, specs, policy, schema) == []


@pytest.mark.parametrize("bad", ["@dailyy", "61 * * * *", "* * *", "@every 5 minutes"])
def test_bad_cron(tmp_path: Path, schema: dict | None, bad: str) -> None:
    specs = _good_set()
    specs["ticks"]["input"]["cron"]["spec"] = bad
    _only(
        _validate(tmp_path, specs, CLUSTER, schema), "specs/cluster/ticks.json", "$.input.cron.spec", "cron"
    )


@pytest.mark.parametrize("good", ["@every 30s", "0 4 * * *", "@never", "@hourly"])
def test_good_crons(tmp_path: Path, schema: dict | None, good: str) -> None:
    specs = _good_set()
    specs["ticks"]["input"]["cron"]["spec"] = good
    assert _validate(tmp_path, specs, CLUSTER, schema) == []


@pytest.mark.parametrize("bad", ["/[a-", "/{a,b", ""])
def test_bad_glob(tmp_path: Path, schema: dict | None, bad: str) -> None:
    specs = _good_set()
    specs["score"]["input"]["cross"][0]["pfs"]["glob"] = bad
    _only(
        _validate(tmp_path, specs, CLUSTER, schema),
        "specs/cluster/score.json",
        "$.input.cross[0].pfs.glob",
        "glob",
    )


def test_unknown_field(tmp_path: Path, schema: dict | None) -> None:
    specs = _good_set()
    specs["ingest"]["transform"]["comand"] = ["x"]
    _only(
        _validate(tmp_path, specs, CLUSTER, schema),
        "specs/cluster/ingest.json",
        "$.transform.comand",
        "unknown field 'comand'",
    )


@needs_schema
def test_unknown_field_is_also_rejected_by_python_pachyderm_and_the_schema(schema: dict | None) -> None:
    from churn.pachyderm_schema import check_proto, check_schema

    spec = _good_set()["ingest"]
    spec["transform"]["comand"] = ["x"]
    assert "comand" in (check_proto(spec) or "")
    assert any(path == "$.transform" and "comand" in msg for path, msg in check_schema(spec, schema))


@pytest.mark.parametrize(
    ("field", "value", "path", "fragment"),
    [
        pytest.param("dryRun", True, "$.dryRun", "only in Pachyderm 2.7", marks=needs_schema),
        pytest.param(
            "maximumExpectedUptime",
            "60s",
            "$.maximumExpectedUptime",
            "only in Pachyderm 2.8+",
            marks=needs_schema,
        ),
        ("datum_tries", 2, "$.datum_tries", "use 'datumTries'"),
    ],
)
def test_fields_outside_both_versions(
    tmp_path: Path, schema: dict | None, field: str, value: Any, path: str, fragment: str
) -> None:
    specs = _good_set()
    specs["ticks"][field] = value
    _only(_validate(tmp_path, specs, CLUSTER, schema), "specs/cluster/ticks.json", path, fragment)


@needs_schema
def test_schema_type_error_names_the_path(tmp_path: Path, schema: dict | None) -> None:
    specs = _good_set()
    specs["score"]["resourceRequests"]["cpu"] = "lots"
    issues = _validate(tmp_path, specs, CLUSTER, schema)
    paths = {(i.file, i.path) for i in issues}
    assert ("specs/cluster/score.json", "$.resourceRequests.cpu") in paths, [str(i) for i in issues]


@pytest.mark.parametrize(
    "image", ["ghcr.io/churn-pachlet/churn:latest", "ghcr.io/churn-pachlet/churn", "churn"]
)
def test_floating_tag_on_cluster(tmp_path: Path, schema: dict | None, image: str) -> None:
    specs = _good_set()
    specs["ingest"]["transform"]["image"] = image
    _only(
        _validate(tmp_path, specs, CLUSTER, schema),
        "specs/cluster/ingest.json",
        "$.transform.image",
        "floating tag",
    )
    assert _validate(tmp_path, specs, LOCAL, schema) == []


def test_digest_and_registry_port_are_pinned(tmp_path: Path, schema: dict | None) -> None:
    specs = _good_set()
    specs["ingest"]["transform"]["image"] = "ghcr.io/churn-pachlet/churn@sha256:" + "a" * 64
    specs["score"]["transform"]["image"] = "registry.local:5000/churn:0.1.0"
    assert _validate(tmp_path, specs, CLUSTER, schema) == []


def test_missing_secret_in_transform(tmp_path: Path, schema: dict | None) -> None:
    specs = _good_set()
    specs["ingest"]["transform"]["secrets"][0]["name"] = "snowflake-prod"
    _only(
        _validate(tmp_path, specs, CLUSTER, schema),
        "specs/cluster/ingest.json",
        "$.transform.secrets[0].name",
        "secret 'snowflake-prod' is not declared",
    )


def test_missing_secret_in_egress(tmp_path: Path, schema: dict | None) -> None:
    specs = _good_set()
    specs["score"]["egress"]["sqlDatabase"]["secret"]["key"] = "PASSWORD"
    _only(
        _validate(tmp_path, specs, CLUSTER, schema),
        "specs/cluster/score.json",
        "$.egress.sqlDatabase.secret.key",
        "no declared key 'PASSWORD'",
    )
    del specs["score"]["egress"]["sqlDatabase"]["secret"]
    _only(
        _validate(tmp_path, specs, CLUSTER, schema),
        "specs/cluster/score.json",
        "$.egress.sqlDatabase.secret",
        "requires a secret",
    )


def test_duplicate_input_names_in_cross(tmp_path: Path, schema: dict | None) -> None:
    specs = _good_set()
    specs["score"]["input"]["cross"][1]["pfs"]["name"] = "features"
    _only(
        _validate(tmp_path, specs, CLUSTER, schema),
        "specs/cluster/score.json",
        "$.input.cross[1]",
        "duplicate input name 'features'",
    )


def test_union_branches_may_share_a_name(tmp_path: Path, schema: dict | None) -> None:
    specs = _good_set()
    specs["score"]["input"] = {
        "union": [
            {"pfs": {"repo": "ingest", "glob": "/*", "name": "x"}},
            {"pfs": {"repo": "ticks", "glob": "/*", "name": "x"}},
        ]
    }
    assert _validate(tmp_path, specs, CLUSTER, schema) == []


def test_unknown_entry_point(tmp_path: Path, schema: dict | None) -> None:
    specs = _good_set()
    specs["ingest"]["transform"]["cmd"] = ["churn-ingestt", "--out", "/pfs/out"]
    _only(
        _validate(tmp_path, specs, CLUSTER, schema),
        "specs/cluster/ingest.json",
        "$.transform.cmd[0]",
        "not a console script",
    )


def test_python_module_entry_point(tmp_path: Path, schema: dict | None) -> None:
    specs = _good_set()
    specs["ingest"]["transform"]["cmd"] = ["python", "-m", "churn.cli"]
    assert _validate(tmp_path, specs, CLUSTER, schema) == []
    specs["ingest"]["transform"]["cmd"] = ["python", "-m", "churn.no_such_stage"]
    _only(
        _validate(tmp_path, specs, CLUSTER, schema),
        "specs/cluster/ingest.json",
        "$.transform.cmd[2]",
        "not found",
    )


def test_machine_specific_path(tmp_path: Path, schema: dict | None) -> None:
    specs = _good_set()
    specs["ingest"]["transform"]["cmd"] = ["churn", "--help", "/home/alice/churn/warehouse"]
    _only(
        _validate(tmp_path, specs, LOCAL, schema),
        "specs/cluster/ingest.json",
        "$.transform.cmd[2]",
        "machine-specific",
    )


def test_file_name_must_match_pipeline(tmp_path: Path, schema: dict | None) -> None:
    specs = _good_set()
    specs["ticks"]["pipeline"]["name"] = "tick"
    specs["ingest"]["input"]["pfs"]["repo"] = "tick"
    specs["score"]["input"]["cross"][1]["pfs"]["repo"] = "tick"
    _only(
        _validate(tmp_path, specs, CLUSTER, schema),
        "specs/cluster/ticks.json",
        "$.pipeline.name",
        "file named",
    )


def test_two_input_types_in_one_node(tmp_path: Path, schema: dict | None) -> None:
    specs = _good_set()
    specs["ingest"]["input"]["cron"] = {"name": "tick", "spec": "@daily"}
    issues = _validate(tmp_path, specs, CLUSTER, schema)
    assert any(i.path == "$.input" and "multiple input types" in i.message for i in issues), [
        str(i) for i in issues
    ]


def test_cli_reports_file_and_path_and_fails(tmp_path: Path) -> None:
    """The real `churn validate` command on a broken target dir."""
    specs = _good_set()
    specs["score"]["transform"]["image"] = "ghcr.io/churn-pachlet/churn:latest"
    directory = tmp_path / "cluster"
    directory.mkdir()
    for name, spec in specs.items():
        (directory / f"{name}.json").write_text(json.dumps(spec))
    # the project's real cluster target declares snowflakesecret, so only the floating tag is wrong
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "churn"),
            "validate",
            "--specs-dir",
            str(directory),
            "--target",
            "cluster",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, **({"CHURN_PACHYDERM_SCHEMA": str(SCHEMA_PATH)} if SCHEMA_PATH else {})},
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "cluster/score.json: $.transform.image: floating tag 'latest'" in result.stderr
    assert "cluster: 3 specs" in result.stdout


@needs_schema
def test_schema_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from churn.errors import SchemaNotFoundError

    copy_path = tmp_path / "schema.json"
    copy_path.write_text(find_schema(REPO_ROOT).read_text())
    monkeypatch.setenv("CHURN_PACHYDERM_SCHEMA", str(copy_path))
    assert find_schema(REPO_ROOT) == copy_path.resolve()
    monkeypatch.setenv("CHURN_PACHYDERM_SCHEMA", str(tmp_path / "missing.json"))
    with pytest.raises(SchemaNotFoundError, match="missing.json"):
        find_schema(REPO_ROOT)
    monkeypatch.delenv("CHURN_PACHYDERM_SCHEMA")
    with pytest.raises(SchemaNotFoundError, match="CHURN_PACHYDERM_SCHEMA"):
        find_schema(tmp_path / "elsewhere" / "repo")


def test_native_snowflake_egress_rejected_on_v2_8(tmp_path: Path, schema: dict | None) -> None:
    policy = Policy(declared_secrets=SECRETS, allow_floating_tags=False, native_sql_egress=False)
    _only(
        _validate(tmp_path, _good_set(), policy, schema),
        "specs/cluster/score.json",
        "$.egress.sqlDatabase",
        "no Snowflake egress driver",
    )


def test_without_the_schema_proto_checks_still_catch_unknown_and_snake_case_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHURN_PACHYDERM_SCHEMA", raising=False)
    assert locate_schema(tmp_path / "elsewhere" / "repo") is None
    monkeypatch.setenv("CHURN_PACHYDERM_SCHEMA", str(tmp_path / "missing.json"))
    with pytest.raises(Exception, match="missing.json"):
        locate_schema(tmp_path / "elsewhere" / "repo")  # asked for explicitly: still an error
    specs = _good_set()
    specs["ingest"]["transform"]["comand"] = ["x"]
    specs["ticks"]["datum_tries"] = 2
    issues = {(i.file, i.path): i.message for i in _validate(tmp_path, specs, CLUSTER, None)}
    assert issues == {
        ("specs/cluster/ingest.json", "$.transform.comand"): "unknown field 'comand'",
        (
            "specs/cluster/ticks.json",
            "$.datum_tries",
        ): "snake_case field 'datum_tries': use 'datumTries' (camelCase)",
    }
