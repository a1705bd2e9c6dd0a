"""Pipeline spec loading, normalizing and validation.

Error texts are Pachyderm 2.7.6's, from src/server/pps/server/api_server.go (validatePipelineRequest,
validatePipeline, validateInput, validateNames, validateName, validateSecret), src/internal/ancestry
(ValidateName) and src/server/pfs (repo not found, own-provenance) — pachlet adds the field and pipeline.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pachlet.errors import SpecError
from pachlet.spec import (
    cron_inputs,
    dependency_order,
    input_repos,
    load_spec_file,
    normalize_spec,
    validate_spec,
    visit_inputs,
)


def base(name: str = "p", **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "pipeline": {"name": name},
        "transform": {"cmd": ["sh"], "image": "img:1"},
        "input": {"pfs": {"repo": "data", "glob": "/*"}},
    }
    spec.update(extra)
    return spec


# --- loading -----------------------------------------------------------------------------------------


def test_load_json_object_list_and_stream(tmp_path: Path) -> None:
    one, two = base("a"), base("b")
    (tmp_path / "one.json").write_text(json.dumps(one))
    (tmp_path / "list.json").write_text(json.dumps([one, two]))
    (tmp_path / "stream.json").write_text(json.dumps(one, indent=2) + "\n" + json.dumps(two))
    assert load_spec_file(tmp_path / "one.json") == [one]
    assert load_spec_file(tmp_path / "list.json") == [one, two]
    assert load_spec_file(tmp_path / "stream.json") == [one, two]


def test_load_yaml_multi_doc(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(
        "pipeline: {name: a}\ntransform: {cmd: [sh]}\n---\n- pipeline: {name: b}\n- pipeline: {name: c}\n"
    )
    assert [s["pipeline"]["name"] for s in load_spec_file(f)] == ["a", "b", "c"]


def test_load_jsonnet_with_top_level_args(tmp_path: Path) -> None:
    f = tmp_path / "t.jsonnet"
    f.write_text(
        "function(name, shards) [{pipeline: {name: name + '_queries'}}, {pipeline: {name: name}, n: shards}]"
    )
    specs = load_spec_file(f, ["name=churn", "shards=4"])
    assert specs == [{"pipeline": {"name": "churn_queries"}}, {"pipeline": {"name": "churn"}, "n": "4"}]
    assert load_spec_file(f, {"name": "x", "shards": "1"})[1]["pipeline"]["name"] == "x"


@pytest.mark.parametrize(
    ("name", "text", "args", "match"),
    [
        ("bad.json", '{"pipeline": ', None, r"bad.json: invalid JSON at line 1"),
        ("bad.yaml", "a: [1,\n", None, r"bad.yaml: invalid YAML"),
        ("bad.jsonnet", "function(name) {x: name}", None, r"bad.jsonnet: jsonnet: .*name"),
        ("num.json", "[1]", None, r"num.json: expected a pipeline spec object"),
        ("empty.yaml", "", None, r"empty.yaml: no pipeline spec found"),
    ],
)
def test_load_errors_name_the_file(tmp_path: Path, name: str, text: str, args: Any, match: str) -> None:
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(SpecError, match=match):
        load_spec_file(f, args)


# --- normalizing -------------------------------------------------------------------------------------


def test_normalize_snake_and_camel_case_agree_and_defaults_apply() -> None:
    snake = {
        "pipeline": {"name": "p"},
        "transform": {"cmd": ["sh"], "secrets": [{"name": "s", "env_var": "PW", "key": "PW"}]},
        "input": {
            "cross": [{"pfs": {"repo": "a", "glob": "/*/"}}, {"cron": {"name": "tick", "spec": "@daily"}}]
        },
        "parallelism_spec": {"constant": 4},
        "datum_tries": 5,
    }
    camel = copy.deepcopy(snake)
    camel["transform"]["secrets"][0] = {"name": "s", "envVar": "PW", "key": "PW"}
    camel["parallelismSpec"] = camel.pop("parallelism_spec")
    camel["datumTries"] = camel.pop("datum_tries")
    n = normalize_spec(snake)
    assert n == normalize_spec(camel)
    assert n["transform"]["image"] == "ubuntu:20.04"
    assert n["datumTries"] == 5 and n["parallelismSpec"] == {"constant": 4}
    assert n["reprocessSpec"] == "until_success" and n["outputBranch"] == "master"
    assert n["input"]["cross"][0]["pfs"] == {"name": "a", "repo": "a", "branch": "master", "glob": "/*"}
    assert n["input"]["cross"][1]["cron"]["repo"] == "p_tick"
    d = normalize_spec(base())
    assert (
        d["datumTries"] == 3
        and d["parallelismSpec"] == {"constant": 1}
        and d["transform"]["image"] == "img:1"
    )


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (
            lambda s: s["input"]["pfs"].update(globb="/*"),
            r"src.json: pipeline 'p': field 'input.pfs.globb': unknown",
        ),
        (lambda s: s.update(datumTries="x"), r"field 'datumTries'"),
        (lambda s: s.update(bogus=1), r'unknown field "bogus" in CreatePipelineRequest'),
    ],
)
def test_normalize_rejects_unknown_fields(mutate: Any, match: str) -> None:
    spec = base()
    mutate(spec)
    with pytest.raises(SpecError, match=match):
        normalize_spec(spec, source="src.json")


# --- validation --------------------------------------------------------------------------------------

KNOWN = {"data", "other"}


def check(spec: dict[str, Any], pipelines: dict[str, dict[str, Any]] | None = None) -> None:
    validate_spec(normalize_spec(spec), known_repos=KNOWN, pipelines=pipelines or {})


def pfs(repo: str, glob: str = "/*", **kw: Any) -> dict[str, Any]:
    return {"pfs": {"repo": repo, "glob": glob, **kw}}


VALIDATION_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("no pipeline", {"transform": {"cmd": ["sh"]}, "input": pfs("data")},
     "invalid pipeline spec: request.Pipeline cannot be nil"),
    ("empty name", base(""), "invalid pipeline spec: request.Pipeline.Name cannot be empty"),
    ("bad chars", base("a.b"),
     r"invalid pipeline name: name \(a.b\) invalid: only alphanumeric characters, underscores, and dashes"),
    ("too long", base("x" * 52), r'pipeline name "x{52}" is 1 characters longer than the 51 max'),
    ("leading underscore", base("_p"), "pipeline names must start with an alphanumeric character"),
    ("no transform", {"pipeline": {"name": "p"}, "input": pfs("data")}, "pipeline must specify a transform"),
    ("reprocess", base(reprocessSpec="sometimes"), "ReprocessSpec must be one of 'until_success' or 'every_job'"),
    ("two types", base(input={"pfs": {"repo": "data", "glob": "/*"}, "cross": [pfs("other")]}),
     r"field 'input': multiple input types set"),
    ("no input type", base(input={}), "no input set"),
    ("dup names cross", base(input={"cross": [pfs("data"), pfs("data")]}), 'name "data" was used more than once'),
    ("dup across cross of union", base(input={"cross": [{"union": [pfs("data"), pfs("other", name="data")]},
                                                        pfs("data")]}), 'name "data" was used more than once'),
    ("named out", base(input=pfs("data", name="out")), "input cannot be named out"),
    ("named .env", base(input=pfs("data", name=".env")), "input cannot be named .env"),
    ("repo out", base(input=pfs("out")), "input cannot be named out"),
    ("no glob", base(input={"pfs": {"repo": "data"}}), r"field 'input.pfs.glob': input must specify a glob"),
    ("no repo", base(input={"pfs": {"glob": "/*"}}), "input must specify a name"),
    ("bad glob", base(input=pfs("data", "/[a")), r"field 'input.pfs.glob': invalid glob '/\[a'"),
    ("commit", base(input=pfs("data", commit="abc")), "input cannot come from a commit"),
    ("bad cron", base(input={"cron": {"name": "t", "spec": "61 * * * *"}}),
     r"field 'input.cron.spec': error parsing cron-spec: .*minute field"),
    ("secret no key", base(transform={"cmd": ["sh"], "secrets": [{"name": "s", "envVar": "X"}]}),
     r"field 'transform.secrets\[0\].key': secret s has env_var set but is missing key"),
    ("unknown repo", base(input=pfs("nope")), r"field 'input': repo nope not found"),
    ("self input", base("data", input=pfs("data")), r"repo data cannot be in the provenance of its own branch"),
    # driver.go createBranch / createRepo check these with ancestry.ValidateName
    ("output branch name", base(outputBranch="v1.0"),
     r"field 'outputBranch': name \(v1.0\) invalid: only alphanumeric characters, underscores, and dashes"),
    ("input branch name", base(input=pfs("data", branch="a/b")),
     r"field 'input.pfs.branch': name \(a/b\) invalid: only alphanumeric"),
    ("cron repo name", base(input={"cron": {"name": "t.1", "spec": "@daily"}}),
     r"field 'input.cron.name': name \(p_t.1\) invalid: only alphanumeric"),
    ("outerJoin outside join", base(input=pfs("data", outerJoin=True)),
     "outerJoin is only meaningful on an input of a join"),
    # api_server.go validatePipeline
    ("spout with input", base(spout={}),
     r"field 'input': spout pipelines \(without a service\) must not have an input"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "spec", "match"), VALIDATION_CASES, ids=[c[0] for c in VALIDATION_CASES])
def test_validation_errors(case: str, spec: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecError, match=match) as info:
        if case in ("no pipeline", "no transform"):
            validate_spec(
                {**spec, "datumTries": 3, "outputBranch": "master"}, known_repos=KNOWN, pipelines={}
            )
        else:
            check(spec)
    assert "\n" not in str(info.value)


def test_join_on_missing_capture_group_is_accepted() -> None:
    """pachd's validateInput does not check joinOn/groupBy against the glob's groups: ohmyglob's Replace
    expands a missing group to "" (an empty key), so the spec is accepted."""
    check(base(input={"join": [pfs("data", "/(*)", joinOn="$2"), pfs("other", "/(*)", joinOn="$1")]}))
    check(base(input={"group": [pfs("data", "/*", groupBy="$1")]}))


def test_cycle_is_named() -> None:
    pipelines = {
        "b": normalize_spec(base("b", input=pfs("a"))),
        "c": normalize_spec(base("c", input=pfs("b"))),
    }
    with pytest.raises(SpecError, match=r"pipeline 'a'.*cycle: a -> c -> b -> a|cycle: a -> b -> c -> a"):
        check(base("a", input=pfs("c")), pipelines)
    # Updating b in place (same name) is not a cycle; reading from another pipeline's output is fine.
    check(base("b", input=pfs("data")), pipelines)
    check(base("d", input={"cross": [pfs("c"), pfs("data")]}), pipelines)


def test_valid_specs_pass() -> None:
    check(base(input={"union": [pfs("data"), pfs("other", name="data")]}))  # union branches may share a name
    check(
        base(
            input={
                "join": [
                    pfs("data", "/(*).csv", joinOn="$1", outerJoin=True),
                    pfs("other", "/(*)", joinOn="$1"),
                ]
            }
        )
    )
    check(base(input={"cron": {"name": "in", "spec": "@every 30s", "overwrite": True}}))
    check(base(input={"group": [pfs("data", "/(*)-*", groupBy="$1")]}))
    check(base("a" * 51))


def test_input_repos_and_cron_inputs() -> None:
    spec = normalize_spec(
        base(
            "q",
            input={
                "cross": [
                    {"cron": {"name": "in", "spec": "@daily", "overwrite": True}},
                    pfs("data", name="d"),
                ]
            },
        )
    )
    assert input_repos(spec["input"], "q") == [("in", "q_in", "master"), ("d", "data", "master")]
    assert cron_inputs(spec) == [{"name": "in", "spec": "@daily", "overwrite": True, "repo": "q_in"}]
    validate_spec(spec, known_repos={"data"}, pipelines={})  # the cron repo needs not exist yet


def test_visit_inputs_is_one_walk_with_kinds_and_paths() -> None:
    tree = {"cross": [pfs("a"), {"union": [pfs("b"), {"cron": {"name": "c", "spec": "@daily"}}]}]}
    pre = [(n.kind, n.path) for n in visit_inputs(tree)]
    assert pre == [
        ("cross", ("input",)),
        ("pfs", ("input", "cross", 0)),
        ("union", ("input", "cross", 1)),
        ("pfs", ("input", "cross", 1, "union", 0)),
        ("cron", ("input", "cross", 1, "union", 1)),
    ]
    post = [n.field for n in visit_inputs(tree, root_last=True)]  # pps.VisitInput: root last
    assert post == [
        "input.cross[0]",
        "input.cross[1].union[0]",
        "input.cross[1].union[1]",
        "input.cross[1]",
        "input",
    ]
    assert list(visit_inputs(None)) == []


def test_dependency_order_and_cycles() -> None:
    def reads(name: str, *repos: str) -> dict[str, Any]:
        return (
            base(name, input={"cross": [pfs(r) for r in repos]})
            if len(repos) > 1
            else base(name, input=pfs(repos[0]))
        )

    specs = {"c": reads("c", "b", "a"), "b": reads("b", "a", "external"), "a": reads("a", "external")}
    assert dependency_order(specs) == ["a", "b", "c"]
    assert dependency_order({"z": reads("z", "x"), "y": reads("y", "x")}) == ["y", "z"]
    with pytest.raises(SpecError, match="x -> y -> x"):
        dependency_order({"x": reads("x", "y"), "y": reads("y", "x")})


def test_no_input_and_spouts_are_accepted() -> None:
    """pachyderm_test.go TestPipelineEmptyInput: no input is valid; a spout has none, unless it has a
    service (api_server.go validatePipeline)."""
    no_input = {"pipeline": {"name": "p"}, "transform": {"cmd": ["true"]}}
    check(no_input)
    check({**no_input, "spout": {}})
    check(
        {
            **no_input,
            "spout": {"service": {"internalPort": 8000, "externalPort": 31800}},
            "input": pfs("data"),
        }
    )
