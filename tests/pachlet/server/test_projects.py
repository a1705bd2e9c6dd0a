"""Projects through `pachlet serve` with the unmodified python-pachyderm 7.6 client: python-pachyderm's own
project tests replayed, pachd's errors, and a pipeline of one project reading a repo of another."""

from __future__ import annotations

import uuid

import grpc
import pytest
import python_pachyderm
from python_pachyderm.pfs import Commit
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.pps import pps_pb2

pytestmark = pytest.mark.e2e


def sandbox(client: python_pachyderm.Client, test_name: str) -> str:
    """python-pachyderm's ``tests/util.py`` ``create_test_repo``: a fresh repo named after the test."""
    name = f"{test_name}-{uuid.uuid4().hex[:6]}"
    client.create_repo(name, description="python_pachyderm test repo")
    return name


# --- python-pachyderm v7.6.0 tests/test_pfs.py, replayed ---------------------------------------------


def test_list_project(client: python_pachyderm.Client) -> None:
    repo_name = sandbox(client, "list_project")
    project_name = f"test_list_project-{repo_name}"
    client.create_project(project_name)
    projects = list(client.list_project())
    assert len(projects) >= 1
    assert project_name in [r.project.name for r in projects]


def test_inspect_project(client: python_pachyderm.Client) -> None:
    repo_name = sandbox(client, "inspect_project")
    project_name = f"test_inspect_project-{repo_name}"
    client.create_project(project_name)
    r = client.inspect_project(project_name)
    assert r.project.name == project_name


def test_delete_project(client: python_pachyderm.Client) -> None:
    repo_name = sandbox(client, "delete_project")
    project_name = f"test_delete_project-{repo_name}"
    client.create_project(project_name)
    orig_project_count = len(list(client.list_project()))
    assert orig_project_count >= 1
    client.delete_project(project_name)
    assert len(list(client.list_project())) == orig_project_count - 1


# --- pachd's answers ---------------------------------------------------------------------------------


def _code_and_details(fn, *args, **kwargs) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as e:
        fn(*args, **kwargs)
    return e.value.code(), e.value.details()


def test_project_errors_are_pachds(client: python_pachyderm.Client) -> None:
    assert "default" in [p.project.name for p in client.list_project()]
    client.create_project("errs", description="first")
    assert client.inspect_project("errs").description == "first"
    assert client.inspect_project("errs").created_at.seconds > 0
    assert _code_and_details(client.create_project, "errs") == (
        grpc.StatusCode.ALREADY_EXISTS,
        'could not create project: project "errs" already exists',
    )
    client.create_project("errs", description="second", update=True)
    assert client.inspect_project("errs").description == "second"
    code, details = _code_and_details(client.create_project, "bad.name")
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(
        "invalid project name: name (bad.name)"
    )
    assert _code_and_details(client.inspect_project, "nope") == (
        grpc.StatusCode.NOT_FOUND,
        'error getting project "nope": project "nope" not found',
    )
    code, details = _code_and_details(client.create_repo, "r", project_name="nope")
    assert (
        code == grpc.StatusCode.NOT_FOUND
        and details == 'cannot find project "nope": project "nope" not found'
    )

    # a project holding repos is refused, even with force (pachd 2.7.6 ignores it)
    client.create_repo("r", project_name="errs")
    code, details = _code_and_details(client.delete_project, "errs", force=True)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert details == "cannot delete project errs: repo errs/r still exists"
    client.delete_repo("r", project_name="errs")
    client.delete_project("errs")
    assert "errs" not in [p.project.name for p in client.list_project()]


