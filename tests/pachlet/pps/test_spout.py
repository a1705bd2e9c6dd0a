"""Pipelines without input and spouts through the facade and the CLI (without ``pachlet serve``, which
runs spouts: tests/pachlet/server/test_pachd_worker.py): accepted, no job, an empty output head commit,
and a spout's output repo takes its user code's commits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pachlet.api import Pachlet
from pachlet.cli import cli
from pachlet.errors import PachletError

NO_INPUT = {"pipeline": {"name": "e"}, "transform": {"cmd": ["true"]}}
WITH_INPUT = {**NO_INPUT, "input": {"pfs": {"repo": "data", "glob": "/"}}}


def test_pipeline_empty_input_versions(pach: Pachlet) -> None:
    """pachyderm_test.go TestPipelineEmptyInput: create with an input, update to none, update back: two
    jobs (the version without input runs none), the last one successful."""
    pach.create_repo("data")
    c = pach.start_commit("data", "master")
    pach.finish_commit("data", c.id)
    pach.create_pipeline(WITH_INPUT)
    pach.run_until_idle()
    pach.create_pipeline(NO_INPUT, update=True)
    assert pach.run_until_idle() == []
    pach.create_pipeline(WITH_INPUT, update=True)
    pach.run_until_idle()
    jobs = pach.list_jobs("e")
    assert [j.state for j in jobs] == ["JOB_SUCCESS", "JOB_SUCCESS"]
    assert [j.pipeline_version for j in jobs] == [3, 1]


def test_new_pipeline_without_input_gets_an_empty_head(pach: Pachlet) -> None:
    pach.create_pipeline(NO_INPUT)
    assert pach.list_jobs("e") == []
    head = pach.inspect_commit("e", "master")
    assert (head.origin, head.size, head.finished is not None) == ("AUTO", 0, True)
    with pytest.raises(PachletError, match="cannot start a commit on an output branch: e@master"):
        pach.put_file("e", "master", "/x", b"x")


def test_spout_output_repo_takes_user_commits_and_feeds_downstream(pach: Pachlet) -> None:
    pach.create_pipeline({"pipeline": {"name": "s"}, "transform": {"cmd": ["true"]}, "spout": {}})
    assert pach.list_jobs("s") == []
    pach.put_file("s", "master", "/tick", b"1\n")  # what the spout's put file does through pachlet serve
    pach.create_pipeline(
        {
            "pipeline": {"name": "down"},
            "input": {"pfs": {"repo": "s", "glob": "/*"}},
            "transform": {"cmd": ["sh", "-c", "cp /pfs/s/* /pfs/out/"]},
        }
    )
    pach.run_until_idle()
    pach.put_file("s", "master", "/tock", b"2\n")
    pach.run_until_idle()
    assert pach.list_jobs("s") == []
    assert {f.path for f in pach.walk_files("down", "master", "/")} == {"/tick", "/tock"}
    # a spout becoming a transform pipeline takes no user commits any more
    pach.create_pipeline({"pipeline": {"name": "s"}, "transform": {"cmd": ["true"]}}, update=True)
    with pytest.raises(PachletError, match="cannot start a commit on an output branch: s@master"):
        pach.put_file("s", "master", "/x", b"x")


def test_cli_creates_a_spout_and_a_pipeline_without_input(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for spec in ({**NO_INPUT, "spout": {}}, {**NO_INPUT, "pipeline": {"name": "n"}}):
        f = tmp_path / "spec.json"
        f.write_text(json.dumps(spec))
        result = CliRunner().invoke(cli, ["--root", str(root), "create", "pipeline", "-f", str(f)])
        assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["--root", str(root), "list", "job"])
    assert result.exit_code == 0 and result.output.count("\n") <= 1, result.output
    with Pachlet.open(root, read_only=True) as p:
        assert {i.name for i in p.list_pipelines()} == {"e", "n"}
        assert p.inspect_commit("e", "master").size == 0
