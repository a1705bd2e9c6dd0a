"""`pachlet serve` driven by the unmodified python-pachyderm 7.6 client, as a user's script would."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import grpc
import pytest
import python_pachyderm
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.pps import pps_pb2

from helpers.served import Served

pytestmark = pytest.mark.e2e


def upper_spec(name: str, repo: str) -> dict:
    """Stage 1: one datum per file, upper-cased."""
    return {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": repo, "glob": "/*"}},
        "transform": {
            "image": "alpine:3",
            "cmd": [
                "sh",
                "-c",
                f"for f in /pfs/{repo}/*; do tr a-z A-Z < $f > /pfs/out/$(basename $f); done",
            ],
        },
    }


def test_two_stage_pipeline_flow(client: python_pachyderm.Client) -> None:
    client.create_repo("words", description="input words")
    with client.commit("words", "master") as c:
        client.put_file_bytes(c, "/a.txt", b"alpha\nbeta\n")
        client.put_file_bytes(c, "/b.txt", b"gamma\n")
    client.put_file_bytes(("words", "master"), "/c.txt", b"delta\n")
    assert sorted(f.file.path for f in client.list_file(("words", "master"), "/")) == [
        "/a.txt",
        "/b.txt",
        "/c.txt",
    ]
    assert client.inspect_repo("words").description == "input words"

    # stage 1 from a spec dict (what `pachctl create pipeline -f` reads), stage 2 with keyword arguments
    client.create_pipeline_from_request(
        python_pachyderm.parse_dict_pipeline_spec(upper_spec("upper", "words"))
    )
    client.create_pipeline(
        "count",
        transform=pps_pb2.Transform(
            image="alpine:3", cmd=["sh", "-c", "cat /pfs/upper/* | wc -l > /pfs/out/lines"]
        ),
        input=pps_pb2.Input(pfs=pps_pb2.PFSInput(repo="upper", glob="/")),
    )
    infos = client.wait_commit(("count", "master"))
    assert infos[-1].finished.seconds > 0 and not infos[-1].error
    assert client.get_file(("count", "master"), "/lines").read().strip() == b"4"
    assert client.get_file(("upper", "master"), "/a.txt").read() == b"ALPHA\nBETA\n"

    # a new input commit: one global ID across the input and both output commits
    client.put_file_bytes(("words", "master"), "/d.txt", b"epsilon\n")
    gid = client.inspect_commit(("words", "master")).__next__().commit.id
    commit_set = client.wait_commit(gid)
    assert {ci.commit.repo.name for ci in commit_set} >= {"words", "upper", "count"}
    assert all(ci.finished.seconds > 0 for ci in commit_set)
    assert client.get_file(("count", "master"), "/lines").read().strip() == b"5"

    # provenance: count <- upper <- words, all in the same global ID
    count_ci = next(client.inspect_commit(("count", "master")))
    assert count_ci.commit.id == gid
    assert [(p.repo.name or p.branch.repo.name, p.id) for p in count_ci.direct_provenance] == [("upper", gid)]
    upper_ci = next(client.inspect_commit(("upper", gid)))
    assert ("words", gid) in [(p.repo.name or p.branch.repo.name, p.id) for p in upper_ci.direct_provenance]

    # jobs and datums
    jobs = list(client.list_job("upper"))
    assert len(jobs) == 2 and jobs[0].job.id == gid
    assert all(j.state == pps_pb2.JOB_SUCCESS for j in jobs)
    assert jobs[0].data_processed == 1 and jobs[0].data_skipped == 3 and jobs[0].data_total == 4
    job_set = list(client.inspect_job(gid, wait=True))
    assert {j.job.pipeline.name for j in job_set} == {"upper", "count"}
    datums = list(client.list_datum("upper", gid))
    assert len(datums) == 4
    assert sorted(d.state for d in datums) == sorted([pps_pb2.SUCCESS] + [pps_pb2.SKIPPED] * 3)
    paths = sorted(fi.file.path for d in datums for fi in d.data)
    assert paths == ["/a.txt", "/b.txt", "/c.txt", "/d.txt"]
    one = client.inspect_datum("upper", gid, datums[0].datum.id)
    assert one.datum.id == datums[0].datum.id

    info = next(client.inspect_pipeline("upper", details=True))
    assert info.details.input.pfs.glob == "/*" and info.details.transform.image == "alpine:3"
    assert {p.pipeline.name for p in client.list_pipeline()} >= {"upper", "count"}

    # deleting: downstream first, then the input repo
    client.delete_pipeline("count")
    client.delete_pipeline("upper")
    client.delete_repo("words")
    assert not {"words", "upper", "count"} & {r.repo.name for r in client.list_repo()}


def test_run_cron_and_scheduled_ticks(client: python_pachyderm.Client) -> None:
    spec = {
        "pipeline": {"name": "ticker"},
        "input": {"cron": {"name": "tick", "spec": "@every 24h", "overwrite": True}},
        "transform": {"image": "alpine:3", "cmd": ["sh", "-c", "ls /pfs/tick > /pfs/out/ticks"]},
    }
    client.create_pipeline_from_request(python_pachyderm.parse_dict_pipeline_spec(spec))
    before = {j.job.id for j in client.list_job("ticker")}
    client.run_cron("ticker")
    gid = client.inspect_branch("ticker_tick", "master").head.id
    client.wait_commit(gid)
    job = next(client.inspect_job(gid, pipeline_name="ticker"))
    assert job.job.id not in before and job.state == pps_pb2.JOB_SUCCESS
    tick_name = client.get_file(("ticker", "master"), "/ticks").read().decode().strip()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", tick_name)

    # the scheduler fires cron inputs on their own schedule
    spec2 = {
        "pipeline": {"name": "fast_ticker"},
        "input": {"cron": {"name": "tick", "spec": "@every 1s", "overwrite": True}},
        "transform": {"image": "alpine:3", "cmd": ["sh", "-c", "ls /pfs/tick > /pfs/out/ticks"]},
    }
    client.create_pipeline_from_request(python_pachyderm.parse_dict_pipeline_spec(spec2))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done = [j for j in client.list_job("fast_ticker") if j.state == pps_pb2.JOB_SUCCESS]
        if len(done) >= 2:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the scheduler did not tick fast_ticker twice within 20 s")
    client.delete_pipeline("fast_ticker")
    client.delete_pipeline("ticker")


def test_logs_secrets_version_and_cluster(client: python_pachyderm.Client) -> None:
    client.create_repo("logsrc")
    client.put_file_bytes(("logsrc", "master"), "/x", b"1")
    spec = {
        "pipeline": {"name": "talker"},
        "input": {"pfs": {"repo": "logsrc", "glob": "/*"}},
        "transform": {
            "image": "alpine:3",
            "cmd": ["sh", "-c", "echo hello-from-datum; cp /pfs/logsrc/x /pfs/out/x"],
        },
    }
    client.create_pipeline_from_request(python_pachyderm.parse_dict_pipeline_spec(spec))
    client.wait_commit(("talker", "master"))
    job_id = next(iter(client.list_job("talker"))).job.id
    messages = [m.message for m in client.get_job_logs("talker", job_id)]
    assert any("hello-from-datum" in m for m in messages)
    assert any("hello-from-datum" in m.message for m in client.get_pipeline_logs("talker"))

    client.create_secret("s1", {"PASSWORD": "hunter2"})
    assert client.inspect_secret("s1").secret.name == "s1"
    assert "s1" in [s.secret.name for s in client.list_secret()]
    client.delete_secret("s1")
    with pytest.raises(grpc.RpcError) as err:
        client.inspect_secret("s1")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    v = client.get_remote_version()
    assert (v.major, v.minor) == (2, 7) and v.additional.startswith("pachlet")
    assert client.inspect_cluster().deployment_id
    assert client.health_check().status == 1  # SERVING
    client.delete_pipeline("talker")
    client.delete_repo("logsrc")


def test_errors_map_to_grpc_codes(client: python_pachyderm.Client) -> None:
    def code_of(fn, *args, **kwargs) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(grpc.RpcError) as err:
            result = fn(*args, **kwargs)
            if hasattr(result, "__next__"):
                list(result)
        return err.value.code(), err.value.details()

    assert code_of(client.inspect_repo, "no_such_repo")[0] == grpc.StatusCode.NOT_FOUND
    client.create_repo("dup")
    assert code_of(client.create_repo, "dup")[0] == grpc.StatusCode.ALREADY_EXISTS
    bad = {
        "pipeline": {"name": "bad"},
        "input": {"pfs": {"repo": "no_such_repo", "glob": "/*"}},
        "transform": {"cmd": ["true"]},
    }
    code, details = code_of(
        client.create_pipeline_from_request, python_pachyderm.parse_dict_pipeline_spec(bad)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "no_such_repo" in details
    client.start_commit("dup", "master")
    code, details = code_of(client.start_commit, "dup", "master")
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "has not been finished" in details
    client.squash_commit("0" * 32)  # pachd: an ID without commits has nothing to squash
    assert client.path_exists(("dup", "master"), "/missing") is False
    client.delete_repo("dup", force=True)


def test_concurrent_put_file(client: python_pachyderm.Client, served: Served) -> None:
    client.create_repo("many")
    payloads = {
        f"/t{t}/f{i:03d}.bin": os.urandom(64) + f"{t}-{i}".encode() for t in range(8) for i in range(25)
    }
    by_thread = [[(p, d) for p, d in payloads.items() if p.startswith(f"/t{t}/")] for t in range(8)]
    errors: list[BaseException] = []

    def work(items: list[tuple[str, bytes]]) -> None:
        c = served.client()
        try:
            for path, data in items:
                c.put_file_bytes(("many", "master"), path, data)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(items,)) for items in by_thread]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    assert not errors, errors[:3]
    print(f"\n200 concurrent put-file calls from 8 threads: {elapsed:.2f}s = {200 / elapsed:.0f} calls/s")

    files = [f for f in client.walk_file(("many", "master"), "/") if f.file_type == pfs_pb2.FILE]
    assert len(files) == 200 and len({f.file.path for f in files}) == 200
    for path, data in payloads.items():
        got = client.get_file(("many", "master"), path).read()
        assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest(), path
    assert len(list(client.list_commit("many"))) == 200  # one commit per call, none lost or merged
    client.delete_repo("many")


DISCONNECTING_CLIENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import python_pachyderm

    port, marker, commit_id = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

    class Slow:
        n = 0
        def read(self, size=-1):
            self.n += 1
            if self.n == 4:
                marker.write_text("sent")
                time.sleep(600)
            return b"x" * 1000

    c = python_pachyderm.Client("localhost", port)
    target = ("halfway", commit_id) if commit_id != "-" else ("halfway", "master")
    with c.modify_file_client(target) as mfc:
        mfc.put_file_from_bytes("/first.txt", b"complete file before the broken one")
        mfc.put_file_from_fileobj("/partial.bin", Slow())
    """
)


