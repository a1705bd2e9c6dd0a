"""The 2.8+ API on `pachlet serve`: pachyderm-sdk 2.10 and 2.12 (from their own venvs) run the README's
flow and jupyterlab-pachyderm's calls; CreateDatum, CreatePipelineV2, ListFile/WalkFile pagination as
pachd 2.7.6's tests page, commit timestamps on datum files, and the named UNIMPLEMENTED."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
import python_pachyderm
from python_pachyderm.proto.v2.pfs import pfs_pb2, pfs_pb2_grpc
from python_pachyderm.proto.v2.pps import pps_pb2

from helpers.sdk_venvs import run_json
from helpers.served import Served
from pachlet.server import v28protos

pytestmark = pytest.mark.e2e

SDK_FLOW = Path(__file__).with_name("sdk_flow.py")


@pytest.mark.parametrize("sdk", ["sdk210", "sdk212"])
def test_pachyderm_sdk_flow(served: Served, sdk: str) -> None:
    out = run_json(sdk, SDK_FLOW, str(served.port), sdk)
    assert out["page"] == ["/d/f2.txt", "/d/f3.txt"]
    assert out["batches"] == [2, 2, 1]  # 5 datums in batches of 2, then the stream ends
    assert len(out["datum_paths"]) == 2 and all(p.startswith("/d/f") for p in out["datum_paths"])
    assert out["datum_committed"] == out["head_finished"]  # not 1970
    assert out["dry_run_effective"]["datumTries"] == 3 and out["dry_run_effective"]["pipeline"] == {
        "name": f"copy{sdk}"
    }
    assert f"copy{sdk}" not in out["repos_after_dry_run"]
    assert out["job_state"] == "JOB_SUCCESS"
    assert out["datum_states"] == ["SUCCESS"]
    assert out["logs"] == ["copying"]
    assert out["output"] == "x3"
    assert out["upper"] == "X0"


def _stub(served: Served) -> tuple[grpc.Channel, pfs_pb2_grpc.APIStub]:
    channel = grpc.insecure_channel(served.address)
    return channel, pfs_pb2_grpc.APIStub(channel)


def _put(client: python_pachyderm.Client, repo: str, paths: list[str]) -> pfs_pb2.Commit:
    client.create_repo(repo)
    with client.commit(repo, "master") as commit:
        for path in paths:
            client.put_file_bytes(commit, path, b"")
    return pfs_pb2.Commit(branch=pfs_pb2.Branch(repo=pfs_pb2.Repo(name=repo, type="user"), name="master"))


def _paths(stream) -> list[str]:
    return [fi.file.path for fi in stream]


def test_list_file_pagination_as_pachd(served: Served, client: python_pachyderm.Client) -> None:
    """pachd 2.7.6's ListFileTest, case by case."""
    commit = _put(client, "pagelist", ["/dir1/file1.5", "/dir1/file1.2", "/dir1/file1.1", "/dir2/file2.1"])
    channel, stub = _stub(served)

    def page(marker: str | None = None, number: int = 0, reverse: bool = False) -> list[str]:
        req = pfs_pb2.ListFileRequest(
            file=pfs_pb2.File(commit=commit, path="/dir1"), number=number, reverse=reverse
        )
        if marker:
            req.paginationMarker.CopyFrom(pfs_pb2.File(commit=commit, path=marker))
        return _paths(stub.ListFile(req))

    with channel:
        assert page() == ["/dir1/file1.1", "/dir1/file1.2", "/dir1/file1.5"]
        assert page("/dir1/file1.2") == ["/dir1/file1.5"]
        assert page("/dir1/file1.1", 2) == ["/dir1/file1.2", "/dir1/file1.5"]
        assert page(number=1, reverse=True) == ["/dir1/file1.5"]
        assert page("/dir1/file1.1", 2, True) == []
        assert page("/dir1/file1.5", 2, True) == ["/dir1/file1.2", "/dir1/file1.1"]
        with pytest.raises(grpc.RpcError) as err:
            page(reverse=True)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "number must be > 0 when reverse is true" in err.value.details()
        root = pfs_pb2.ListFileRequest(file=pfs_pb2.File(commit=commit, path="/"))
        root.paginationMarker.CopyFrom(pfs_pb2.File(commit=commit, path="/dir1"))
        assert _paths(stub.ListFile(root)) == ["/dir2/"]  # a directory marker is skipped too


def test_walk_file_pagination_as_pachd(served: Served, client: python_pachyderm.Client) -> None:
    """pachd 2.7.6's WalkFileTest, case by case."""
    names = [f"/dir/dir{d}/file{d}.{i}" for d in (1, 2, 3) for i in (1, 2)]
    commit = _put(client, "pagewalk", names)
    channel, stub = _stub(served)

    def walk(marker: str | None = None, number: int = 0, reverse: bool = False) -> list[str]:
        req = pfs_pb2.WalkFileRequest(
            file=pfs_pb2.File(commit=commit, path="/dir"), number=number, reverse=reverse
        )
        if marker:
            req.paginationMarker.CopyFrom(pfs_pb2.File(commit=commit, path=marker))
        return _paths(stub.WalkFile(req))

    with channel:
        first = walk(number=4)
        assert first == ["/dir/", "/dir/dir1/", "/dir/dir1/file1.1", "/dir/dir1/file1.2"]
        assert len(walk(first[-1])) == 6
        assert walk(number=2, reverse=True) == ["/dir/dir3/file3.2", "/dir/dir3/file3.1"]
        assert walk("/dir/dir1/file1.2", 3, True) == ["/dir/dir1/file1.1", "/dir/dir1/", "/dir/"]


