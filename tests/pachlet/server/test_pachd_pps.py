"""pachd 2.7.6 pipeline behaviours through python-pachyderm against ``pachlet serve``: cron commit sets,
datum order of unnamed inputs, creation checks (issue 14, items 4-6)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
import python_pachyderm

pytestmark = pytest.mark.e2e


def create(client: python_pachyderm.Client, spec: dict[str, Any]) -> None:
    client.create_pipeline_from_request(python_pachyderm.parse_dict_pipeline_spec(spec))


def cron_spec(name: str, input_spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "pipeline": {"name": name},
        "input": input_spec,
        "transform": {"image": "alpine:3", "cmd": ["sh", "-c", "true"]},
    }


def far_future(name: str) -> dict[str, Any]:
    """A cron input that never ticks by itself during the test."""
    return {"cron": {"name": name, "spec": "@every 8760h", "overwrite": True}}


def wait_output(client: python_pachyderm.Client, pipeline: str) -> None:
    head = client.inspect_branch(pipeline, "master").head.id
    client.wait_commit(head)


def test_run_cron_overwrite_commits_hold_0_1_1_1_files(client: python_pachyderm.Client) -> None:
    """pachyderm_test.go TestCronPipeline/RunCronOverwrite: the cron repo's first commit is the empty
    head pachd gives an input branch at creation; three run-crons with ``overwrite`` each leave one file."""
    create(client, cron_spec("ow", far_future("time")))
    for _ in range(3):
        client.run_cron("ow")
    commits = list(client.list_commit("ow_time", reverse=True))
    assert [len(list(client.list_file(("ow_time", c.commit.id), "/"))) for c in commits] == [0, 1, 1, 1]


def test_run_cron_on_a_cross_of_two_crons_ticks_each_in_its_own_commit_set(
    client: python_pachyderm.Client,
) -> None:
    """pachyderm_test.go TestCronPipeline/RunCronCross: RunCron calls cronTick once per cron input, each
    its own commit set, so three runs give 1 (creation) + 3 x 2 output commits."""
    create(client, cron_spec("cross2", {"cross": [far_future("time1"), far_future("time2")]}))
    for _ in range(3):
        client.run_cron("cross2")
    wait_output(client, "cross2")
    # The Go client's ListCommit asks for every origin; python-pachyderm's default is USER only.
    assert len(list(client.list_commit("cross2", all=True))) == 7
    assert len(list(client.list_commit("cross2_time1"))) == 4  # empty head + 3 ticks


def test_run_cron_without_a_cron_input_answers_pachds_message(client: python_pachyderm.Client) -> None:
    """api_server.go RunCron: "pipeline doesn't have a cron input"."""
    client.create_repo("plain_in")
    create(client, {**cron_spec("plain", {"pfs": {"repo": "plain_in", "glob": "/*"}})})
    with pytest.raises(grpc.RpcError) as info:
        client.run_cron("plain")
    assert "pipeline doesn't have a cron input" in info.value.details()


def test_missing_secret_refuses_the_pipeline_and_creates_nothing(client: python_pachyderm.Client) -> None:
    """api_server.go validateSecret, run before anything is created: "missing Kubernetes secret <name>"."""
    client.create_repo("sec_in")
    spec = cron_spec("needs_secret", {"pfs": {"repo": "sec_in", "glob": "/*"}})
    spec["transform"]["secrets"] = [{"name": "nosuch", "envVar": "PASS", "key": "pass"}]
    with pytest.raises(grpc.RpcError) as info:
        create(client, spec)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "missing Kubernetes secret nosuch" in info.value.details()
    assert "needs_secret" not in {p.pipeline.name for p in client.list_pipeline()}
    assert "needs_secret" not in {r.repo.name for r in client.list_repo()}
    client.create_secret("nosuch", {"pass": "x"})
    create(client, spec)
    assert "needs_secret" in {p.pipeline.name for p in client.list_pipeline()}


def test_spec_without_pipeline_name_is_one_clear_error(client: python_pachyderm.Client) -> None:
    """A request without a pipeline name is refused with one INVALID_ARGUMENT line naming it, nothing
    created (pachd: validatePipelineRequest "request.Pipeline cannot be nil")."""
    client.create_repo("noname_in")
    spec = cron_spec("x", {"pfs": {"repo": "noname_in", "glob": "/*"}})
    del spec["pipeline"]
    with pytest.raises(grpc.RpcError) as info:
        create(client, spec)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "pipeline name is empty" in info.value.details()
    assert "\n" not in info.value.details()


def test_unnamed_cross_keeps_spec_order_inside_a_datum(client: python_pachyderm.Client) -> None:
    """api_server.go setInputDefaults sorts (pps.SortInput) before it fills in default names: unnamed
    ``cross: [zeta, alpha]`` stays in spec order in the stored spec and in each datum."""
    for repo in ("zeta", "alpha"):
        client.create_repo(repo)
        with client.commit(repo, "master") as c:
            client.put_file_bytes(c, "/f", b"x")
    create(
        client,
        cron_spec(
            "ordered",
            {"cross": [{"pfs": {"repo": "zeta", "glob": "/*"}}, {"pfs": {"repo": "alpha", "glob": "/*"}}]},
        ),
    )
    (info,) = client.inspect_pipeline("ordered", details=True)
    assert [c.pfs.name for c in info.details.input.cross] == ["zeta", "alpha"]
    wait_output(client, "ordered")
    job = client.inspect_branch("ordered", "master").head.id
    (datum,) = list(client.list_datum("ordered", job))
    assert [d.file.commit.branch.repo.name for d in datum.data] == ["zeta", "alpha"]


def test_list_datum_from_an_input_refuses_cron_and_a_missing_branch(client: python_pachyderm.Client) -> None:
    """api_server.go listDatumInput: a cron input is refused, a pfs input's branch must exist."""
    cron = python_pachyderm.parse_dict_pipeline_spec(cron_spec("lc", far_future("t"))).input
    with pytest.raises(grpc.RpcError) as info:
        list(client.list_datum(input=cron))
    assert "can't list datums with a cron input" in info.value.details()
    client.create_repo("ld_in")
    nob = python_pachyderm.parse_dict_pipeline_spec(
        cron_spec("lb", {"pfs": {"repo": "ld_in", "branch": "nob", "glob": "/*"}})
    ).input
    with pytest.raises(grpc.RpcError) as info:
        list(client.list_datum(input=nob))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert 'branch "nob" not found in repo ld_in' in info.value.details()


def test_empty_files_outputs_symlinked_to_the_input_hold_its_content(client: python_pachyderm.Client) -> None:
    """pachyderm_test.go TestEmptyFiles: with ``emptyFiles`` the datum sees empty files, and an output that
    is a symlink to one is stored with the PFS file's content (datum.go handleSymlinks copies it)."""
    client.create_repo("ef_data")
    with client.commit("ef_data", "master") as c:
        for i in (1, 2, 3):
            client.put_file_bytes(c, f"/dir/file{i}", b"foo\n")
    script = [
        line
        for i in (1, 2, 3)
        for line in (
            f"if [ -s /pfs/ef_data/dir/file{i} ]; then exit 1; fi",
            f"ln -s /pfs/ef_data/dir/file{i} /pfs/out/file{i}",
        )
    ]
    create(
        client,
        {
            "pipeline": {"name": "ef"},
            "transform": {"cmd": ["bash"], "stdin": script},
            "input": {"pfs": {"repo": "ef_data", "glob": "/*", "emptyFiles": True}},
        },
    )
    wait_output(client, "ef")
    for i in (1, 2, 3):
        assert client.get_file(("ef", "master"), f"/file{i}").read() == b"foo\n"
