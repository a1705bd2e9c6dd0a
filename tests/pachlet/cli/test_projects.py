"""Projects on the CLI with pachctl's syntax: ``create|update|list|inspect|delete project`` and
``--project`` on the repo, file, commit, pipeline, job and logs verbs, on a local root and through
``--pachd`` against a ``pachlet serve`` subprocess; a pipeline in one project reads another's repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import json_format
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.pps import pps_pb2

from helpers.served import Served

pytestmark = pytest.mark.e2e

PACHLET = str(Path(sys.executable).parent / "pachlet")


@pytest.fixture(params=["local", "pachd"])
def address(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """None: the CLI opens the test's root; else HOST:PORT of a ``pachlet serve`` of another root."""
    if request.param == "local":
        yield None
        return
    served = Served(tmp_path / "served-root")
    yield served.address
    code, _, err = served.stop()
    assert code == 0, err


def run(
    address: str | None, *args: str, ok: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess:
    env = dict(os.environ, PACHLET_RUNTIME="host")
    env.pop("PACHD_ADDRESS", None)
    if address:
        env["PACHD_ADDRESS"] = address
    proc = subprocess.run([PACHLET, *args], capture_output=True, text=True, env=env, input=stdin, timeout=120)
    if ok:
        assert proc.returncode == 0, f"pachlet {' '.join(args)}: {proc.stderr}"
    return proc


def test_project_verbs_and_a_pipeline_across_projects(address: str | None, tmp_path: Path) -> None:
    run(address, "create", "project", "raw-data", "-d", "the inputs")
    run(address, "create", "project", "analysis")
    table = run(address, "list", "project").stdout.splitlines()
    assert table[0].split() == ["ACTIVE", "PROJECT", "CREATED", "DESCRIPTION"]
    assert table[1].split()[:2] == ["*", "default"]
    assert any(line.split()[0] == "raw-data" and line.endswith("the inputs") for line in table[2:])
    infos = [
        json_format.Parse(line, pfs_pb2.ProjectInfo())
        for line in run(address, "list", "project", "-o", "json").stdout.splitlines()
    ]
    assert {i.project.name for i in infos} >= {"default", "raw-data", "analysis"}
    details = run(address, "inspect", "project", "raw-data").stdout
    assert details.startswith("Name: raw-data\nDescription: the inputs\nCreated at: ")
    run(address, "update", "project", "analysis", "-d", "outputs")
    info = json_format.Parse(
        run(address, "inspect", "project", "analysis", "-o", "json").stdout, pfs_pb2.ProjectInfo()
    )
    assert info.description == "outputs"
    missing = run(address, "inspect", "project", "nope", ok=False)
    assert missing.returncode == 1 and 'project "nope" not found' in missing.stderr

    # the same repo name in two projects; --project picks one
    (tmp_path / "a.txt").write_text("alpha\n")
    run(address, "create", "repo", "words", "--project", "raw-data")
    run(address, "create", "repo", "words")
    run(address, "put", "file", "words@master:/a.txt", "-f", str(tmp_path / "a.txt"), "--project", "raw-data")
    assert run(address, "get", "file", "words@master:/a.txt", "--project", "raw-data").stdout == "alpha\n"
    sizes = {
        project: json_format.Parse(
            run(address, "inspect", "repo", "words", "--project", project, "-o", "json").stdout,
            pfs_pb2.RepoInfo(),
        ).details.size_bytes
        for project in ("default", "raw-data")
    }
    assert sizes == {"default": 0, "raw-data": 6}
    names = {
        line.split()[1]  # PROJECT NAME ... as pachctl 2.7.6
        for line in run(address, "list", "repo", "--project", "raw-data").stdout.splitlines()[1:]
    }
    assert names == {"words"}
    repos = [
        json_format.Parse(line, pfs_pb2.RepoInfo())
        for line in run(address, "list", "repo", "-A", "-o", "json").stdout.splitlines()
    ]
    assert {(r.repo.project.name, r.repo.name) for r in repos} >= {
        ("raw-data", "words"),
        ("default", "words"),
    }

    # a pipeline of "analysis" reading raw-data/words: its output repo lives in "analysis"
    spec = {
        "pipeline": {"name": "upper"},
        "input": {"pfs": {"project": "raw-data", "repo": "words", "glob": "/*"}},
        "transform": {
            "image": "alpine:3",
            "cmd": ["sh", "-c", "echo working; tr a-z A-Z < /pfs/words/a.txt > /pfs/out/a.txt"],
        },
    }
    (tmp_path / "upper.json").write_text(json.dumps(spec))
    run(address, "create", "pipeline", "-f", str(tmp_path / "upper.json"), "--project", "analysis")
    run(address, "wait", "commit", "upper@master", "--project", "analysis")
    assert run(address, "get", "file", "upper@master:/a.txt", "--project", "analysis").stdout == "ALPHA\n"
    pipelines = run(address, "list", "pipeline", "--project", "analysis").stdout.splitlines()
    assert [line.split()[1] for line in pipelines[1:]] == ["upper"]
    assert run(address, "list", "pipeline").stdout.count("\n") == 1  # none in default
    pi = json_format.Parse(
        run(address, "inspect", "pipeline", "upper", "--project", "analysis", "-o", "json").stdout,
        pps_pb2.PipelineInfo(),
    )
    assert (pi.pipeline.project.name, pi.details.input.pfs.project, pi.details.input.pfs.repo) == (
        "analysis",
        "raw-data",
        "words",
    )
    jobs = [
        json_format.Parse(line, pps_pb2.JobInfo())
        for line in run(
            address, "list", "job", "-p", "upper", "--project", "analysis", "-o", "json"
        ).stdout.splitlines()
    ]
    assert jobs and all(
        j.state == pps_pb2.JOB_SUCCESS and j.job.pipeline.project.name == "analysis" for j in jobs
    )
    assert "working" in run(address, "logs", "-p", "upper", "--project", "analysis").stdout
    ci = json_format.Parse(
        run(address, "inspect", "commit", "upper@master", "--project", "analysis", "-o", "json").stdout,
        pfs_pb2.CommitInfo(),
    )
    assert [(p.repo.project.name, p.repo.name) for p in ci.direct_provenance] == [("raw-data", "words")]

    # delete project: refused while its repos exist (without confirmation), else pipelines, repos, project
    refused = run(address, "delete", "project", "raw-data", ok=False, stdin="n\n")
    assert refused.returncode == 1 and "This will delete repo raw-data/words" in refused.stdout
    run(address, "delete", "project", "analysis", stdin="y\ny\n")
    run(address, "delete", "project", "raw-data", "--force", stdin="y\n")
    names = {line.split()[0] for line in run(address, "list", "project").stdout.splitlines()[1:]}
    assert {"raw-data", "analysis"}.isdisjoint(names)
    assert "*" in run(address, "list", "project").stdout
