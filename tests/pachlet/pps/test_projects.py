"""Projects through the facade: qualified names, pipelines reading other projects, cron repos and logs
in the pipeline's project, the spec read back with pachd's project fields, and pachd's errors."""

from __future__ import annotations

import pytest

from pachlet import projects
from pachlet.api import Pachlet
from pachlet.errors import AlreadyExistsError, NotFoundError, PachletError, SpecError
from pachlet.pfs.projects import ProjectNotEmptyError


def spec(name: str, project: str | None, input_: dict, cmd: str) -> dict:
    pipeline: dict = {"name": name}
    if project:
        pipeline["project"] = {"name": project}
    return {"pipeline": pipeline, "input": input_, "transform": {"cmd": ["sh", "-c", cmd]}}


def test_qualified_names_round_trip() -> None:
    assert projects.qualify("default", "raw") == "raw" == projects.qualify("", "raw")
    assert projects.qualify("audio", "raw") == "audio/raw"
    assert projects.split("audio/raw") == ("audio", "raw")
    assert projects.split("raw") == ("default", "raw")
    assert projects.path_segment("audio/raw") == "audio@raw" and projects.path_segment("raw") == "raw"
    assert (
        projects.project_name_error("a" * 52)
        == 'project name "' + "a" * 52 + '" is 1 characters longer than the 51 max'
    )
    assert projects.project_name_error("-x") == "project names must start with an alphanumeric character"
    assert projects.project_name_error("default") is None


def test_spec_forms_round_trip() -> None:
    external = {
        "pipeline": {"name": "edges", "project": {"name": "img"}},
        "input": {
            "cross": [
                {"pfs": {"repo": "raw", "name": "raw", "glob": "/*"}},
                {"pfs": {"repo": "labels", "project": "default", "name": "labels", "glob": "/"}},
                {"cron": {"name": "tick", "spec": "@daily", "repo": "edges_tick"}},
            ]
        },
    }
    internal = projects.internal_spec(external)
    assert internal["pipeline"] == {"name": "img/edges"}
    pfs0, pfs1, cron = (n.get("pfs") or n.get("cron") for n in internal["input"]["cross"])
    assert (pfs0["repo"], pfs1["repo"], cron["repo"]) == ("img/raw", "labels", "img/edges_tick")
    back = projects.external_spec(internal)
    assert back["pipeline"] == {"name": "edges", "project": {"name": "img"}}
    pfs0, pfs1, cron = (n.get("pfs") or n.get("cron") for n in back["input"]["cross"])
    assert (pfs0["project"], pfs0["repo"], pfs1["project"], pfs1["repo"]) == (
        "img",
        "raw",
        "default",
        "labels",
    )
    assert (cron["project"], cron["repo"]) == ("img", "edges_tick")
    plain = {"pipeline": {"name": "p"}, "input": {"pfs": {"repo": "r", "glob": "/"}}}
    assert projects.internal_spec(plain) == plain == projects.external_spec(plain)