def _kill_mid_stream(served: Served, tmp_path: Path, commit_id: str) -> None:
    marker = tmp_path / f"marker-{commit_id}"
    proc = subprocess.Popen(
        [sys.executable, "-c", DISCONNECTING_CLIENT, str(served.port), str(marker), commit_id]
    )
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert proc.poll() is None, "the client ended before sending its stream"
        assert time.monotonic() < deadline, "the client never sent its data"
        time.sleep(0.05)
    time.sleep(0.3)
    proc.kill()
    proc.wait(timeout=10)
    time.sleep(0.3)


def test_disconnect_mid_stream_leaves_no_partial_commit(
    client: python_pachyderm.Client, served: Served, tmp_path: Path
) -> None:
    client.create_repo("halfway")
    client.put_file_bytes(("halfway", "master"), "/base.txt", b"base")
    head = client.inspect_branch("halfway", "master").head.id

    # 1. the stream would have auto-started a commit on master: nothing at all may appear
    _kill_mid_stream(served, tmp_path, "-")
    assert client.inspect_branch("halfway", "master").head.id == head
    assert len(list(client.list_commit("halfway", all=True))) == 1
    assert [f.file.path for f in client.list_file(("halfway", "master"), "/")] == ["/base.txt"]

    # 2. the stream wrote into an open commit: the commit gets none of the stream's writes
    open_commit = client.start_commit("halfway", "master")
    client.put_file_bytes(open_commit, "/kept.txt", b"kept")
    _kill_mid_stream(served, tmp_path, open_commit.id)
    client.finish_commit(open_commit)
    files = sorted(f.file.path for f in client.list_file(("halfway", "master"), "/"))
    assert files == ["/base.txt", "/kept.txt"]

    # 3. a client-side failure mid-stream (the request iterator raises) is no different
    class Broken:
        def read(self, size: int = -1) -> bytes:
            raise OSError("disk gone")

    with pytest.raises((OSError, grpc.RpcError)):
        client.put_file_bytes(("halfway", "master"), "/broken.bin", Broken())
    assert client.path_exists(("halfway", "master"), "/broken.bin") is False
    # the branch is usable afterwards
    client.put_file_bytes(("halfway", "master"), "/after.txt", b"after")
    assert client.get_file(("halfway", "master"), "/after.txt").read() == b"after"
    client.delete_repo("halfway")