def test_same_repo_name_in_two_projects(client: python_pachyderm.Client) -> None:
    client.create_project("twin-a")
    client.create_project("twin-b")
    client.create_repo("data", project_name="twin-a", description="a's")
    client.create_repo("data", project_name="twin-b", description="b's")
    client.put_file_bytes(Commit(repo="data", branch="master", project="twin-a"), "/f", b"a\n")
    client.put_file_bytes(Commit(repo="data", branch="master", project="twin-b"), "/f", b"b\n")
    assert client.get_file(Commit(repo="data", branch="master", project="twin-a"), "/f").read() == b"a\n"
    assert client.get_file(Commit(repo="data", branch="master", project="twin-b"), "/f").read() == b"b\n"
    assert client.inspect_repo("data", project_name="twin-b").description == "b's"
    listed = [(r.repo.project.name, r.repo.name) for r in client.list_repo()]
    assert ("twin-a", "data") in listed and ("twin-b", "data") in listed
    only_a = list(client.list_repo(projects_filter=[pfs_pb2.Project(name="twin-a")]))
    assert [(r.repo.project.name, r.repo.name) for r in only_a] == [("twin-a", "data")]
    sets = list(client.list_commit(project_name="twin-a"))  # ListCommitSet of one project
    assert sets and all(any(c.commit.repo.project.name == "twin-a" for c in s.commits) for s in sets)
    assert not any(c.commit.repo.project.name == "twin-b" for s in sets for c in s.commits)
    with pytest.raises(grpc.RpcError) as e:
        client.inspect_repo("data")  # not in the default project
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_pipeline_in_one_project_reads_a_repo_of_another(client: python_pachyderm.Client) -> None:
    client.create_project("raw-data")
    client.create_project("analysis")
    client.create_repo("words", project_name="raw-data")
    client.put_file_bytes(Commit(repo="words", branch="master", project="raw-data"), "/a.txt", b"alpha\n")
    client.create_pipeline(
        "upper",
        project_name="analysis",
        transform=pps_pb2.Transform(
            image="alpine:3", cmd=["sh", "-c", "tr a-z A-Z < /pfs/words/a.txt > /pfs/out/a.txt"]
        ),
        input=pps_pb2.Input(pfs=pps_pb2.PFSInput(project="raw-data", repo="words", glob="/*")),
    )
    out = Commit(repo="upper", branch="master", project="analysis")
    infos = client.wait_commit(out)
    assert infos[-1].finished.seconds > 0 and not infos[-1].error
    assert client.get_file(out, "/a.txt").read() == b"ALPHA\n"

    # the output repo lives in the pipeline's project; the input keeps its project
    repos = {(r.repo.project.name, r.repo.name) for r in client.list_repo()}
    assert ("analysis", "upper") in repos and ("default", "upper") not in repos
    info = next(client.inspect_pipeline("upper", details=True, project_name="analysis"))
    assert info.pipeline.project.name == "analysis" and info.pipeline.name == "upper"
    assert (info.details.input.pfs.project, info.details.input.pfs.repo) == ("raw-data", "words")
    assert info.details.input.pfs.name == "words"
    listed = list(client.list_pipeline(projects_filter=[pfs_pb2.Project(name="analysis")]))
    assert [(p.pipeline.project.name, p.pipeline.name) for p in listed] == [("analysis", "upper")]
    jobs = list(client.list_job("upper", project_name="analysis"))
    assert jobs and jobs[0].job.pipeline.project.name == "analysis" and jobs[0].state == pps_pb2.JOB_SUCCESS
    ci = next(client.inspect_commit(out))
    assert [(p.repo.project.name, p.repo.name) for p in ci.direct_provenance] == [("raw-data", "words")]

    # an input without a project reads the pipeline's project (api_server.go validateInput)
    client.create_pipeline(
        "count",
        project_name="analysis",
        transform=pps_pb2.Transform(
            image="alpine:3", cmd=["sh", "-c", "wc -c < /pfs/upper/a.txt > /pfs/out/n"]
        ),
        input=pps_pb2.Input(pfs=pps_pb2.PFSInput(repo="upper", glob="/")),
    )
    count = Commit(repo="count", branch="master", project="analysis")
    client.wait_commit(count)
    assert client.get_file(count, "/n").read().strip() == b"6"
    info = next(client.inspect_pipeline("count", details=True, project_name="analysis"))
    assert info.details.input.pfs.project == "analysis"

    # a cron repo lives in the pipeline's project, named <pipeline>_<input>
    client.create_pipeline(
        "ticker",
        project_name="analysis",
        transform=pps_pb2.Transform(image="alpine:3", cmd=["sh", "-c", "ls /pfs/tick > /pfs/out/ticks"]),
        input=pps_pb2.Input(cron=pps_pb2.CronInput(name="tick", spec="@every 1h")),
    )
    assert ("analysis", "ticker_tick") in {(r.repo.project.name, r.repo.name) for r in client.list_repo()}
    info = next(client.inspect_pipeline("ticker", details=True, project_name="analysis"))
    assert (info.details.input.cron.project, info.details.input.cron.repo) == ("analysis", "ticker_tick")

    # the input's project cannot go while its repo exists; deleting everything empties both projects
    with pytest.raises(grpc.RpcError) as e:
        client.delete_project("raw-data")
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    for name in ("ticker", "count", "upper"):
        client.delete_pipeline(name, project_name="analysis")
    client.delete_repo("words", project_name="raw-data")
    client.delete_project("raw-data")
    client.delete_project("analysis")
    assert {"raw-data", "analysis"}.isdisjoint(p.project.name for p in client.list_project())