def test_a_large_directory_pages_to_its_end(served: Served, client: python_pachyderm.Client) -> None:
    """The extension pages a 1,000+ entry directory by sending the last path back as the marker: every
    entry comes exactly once and the listing ends."""
    client.create_repo("pagebig")
    with client.commit("pagebig", "master") as c:
        for i in range(1200):
            client.put_file_bytes(c, f"/many/{i:05d}.txt", b"x")
    commit = pfs_pb2.Commit(
        branch=pfs_pb2.Branch(repo=pfs_pb2.Repo(name="pagebig", type="user"), name="master")
    )
    channel, stub = _stub(served)
    seen: list[str] = []
    marker: str | None = None
    with channel:
        for _ in range(10):
            req = pfs_pb2.ListFileRequest(file=pfs_pb2.File(commit=commit, path="/many"), number=500)
            if marker:
                req.paginationMarker.CopyFrom(pfs_pb2.File(commit=commit, path=marker))
            got = _paths(stub.ListFile(req))
            if not got:
                break
            seen += got
            marker = got[-1]
    assert seen == [f"/many/{i:05d}.txt" for i in range(1200)]


def test_datum_files_carry_their_commit_time(client: python_pachyderm.Client) -> None:
    client.create_repo("stamped")
    with client.commit("stamped", "master") as c:
        client.put_file_bytes(c, "/a.txt", b"a")
    finished = next(iter(client.inspect_commit(("stamped", "master")))).finished
    infos = list(client.list_datum(input=pps_pb2.Input(pfs=pps_pb2.PFSInput(repo="stamped", glob="/*"))))
    assert [i.data[0].committed for i in infos] == [finished]
    assert finished.seconds > 0
    client.create_pipeline(
        "stamped_copy",
        pps_pb2.Transform(cmd=["sh", "-c", "cp /pfs/stamped/* /pfs/out/"]),
        input=pps_pb2.Input(pfs=pps_pb2.PFSInput(repo="stamped", glob="/*")),
    )
    next(iter(client.inspect_commit(("stamped_copy", "master"), pfs_pb2.CommitState.FINISHED)))
    job = next(iter(client.list_job("stamped_copy")))
    (ran,) = list(client.list_datum("stamped_copy", job.job.id))
    assert ran.data[0].committed == finished  # a job's datums too
    one = client.inspect_datum("stamped_copy", job.job.id, ran.datum.id)
    assert one.data[0].committed == finished


def test_create_datum_refuses_a_stream_without_start(served: Served) -> None:
    with grpc.insecure_channel(served.address) as channel:
        call = channel.stream_stream(
            "/pps_v2.API/CreateDatum",
            request_serializer=v28protos.CreateDatumRequest.SerializeToString,
            response_deserializer=pps_pb2.DatumInfo.FromString,
        )
        bad = v28protos.CreateDatumRequest()
        getattr(bad, "continue").number = 3
        with pytest.raises(grpc.RpcError) as err:
            list(call(iter([bad])))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "first message must be a StartCreateDatumRequest" in err.value.details()


def test_create_pipeline_v2_bad_json_names_the_field(served: Served) -> None:
    with grpc.insecure_channel(served.address) as channel:
        call = channel.unary_unary(
            "/pps_v2.API/CreatePipelineV2",
            request_serializer=v28protos.CreatePipelineV2Request.SerializeToString,
            response_deserializer=v28protos.CreatePipelineV2Response.FromString,
        )
        with pytest.raises(grpc.RpcError) as err:
            call(v28protos.CreatePipelineV2Request(create_pipeline_request_json="{nope"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "create_pipeline_request_json is not JSON" in err.value.details()


def test_unknown_method_is_named_and_logged(served: Served) -> None:
    with grpc.insecure_channel(served.address) as channel:
        for method in ("/metadata.API/EditMetadata", "/pfs_v2.API/NoSuchMethod"):
            with pytest.raises(grpc.RpcError) as err:
                channel.unary_unary(method)(b"")
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
            assert err.value.details() == f"pachlet serve does not implement {method[1:]}"
    log = served.stderr_path.read_text()
    assert "unknown method /metadata.API/EditMetadata" in log and "/pfs_v2.API/NoSuchMethod" in log


def test_effective_request_is_json(served: Served) -> None:
    spec = {
        "pipeline": {"name": "effv2"},
        "transform": {"cmd": ["true"]},
        "input": {"cron": {"name": "t", "spec": "@daily"}},
    }
    with grpc.insecure_channel(served.address) as channel:
        call = channel.unary_unary(
            "/pps_v2.API/CreatePipelineV2",
            request_serializer=v28protos.CreatePipelineV2Request.SerializeToString,
            response_deserializer=v28protos.CreatePipelineV2Response.FromString,
        )
        resp = call(
            v28protos.CreatePipelineV2Request(create_pipeline_request_json=json.dumps(spec), dry_run=True)
        )
    effective = json.loads(resp.effective_create_pipeline_request_json)
    assert effective["input"]["cron"]["repo"] == "effv2_t"