def test_branches_files_and_subscribe(client: python_pachyderm.Client) -> None:
    client.create_repo("odds")
    seen: list[str] = []

    def subscribe() -> None:
        stream = client.subscribe_commit("odds", "master", state=pfs_pb2.CommitState.FINISHED)
        for ci in stream:
            seen.append(ci.commit.id)
            if len(seen) == 2:
                stream.cancel()  # the server notices and ends its wait
                return

    sub = threading.Thread(target=subscribe, daemon=True)
    sub.start()
    with client.commit("odds", "master") as c:
        client.put_file_bytes(c, "/dir/a.csv", b"a,b\n1,2\n")
        client.put_file_bytes(c, "/dir/b.csv", b"x\n")
        client.put_file_bytes(c, "/top.txt", b"top")
    client.delete_file(("odds", "master"), "/top.txt")
    sub.join(timeout=20)
    commits = [ci.commit.id for ci in client.list_commit("odds")]
    assert seen == list(reversed(commits)) and len(seen) == 2

    assert [f.file.path for f in client.glob_file(("odds", "master"), "/dir/*.csv")] == [
        "/dir/a.csv",
        "/dir/b.csv",
    ]
    info = client.inspect_file(("odds", "master"), "/dir")
    assert info.file_type == pfs_pb2.DIR and info.size_bytes == 10
    assert not client.path_exists(("odds", "master"), "/top.txt")
    with client.get_file_tar(("odds", "master"), "/dir") as tar:
        names = sorted(m.name for m in tar)
    assert names == ["dir/a.csv", "dir/b.csv"]

    client.create_branch("odds", "pinned", head_commit=("odds", commits[-1]))
    assert client.inspect_branch("odds", "pinned").head.id == commits[-1]
    assert sorted(b.branch.name for b in client.list_branch("odds")) == ["master", "pinned"]
    assert client.path_exists(("odds", "pinned"), "/top.txt")
    client.delete_branch("odds", "pinned")
    assert [b.branch.name for b in client.list_branch("odds")] == ["master"]
    client.delete_repo("odds")
