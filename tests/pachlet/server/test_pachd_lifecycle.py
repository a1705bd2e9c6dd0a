"""pachd 2.7.6 pipeline lifecycle and logs through python-pachyderm against ``pachlet serve``: stop / start
pipeline, stop / delete job, restart datum, pipeline states, ``follow`` and ``master`` logs (issue 14,
items 1 and 7)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
import pytest
import python_pachyderm
from python_pachyderm.proto.v2.pps import pps_pb2

from helpers.polling import wait_for

pytestmark = pytest.mark.e2e

TERMINAL = {pps_pb2.JOB_SUCCESS, pps_pb2.JOB_FAILURE, pps_pb2.JOB_KILLED, pps_pb2.JOB_UNRUNNABLE}


def create(client: python_pachyderm.Client, name: str, repo: str, script: str, **extra: Any) -> None:
    spec = {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": repo, "glob": extra.pop("glob", "/*")}},
        "transform": {"image": "alpine:3", "cmd": ["sh", "-c", script]},
        **extra,
    }
    client.create_pipeline_from_request(python_pachyderm.parse_dict_pipeline_spec(spec))


def commits(client: python_pachyderm.Client, repo: str) -> list[Any]:
    return list(client.list_commit(repo, all=True))


def put(client: python_pachyderm.Client, repo: str, path: str, data: bytes) -> str:
    with client.commit(repo, "master") as c:
        client.put_file_bytes(c, path, data)
    return c.id


def job(client: python_pachyderm.Client, pipeline: str, job_id: str) -> pps_pb2.JobInfo:
    return next(iter(client.inspect_job(job_id, pipeline_name=pipeline)))


def wait_job(client: python_pachyderm.Client, pipeline: str, job_id: str) -> pps_pb2.JobInfo:
    return next(iter(client.inspect_job(job_id, pipeline_name=pipeline, wait=True)))


def pipe(client: python_pachyderm.Client, name: str) -> pps_pb2.PipelineInfo:
    return next(iter(client.inspect_pipeline(name)))


def job_processes(job_id: str) -> list[int]:
    """Live processes started for a job (their environment holds its ``PACH_JOB_ID``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or " Z " in (entry / "stat").read_text():
                continue
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"PACH_JOB_ID={job_id}".encode() in env:
            pids.append(int(entry.name))
    return pids


def test_stop_pipeline_starts_no_job_until_started(client: python_pachyderm.Client) -> None:
    """pachyderm_test.go TestStopPipeline and TestPipelineState: a stopped pipeline (PIPELINE_PAUSED,
    ``stopped``) makes no output commit for a new input commit; StartPipeline makes one at once, whose
    job reads what arrived meanwhile; the pipeline is RUNNING again."""
    client.create_repo("sp_data")
    create(client, "sp_pipe", "sp_data", "cp /pfs/sp_data/file /pfs/out/file")
    client.wait_commit(("sp_pipe", "master"))
    assert len(commits(client, "sp_pipe")) == 1
    assert pipe(client, "sp_pipe").state == pps_pb2.PIPELINE_RUNNING

    client.stop_pipeline("sp_pipe")
    info = pipe(client, "sp_pipe")
    assert info.stopped and info.state == pps_pb2.PIPELINE_PAUSED
    put(client, "sp_data", "/file", b"foo\n")
    time.sleep(1.0)  # the scheduler polls every 0.2 s: a job would have been queued by now
    assert len(commits(client, "sp_pipe")) == 1

    client.start_pipeline("sp_pipe")
    assert len(commits(client, "sp_pipe")) == 2
    info = pipe(client, "sp_pipe")
    assert not info.stopped and info.state == pps_pb2.PIPELINE_RUNNING
    head = client.wait_commit(("sp_pipe", "master"))[0]
    assert not head.error
    assert client.get_file(("sp_pipe", "master"), "/file").read() == b"foo\n"

    client.stop_pipeline("sp_no_such_pipeline")  # pachd: no error, there is nothing to stop
    with pytest.raises(grpc.RpcError) as err:
        client.start_pipeline("sp_no_such_pipeline")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_stopping_an_upstream_pipeline_adds_no_downstream_commit(client: python_pachyderm.Client) -> None:
    """pachyderm_test.go TestStopPipelineExtraCommit: A -> B -> C; stopping B makes no commit in C, and a
    commit to A then reaches neither B nor C; an update keeps B stopped (api_server.go preserves
    Stopped)."""
    client.create_repo("sx_a")
    put(client, "sx_a", "/file", b"foo\n")
    create(client, "sx_b", "sx_a", "cp /pfs/sx_a/file /pfs/out/file")
    create(client, "sx_c", "sx_b", "cp /pfs/sx_b/file /pfs/out/file")
    client.wait_commit(("sx_c", "master"))
    before_b, before_c = len(commits(client, "sx_b")), len(commits(client, "sx_c"))
    client.stop_pipeline("sx_b")
    assert len(commits(client, "sx_c")) == before_c
    put(client, "sx_a", "/file", b"bar\n")
    create(client, "sx_b", "sx_a", "cp /pfs/sx_a/file /pfs/out/file; true", update=True)
    time.sleep(1.0)
    assert (len(commits(client, "sx_b")), len(commits(client, "sx_c"))) == (before_b, before_c)
    assert pipe(client, "sx_b").state == pps_pb2.PIPELINE_PAUSED

    client.start_pipeline("sx_b")
    client.wait_commit(("sx_c", "master"))
    assert client.get_file(("sx_c", "master"), "/file").read() == b"bar\n"


def test_stop_job_kills_it_and_the_next_job_runs(client: python_pachyderm.Client, tmp_path: Path) -> None:
    """pachyderm_test.go TestStopJob: three input commits; the running job is stopped (its datum's
    process ends, JOB_KILLED "job stopped", its output commit finished with that error and none of its
    files), a queued one is stopped before it runs, and the last one succeeds."""
    pidfile = tmp_path / "pid"
    client.create_repo("sj_data")
    script = f"if [ -e /pfs/sj_data/slow ]; then echo $$ > {pidfile}; exec sleep 60; fi; cp -r /pfs/sj_data/* /pfs/out/"
    create(client, "sj_pipe", "sj_data", script, glob="/")
    client.wait_commit(("sj_pipe", "master"))
    first = put(client, "sj_data", "/slow", b"1")
    wait_for("the first job's datum to start", pidfile.exists)
    with client.commit("sj_data", "master") as c:
        client.delete_file(c, "/slow")
        client.put_file_bytes(c, "/second", b"2")
    second = c.id
    third = put(client, "sj_data", "/third", b"3")
    wait_for("the datum's pid", lambda: pidfile.read_text().strip())
    assert job(client, "sj_pipe", first).state == pps_pb2.JOB_RUNNING
    assert job_processes(first)

    client.stop_job(first, "sj_pipe")
    killed = job(client, "sj_pipe", first)
    assert killed.state == pps_pb2.JOB_KILLED and killed.reason == "job stopped"
    out = next(iter(client.inspect_commit(("sj_pipe", first))))
    assert out.finished and out.error == "job stopped"
    assert [f.file.path for f in client.list_file(("sj_pipe", first), "/")] == []
    wait_for("the datum's process to end", lambda: not job_processes(first))

    client.stop_job(second, "sj_pipe", reason="not wanted")
    assert job(client, "sj_pipe", second).state == pps_pb2.JOB_KILLED
    assert job(client, "sj_pipe", second).reason == "not wanted"
    done = wait_job(client, "sj_pipe", third)
    assert done.state == pps_pb2.JOB_SUCCESS
    assert sorted(f.file.path for f in client.list_file(("sj_pipe", third), "/")) == ["/second", "/third"]
    client.stop_job(third, "sj_pipe")  # an ended job stays as it is
    assert job(client, "sj_pipe", third).state == pps_pb2.JOB_SUCCESS

    master = [m for m in client.get_pipeline_logs("sj_pipe", master=True) if m.job_id == first]
    assert [m.message for m in master] == ["killing job with reason: job stopped"]
    assert all(m.master for m in master)


def test_delete_job_forgets_it_and_keeps_its_output_commit(client: python_pachyderm.Client) -> None:
    """pachyderm_test.go TestJobDeletion, api_server.go DeleteJob: the job is stopped ("job deleted") and
    removed; its output commit stays, finished; deleting it again is NOT_FOUND."""
    client.create_repo("dj_data")
    create(client, "dj_pipe", "dj_data", "cp /pfs/dj_data/* /pfs/out/")
    put(client, "dj_data", "/a", b"a")
    head = client.wait_commit(("dj_pipe", "master"))[0]
    job_id = head.commit.id
    client.delete_job(job_id, "dj_pipe")
    with pytest.raises(grpc.RpcError) as err:
        job(client, "dj_pipe", job_id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert job_id not in {j.job.id for j in client.list_job("dj_pipe")}
    assert next(iter(client.inspect_commit(("dj_pipe", job_id)))).finished
    with pytest.raises(grpc.RpcError) as err:
        client.delete_job(job_id, "dj_pipe")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_restart_datum_retries_the_running_attempt(client: python_pachyderm.Client, tmp_path: Path) -> None:
    """pachyderm_test.go TestDatumStatusRestart, api_server.go RestartDatum (worker Status.Cancel,
    MatchDatum): the datum whose input path matches has its attempt ended and is retried; a filter
    matching nothing changes nothing."""
    tries = tmp_path / "tries"
    client.create_repo("rd_data")
    create(
        client,
        "rd_pipe",
        "rd_data",
        f"echo x >> {tries}; if [ $(wc -l < {tries}) -eq 1 ]; then exec sleep 60; fi; cp /pfs/rd_data/* /pfs/out/",
    )
    job_id = put(client, "rd_data", "/stuck", b"s")
    wait_for("the first attempt", tries.exists)
    time.sleep(0.3)
    client.restart_datum("rd_pipe", job_id, ["/nothing-like-it"])
    assert job(client, "rd_pipe", job_id).state == pps_pb2.JOB_RUNNING
    client.restart_datum("rd_pipe", job_id, ["/stuck"])
    done = wait_job(client, "rd_pipe", job_id)
    assert done.state == pps_pb2.JOB_SUCCESS and done.data_processed == 1
    assert tries.read_text().count("x") == 2
    assert client.get_file(("rd_pipe", job_id), "/stuck").read() == b"s"


def test_autoscaling_pipeline_is_in_standby_while_idle(
    client: python_pachyderm.Client, tmp_path: Path
) -> None:
    """pipeline_controller.go / monitor.go (TestAutoscalingStandby, TestStopStandbyPipeline): an
    autoscaling pipeline is PIPELINE_STANDBY with no job to run and PIPELINE_RUNNING while one runs;
    stopped, it is PIPELINE_PAUSED whatever arrives; started, it runs and goes back to standby."""
    gate = tmp_path / "gate"
    client.create_repo("as_data")
    create(
        client,
        "as_pipe",
        "as_data",
        f"while [ ! -e {gate} ]; do sleep 0.05; done; cp /pfs/as_data/* /pfs/out/",
        autoscaling=True,
    )
    client.wait_commit(("as_pipe", "master"))
    assert pipe(client, "as_pipe").state == pps_pb2.PIPELINE_STANDBY
    job_id = put(client, "as_data", "/a", b"a")
    wait_for("the job to run", lambda: job(client, "as_pipe", job_id).state == pps_pb2.JOB_RUNNING)
    assert pipe(client, "as_pipe").state == pps_pb2.PIPELINE_RUNNING
    gate.touch()
    wait_job(client, "as_pipe", job_id)
    assert pipe(client, "as_pipe").state == pps_pb2.PIPELINE_STANDBY

    client.stop_pipeline("as_pipe")
    for name in ("/b", "/c"):
        put(client, "as_data", name, b"x")
    time.sleep(0.5)
    assert pipe(client, "as_pipe").state == pps_pb2.PIPELINE_PAUSED
    client.start_pipeline("as_pipe")
    client.wait_commit(("as_pipe", "master"))
    assert pipe(client, "as_pipe").state == pps_pb2.PIPELINE_STANDBY
    assert sorted(f.file.path for f in client.list_file(("as_pipe", "master"), "/")) == ["/a", "/b", "/c"]


def test_follow_job_logs_streams_until_the_job_ends(client: python_pachyderm.Client, tmp_path: Path) -> None:
    """GetLogs with follow (pachctl logs -f): a running job's lines arrive as the datum writes them and
    the stream ends with the job; the master's lines say how it ended."""
    gate = tmp_path / "gate"
    client.create_repo("fl_data")
    create(
        client,
        "fl_pipe",
        "fl_data",
        f"echo line-one; while [ ! -e {gate} ]; do sleep 0.05; done; echo line-two; cp /pfs/fl_data/* /pfs/out/",
    )
    job_id = put(client, "fl_data", "/a", b"a")
    wait_for("the job to run", lambda: job(client, "fl_pipe", job_id).state == pps_pb2.JOB_RUNNING)
    stream = iter(client.get_job_logs("fl_pipe", job_id, follow=True))
    first = next(stream)
    assert first.message.strip() == "line-one" and first.job_id == job_id and not first.master
    assert job(client, "fl_pipe", job_id).state == pps_pb2.JOB_RUNNING
    assert [m.message.strip() for m in client.get_job_logs("fl_pipe", job_id)] == ["line-one"]  # so far
    gate.touch()
    rest = [m.message.strip() for m in stream]  # ends by itself once the job ended
    assert rest == ["line-two"]
    assert job(client, "fl_pipe", job_id).state == pps_pb2.JOB_SUCCESS
    master = [m for m in client.get_pipeline_logs("fl_pipe", master=True) if m.job_id == job_id]
    assert [m.message for m in master] == ["job successful, closing commits"] and master[0].master
    assert all(not m.master for m in client.get_job_logs("fl_pipe", job_id))


def test_follow_pipeline_logs_streams_new_jobs_until_cancelled(client: python_pachyderm.Client) -> None:
    """GetLogs with follow on a pipeline: lines of jobs that start later keep arriving until the client
    cancels."""
    client.create_repo("fp_data")
    create(client, "fp_pipe", "fp_data", "cat /pfs/fp_data/*; cp /pfs/fp_data/* /pfs/out/")
    client.wait_commit(("fp_pipe", "master"))
    stream = client.get_pipeline_logs("fp_pipe", follow=True)
    put(client, "fp_data", "/a", b"hello-a\n")
    assert next(stream).message.strip() == "hello-a"
    put(client, "fp_data", "/b", b"hello-b\n")
    assert next(stream).message.strip() == "hello-b"
    stream.cancel()
    with pytest.raises(grpc.RpcError) as err:
        next(stream)
    assert err.value.code() == grpc.StatusCode.CANCELLED


def test_log_data_filters_match_datum_inputs(client: python_pachyderm.Client) -> None:
    """pachyderm_test.go testGetLogs: ``data_filters`` keep the lines of datums whose inputs match every
    filter by path (or hash); a filter naming no input gives no lines."""
    client.create_repo("lf_data")
    with client.commit("lf_data", "master") as c:
        client.put_file_bytes(c, "/a", b"from-a\n")
        client.put_file_bytes(c, "/b", b"from-b\n")
    create(client, "lf_pipe", "lf_data", "cat /pfs/lf_data/*; cp /pfs/lf_data/* /pfs/out/")
    head = client.wait_commit(("lf_pipe", "master"))[0]
    job_id = head.commit.id
    assert sorted(m.message.strip() for m in client.get_job_logs("lf_pipe", job_id)) == ["from-a", "from-b"]
    assert [m.message.strip() for m in client.get_job_logs("lf_pipe", job_id, data_filters=["/b"])] == [
        "from-b"
    ]
    assert list(client.get_job_logs("lf_pipe", job_id, data_filters=["__DOES_NOT_EXIST__"])) == []
    (datum_b,) = [d for d in client.list_datum("lf_pipe", job_id) if d.data[0].file.path == "/b"]
    by_hash = client.get_pipeline_logs("lf_pipe", data_filters=[datum_b.data[0].hash.hex()])
    assert [m.message.strip() for m in by_hash] == ["from-b"]