def test_pipeline_across_projects_with_cron_logs_and_delete(pach: Pachlet) -> None:
    assert [i.name for i in pach.list_projects()] == ["default"]
    pach.create_project("raw-data", "inputs")
    pach.create_project("analysis")
    pach.create_repo("raw-data/words")
    pach.create_repo("words")  # the same name in the default project is another repo
    pach.put_file("raw-data/words", "master", "/a.txt", b"alpha\n")
    pach.put_file("words", "master", "/a.txt", b"other\n")
    pach.create_pipeline(
        spec(
            "upper",
            "analysis",
            {"pfs": {"project": "raw-data", "repo": "words", "glob": "/*"}},
            "echo upper-log $PPS_PROJECT_NAME $PPS_PIPELINE_NAME; tr a-z A-Z < /pfs/words/a.txt > /pfs/out/a.txt",
        )
    )
    pach.create_pipeline(
        spec(
            "ticker",
            "analysis",
            {"cron": {"name": "tick", "spec": "@every 1h"}},
            "ls /pfs/tick > /pfs/out/ticks",
        )
    )
    pach.run_until_idle()
    assert pach.get_file("analysis/upper", "master", "/a.txt") == b"ALPHA\n"
    info = pach.inspect_pipeline("analysis/upper")
    assert info.output_repo == "analysis/upper" and info.spec["input"]["pfs"]["repo"] == "raw-data/words"
    assert {r.name for r in pach.list_repos()} == {
        "raw-data/words", "words", "analysis/upper", "analysis/ticker", "analysis/ticker_tick",
    }  # fmt: skip
    assert pach.inspect_repo("analysis/ticker_tick").pipeline == "analysis/ticker"
    pach.run_cron("analysis/ticker")
    pach.run_until_idle()
    assert pach.get_file("analysis/ticker", "master", "/ticks").strip()
    assert [line.message for line in pach.logs("analysis/upper")] == ["upper-log analysis upper"]
    assert (pach.root / "logs" / "analysis@upper").is_dir()
    assert not (pach.root / "logs" / "analysis").exists()

    # a pipeline without a project field in the default project reads the default project's words
    pach.create_pipeline(
        spec("plain", None, {"pfs": {"repo": "words", "glob": "/"}}, "cp /pfs/words/a.txt /pfs/out/")
    )
    pach.run_until_idle()
    assert pach.get_file("plain", "master", "/a.txt") == b"other\n"
    assert pach.inspect_pipeline("plain").spec["pipeline"] == {"name": "plain"}

    with pytest.raises(
        ProjectNotEmptyError, match="cannot delete project raw-data: repo raw-data/words still exists"
    ):
        pach.delete_project("raw-data")
    with pytest.raises(PachletError, match="pipeline"):
        pach.delete_repo("raw-data/words")  # analysis/upper reads it
    for name in ("analysis/ticker", "analysis/upper"):
        pach.delete_pipeline(name)
    assert not (pach.root / "logs" / "analysis@upper").exists()
    pach.delete_repo("raw-data/words")
    pach.delete_project("raw-data")
    pach.delete_project("analysis")
    assert [i.name for i in pach.list_projects()] == ["default"]
    # nothing missing or corrupt; objects the deletes left (garbage collection is issue 13 item 5's) aside
    assert [p for p in pach.fsck().problems if "orphan object" not in p] == []


def test_project_errors(pach: Pachlet) -> None:
    pach.create_project("p", "one")
    with pytest.raises(AlreadyExistsError):
        pach.create_project("p")
    assert pach.create_project("p", "two", update=True).description == "two"
    with pytest.raises(PachletError, match=r"invalid project name: name \(a\.b\) invalid"):
        pach.create_project("a.b")
    with pytest.raises(NotFoundError, match='error getting project "q": project "q" not found'):
        pach.inspect_project("q")
    with pytest.raises(NotFoundError, match='cannot find project "q": project "q" not found'):
        pach.create_repo("q/r")
    with pytest.raises(NotFoundError, match='project "q" not found'):
        pach.create_pipeline(spec("x", "q", {"pfs": {"repo": "r", "glob": "/"}}, "true"))
    with pytest.raises(SpecError, match="repo p/r not found"):
        pach.create_pipeline(spec("x", "p", {"pfs": {"repo": "r", "glob": "/"}}, "true"))
    with pytest.raises(SpecError, match="invalid project name"):
        pach.create_pipeline(spec("x", "bad.name", {"pfs": {"repo": "r", "glob": "/"}}, "true"))
    with pytest.raises(SpecError, match=r"invalid pipeline name: name \(a/b\) invalid"):
        pach.create_pipeline(spec("a/b", None, {"pfs": {"repo": "r", "glob": "/"}}, "true"))
    with pytest.raises(PachletError, match="default"):
        pach.delete_project("default")
    pach.create_repo("p/r")
    with pytest.raises(NotFoundError, match='branch "master" not found in repo p/r'):
        pach.datums_for_spec({"input": {"pfs": {"project": "p", "repo": "r", "glob": "/*"}}})
    pach.put_file("p/r", "master", "/f1", b"1")
    pach.put_file("p/r", "master", "/f2", b"2")
    datums = pach.datums_for_spec({"input": {"pfs": {"project": "p", "repo": "r", "glob": "/*"}}})
    assert len(datums) == 2
