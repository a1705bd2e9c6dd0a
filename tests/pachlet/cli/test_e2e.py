"""The real ``pachlet`` console script, as subprocesses, against a temporary root (PACHLET_ROOT from
conftest): PFS verbs and their ``-o json`` shapes, errors, ``list datum -f``, a two-stage pipeline,
logs, secrets, fsck and mount."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from google.protobuf import json_format
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.pps import pps_pb2

from pachlet.cli import cli

pytestmark = pytest.mark.e2e

PACHLET = str(Path(sys.executable).parent / "pachlet")


def pachlet(
    *args: str, ok: bool = True, stdin: bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run the console script; with ``ok`` assert exit 0."""
    proc = subprocess.run([PACHLET, *args], capture_output=True, input=stdin, cwd=cwd, timeout=120)
    if ok:
        assert proc.returncode == 0, f"pachlet {' '.join(args)} failed:\n{proc.stderr.decode()}"
    return proc


READ_VERBS = {"list", "inspect", "get", "glob", "logs"}


def out(*args: str, **kw) -> str:  # type: ignore[no-untyped-def]
    """stdout of a command; read-only verbs run in-process through click's CliRunner (the same ``cli``
    object the console script runs) to keep the suite fast, everything else as a real subprocess."""
    if args and args[0] in READ_VERBS and not kw:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, f"pachlet {' '.join(args)} failed: {result.output}"
        return result.stdout_bytes.decode()
    return pachlet(*args, **kw).stdout.decode()


def json_lines(cls, *args: str) -> list:  # type: ignore[no-untyped-def]
    """Run a ``-o json`` command and parse every line into ``cls`` (proving the message shape)."""
    text = out(*args, "-o", "json")
    msgs = []
    for line in text.splitlines():
        assert line.strip(), "blank line in json output"
        msgs.append(json_format.Parse(line, cls()))
    return msgs


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 1, (proc.returncode, err)
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, (n, err)
    return err


def columns_aligned(table: str) -> bool:
    """pachctl's tabwriter pads every tab-terminated cell, the last column included, so the lines of
    an aligned table (under 50 rows: one block) all have the same length."""
    return len({len(line) for line in table.splitlines()}) == 1


@pytest.fixture
def work(tmp_path: Path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d


def test_repo_branch_commit_file_verbs(work: Path) -> None:
    pachlet("create", "repo", "images", "-d", "raw images")
    (work / "a.txt").write_text("hello\n")
    pachlet("put", "file", "images@master:/a.txt", "-f", str(work / "a.txt"))
    table = out("list", "repo")
    assert table.splitlines()[0].split()[:3] == ["PROJECT", "NAME", "CREATED"] and "raw images" in table
    assert table.splitlines()[1].split()[:2] == ["default", "images"]
    assert columns_aligned(table)

    (repo,) = json_lines(pfs_pb2.RepoInfo, "list", "repo")
    assert repo.repo.name == "images" and repo.description == "raw images"
    (info,) = json_lines(pfs_pb2.RepoInfo, "inspect", "repo", "images")
    assert info.repo.name == "images"

    # a directory with -r, stdin with -f -, and a second version of a.txt
    (work / "dir" / "sub").mkdir(parents=True)
    (work / "dir" / "b.csv").write_text("x,y\n1,2\n")
    (work / "dir" / "sub" / "c.csv").write_text("z\n")
    pachlet("put", "file", "images@master:/data", "-r", "-f", str(work / "dir"))
    pachlet("put", "file", "images@master:/stdin.txt", "-f", "-", stdin=b"from stdin")
    (work / "a.txt").write_text("hello again\n")
    pachlet("put", "file", "images@master:/a.txt", "-f", str(work / "a.txt"))

    assert out("get", "file", "images@master:/a.txt") == "hello again\n"
    assert out("get", "file", "images@master^:/a.txt") == "hello\n"
    assert out("get", "file", "images@master.1:/a.txt") == "hello\n"
    assert out("get", "file", "images@master:/stdin.txt") == "from stdin"
    pachlet("get", "file", "images@master:/data/sub/c.csv", "-o", str(work / "c.out"))
    assert (work / "c.out").read_text() == "z\n"
    pachlet("get", "file", "images@master:/data", "-o", str(work / "dl"))
    assert (work / "dl" / "sub" / "c.csv").read_text() == "z\n" and (work / "dl" / "b.csv").exists()

    files = json_lines(pfs_pb2.FileInfo, "list", "file", "images@master")
    by_path = {f.file.path: f for f in files}
    assert set(by_path) == {"/a.txt", "/data/", "/stdin.txt"}
    assert by_path["/data/"].file_type == pfs_pb2.DIR and by_path["/a.txt"].size_bytes == 12
    ftable = out("list", "file", "images@master:/data")
    assert ftable.splitlines()[0].split() == ["NAME", "TYPE", "SIZE"] and "/data/b.csv" in ftable
    globbed = json_lines(pfs_pb2.FileInfo, "glob", "file", "images@master:/data/**.csv")
    assert sorted(f.file.path for f in globbed) == ["/data/b.csv", "/data/sub/c.csv"]

    commits = json_lines(pfs_pb2.CommitInfo, "list", "commit", "images@master")
    assert len(commits) == 4
    assert all(c.origin.kind == pfs_pb2.USER and c.HasField("finished") for c in commits)
    head = commits[0]
    assert head.parent_commit.id == commits[1].commit.id  # newest first
    ctable = out("list", "commit", "images")
    assert (
        ctable.splitlines()[0].split()[:4] == ["PROJECT", "REPO", "BRANCH", "COMMIT"]
        and head.commit.id in ctable
    )
    assert columns_aligned(ctable)
    sets = json_lines(pfs_pb2.CommitSetInfo, "list", "commit")
    assert {s.commit_set.id for s in sets} == {c.commit.id for c in commits}
    (one,) = json_lines(pfs_pb2.CommitInfo, "list", "commit", head.commit.id)
    assert one.commit.repo.name == "images"

    (branch,) = json_lines(pfs_pb2.BranchInfo, "list", "branch", "images")
    assert branch.branch.name == "master" and branch.head.id == head.commit.id
    detail = out("inspect", "commit", f"images@{head.commit.id}")
    assert f"Commit: images@{head.commit.id}" in detail and "Parent: " + commits[1].commit.id in detail
    (waited,) = json_lines(pfs_pb2.CommitInfo, "wait", "commit", "images@master")
    assert waited.commit.id == head.commit.id

    pachlet("create", "branch", "images@dev", "--head", commits[2].commit.id)
    assert out("get", "file", "images@dev:/a.txt") == "hello\n"
    pachlet("delete", "file", "images@master:/a.txt")
    err = assert_one_line_error(pachlet("get", "file", "images@master:/a.txt", ok=False), "a.txt")
    assert err.startswith("pachlet: ")


def test_errors_are_one_line(work: Path) -> None:
    assert_one_line_error(pachlet("list", "file", "nosuchrepo@master", ok=False), "nosuchrepo")
    assert_one_line_error(pachlet("inspect", "repo", "nosuchrepo", ok=False), "nosuchrepo")
    assert_one_line_error(pachlet("get", "file", "images@:/a", ok=False), "commit cannot be empty")
    assert_one_line_error(pachlet("get", "file", "@master:/a", ok=False), "repo cannot be empty")
    assert_one_line_error(pachlet("inspect", "job", "edges", ok=False), "expected pipeline@job_id")
    assert_one_line_error(pachlet("inspect", "pipeline", "nope", ok=False), "nope")

    bad_json = work / "bad.json"
    bad_json.write_text('{"pipeline": {"name": "p"}, "transform": {"cmd": ["true"]}, "input": {"pfs": ')
    assert_one_line_error(pachlet("create", "pipeline", "-f", str(bad_json), ok=False), "bad.json")
    bad_field = work / "badfield.json"
    bad_field.write_text(
        json.dumps({"pipeline": {"name": "p"}, "transform": {"cmd": ["true"]},
                    "input": {"pfs": {"repo": "images", "glob": "/*"}}, "parallelismSpec": {"constant": "many"}})
    )  # fmt: skip
    err = assert_one_line_error(
        pachlet("create", "pipeline", "-f", str(bad_field), ok=False), "badfield.json"
    )
    assert "parallelism" in err.lower()
    no_glob = work / "noglob.yaml"
    no_glob.write_text('pipeline: {name: q}\ntransform: {cmd: ["true"]}\ninput: {pfs: {repo: images}}\n')
    err = assert_one_line_error(pachlet("create", "pipeline", "-f", str(no_glob), ok=False), "noglob.yaml")
    assert "glob" in err


def _write_spec(path: Path, spec: dict) -> Path:
    path.write_text(json.dumps(spec))
    return path


def test_list_datum_from_spec_with_cross(work: Path) -> None:
    pachlet("create", "repo", "left")
    pachlet("create", "repo", "right")
    for name in ("l1", "l2", "l3"):
        (work / name).write_text(name)
    pachlet(
        "put", "file", "left@master", "-f", str(work / "l1"), "-f", str(work / "l2"), "-f", str(work / "l3")
    )
    (work / "model").mkdir()
    (work / "model" / "m.bin").write_text("model")
    pachlet("put", "file", "right@master:/model", "-r", "-f", str(work / "model"))
    spec = _write_spec(work / "cross.json", {
        "pipeline": {"name": "crossed"}, "transform": {"cmd": ["true"], "image": "ubuntu:20.04"},
        "input": {"cross": [{"pfs": {"repo": "left", "glob": "/*"}}, {"pfs": {"repo": "right", "glob": "/"}}]},
    })  # fmt: skip
    datums = json_lines(pps_pb2.DatumInfo, "list", "datum", "-f", str(spec))
    assert len(datums) == 3
    left_head = json_lines(pfs_pb2.CommitInfo, "list", "commit", "left@master")[0].commit.id
    right_head = json_lines(pfs_pb2.CommitInfo, "list", "commit", "right@master")[0].commit.id
    seen_left = set()
    for d in datums:
        assert len(d.datum.id) == 64
        repos = [(f.file.commit.repo.name, f.file.commit.id, f.file.path) for f in d.data]
        assert [r[0] for r in repos] == ["left", "right"]
        assert repos[0][1] == left_head and repos[1][1] == right_head and repos[1][2] == "/"
        assert d.data[0].hash
        seen_left.add(repos[0][2])
    assert seen_left == {"/l1", "/l2", "/l3"}
    table = out("list", "datum", "-f", str(spec))
    assert table.splitlines()[0].split() == ["ID", "FILES", "STATUS", "TIME"] and len(table.splitlines()) == 4
    assert f"left@{left_head}:/l1" in table
    # nothing ran: no pipeline and no job exists
    assert json_lines(pps_pb2.PipelineInfo, "list", "pipeline") == []
    # an input repo that does not exist is one clear line
    missing = _write_spec(work / "missing.json", {
        "pipeline": {"name": "m"}, "transform": {"cmd": ["true"]}, "input": {"pfs": {"repo": "ghost", "glob": "/*"}},
    })  # fmt: skip
    assert_one_line_error(pachlet("list", "datum", "-f", str(missing), ok=False), "ghost")


def test_two_stage_pipeline_logs_and_provenance(work: Path) -> None:
    pachlet("create", "repo", "raw")
    for name, text in (("a.txt", "alpha\n"), ("b.txt", "beta\n")):
        (work / name).write_text(text)
    pachlet("put", "file", "raw@master", "-f", str(work / "a.txt"), "-f", str(work / "b.txt"))
    py = sys.executable
    upper = _write_spec(work / "upper.json", {
        "pipeline": {"name": "upper"},
        "transform": {"cmd": ["sh"], "stdin": [
            'echo "processing $raw"',
            f"{py} -c \"import sys,os; n=os.path.basename(sys.argv[1]); "
            f"open('/pfs/out/'+n,'w').write(open(sys.argv[1]).read().upper())\" $raw",
        ]},
        "input": {"pfs": {"repo": "raw", "glob": "/*"}},
    })  # fmt: skip
    count = _write_spec(work / "count.json", {
        "pipeline": {"name": "count"},
        "transform": {"cmd": ["sh", "-c", "cat /pfs/upper/* > /pfs/out/all.txt"]},
        "input": {"pfs": {"repo": "upper", "glob": "/"}},
    })  # fmt: skip
    proc = pachlet("create", "pipeline", "-f", str(upper))
    assert "upper@" in proc.stderr.decode() and "success" in proc.stderr.decode()
    pachlet("create", "pipeline", "-f", str(count))
    assert out("get", "file", "upper@master:/a.txt") == "ALPHA\n"
    assert out("get", "file", "count@master:/all.txt") == "ALPHA\nBETA\n"

    ptable = out("list", "pipeline")
    assert ptable.splitlines()[0].split()[:4] == ["PROJECT", "NAME", "VERSION", "INPUT"]
    assert "default/raw:/*" in ptable  # pachctl's ShorthandInput names the project
    pipes = {p.pipeline.name: p for p in json_lines(pps_pb2.PipelineInfo, "list", "pipeline")}
    assert set(pipes) == {"upper", "count"} and pipes["upper"].details.input.pfs.repo == "raw"

    # a new input commit: one global ID across raw, upper and count; b.txt is skipped
    (work / "c.txt").write_text("gamma\n")
    pachlet("put", "file", "raw@master", "-f", str(work / "c.txt"))
    raw_head = json_lines(pfs_pb2.CommitInfo, "list", "commit", "raw@master")[0]
    gid = raw_head.commit.id
    in_set = json_lines(pfs_pb2.CommitInfo, "list", "commit", gid)
    assert {c.commit.repo.name for c in in_set} >= {"raw", "upper", "count"}
    jobs = json_lines(pps_pb2.JobInfo, "list", "job", gid)
    assert {j.job.pipeline.name for j in jobs} == {"upper", "count"}
    (job,) = [j for j in jobs if j.job.pipeline.name == "upper"]
    assert (job.data_processed, job.data_skipped, job.data_total) == (1, 2, 3)
    assert job.state == pps_pb2.JOB_SUCCESS
    jtable = out("list", "job", "-p", "upper")
    assert jtable.splitlines()[0].split()[:3] == ["PROJECT", "PIPELINE", "ID"] and "1 + 2 / 3" in jtable
    assert columns_aligned(jtable)
    sets = json_lines(pps_pb2.JobSetInfo, "list", "job")
    assert gid in {s.job_set.id for s in sets}
    (inspected,) = json_lines(pps_pb2.JobInfo, "inspect", "job", f"upper@{gid}")
    assert inspected.details.input.pfs.glob == "/*"
    assert "Skipped: 2" in out("inspect", "job", f"upper@{gid}")

    detail = out("inspect", "commit", f"count@{gid}")
    assert f"upper@{gid} (master)" in detail
    (count_commit,) = json_lines(pfs_pb2.CommitInfo, "inspect", "commit", f"count@{gid}")
    assert count_commit.origin.kind == pfs_pb2.AUTO
    assert [(p.repo.name, p.id) for p in count_commit.direct_provenance] == [("upper", gid)]

    datums = json_lines(pps_pb2.DatumInfo, "list", "datum", f"upper@{gid}")
    assert sorted(pps_pb2.DatumState.Name(d.state) for d in datums) == ["SKIPPED", "SKIPPED", "SUCCESS"]
    logs = out("logs", "-p", "upper")
    assert "processing" in logs and "c.txt" in logs
    first_job = json_lines(pps_pb2.JobInfo, "list", "job", "-p", "upper")[-1].job.id
    assert "a.txt" in out("logs", "-p", "upper", "-j", first_job)
    log_msgs = json_lines(pps_pb2.LogMessage, "logs", "-p", "upper")
    assert log_msgs and all(m.pipeline_name == "upper" for m in log_msgs)

    pachlet("delete", "pipeline", "count")
    assert {p.pipeline.name for p in json_lines(pps_pb2.PipelineInfo, "list", "pipeline")} == {"upper"}


def test_failed_job_exits_1_with_reason(work: Path) -> None:
    pachlet("create", "repo", "raw")
    (work / "a").write_text("a")
    pachlet("put", "file", "raw@master", "-f", str(work / "a"))
    spec = _write_spec(work / "fail.json", {
        "pipeline": {"name": "fails"}, "transform": {"cmd": ["sh", "-c", "exit 3"]},
        "input": {"pfs": {"repo": "raw", "glob": "/*"}}, "datumTries": 1,
    })  # fmt: skip
    proc = pachlet("create", "pipeline", "-f", str(spec), ok=False)
    assert proc.returncode == 1
    assert "fails@" in proc.stderr.decode() and "failure" in proc.stderr.decode()
    assert "Traceback" not in proc.stderr.decode()
    (job,) = json_lines(pps_pb2.JobInfo, "list", "job", "-p", "fails")
    assert job.state == pps_pb2.JOB_FAILURE and job.data_failed == 1


def test_secrets_never_print_values(work: Path) -> None:
    manifest = work / "secret.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: snowflakesecret\n"
        "stringData:\n  PACHYDERM_SQL_PASSWORD: hunter2-plain\n"
        "data:\n  OTHER: c2VjcmV0LWJhc2U2NA==\n"  # secret-base64
    )
    outputs = [pachlet("create", "secret", "-f", str(manifest))]
    outputs.append(pachlet("list", "secret"))
    outputs.append(pachlet("list", "secret", "-o", "json"))
    outputs.append(pachlet("inspect", "secret", "snowflakesecret"))
    outputs.append(pachlet("inspect", "secret", "snowflakesecret", "-o", "json"))
    table = outputs[1].stdout.decode()
    assert "snowflakesecret" in table and "PACHYDERM_SQL_PASSWORD" in table and "OTHER" in table
    (info,) = [
        json_format.Parse(line, pps_pb2.SecretInfo()) for line in outputs[2].stdout.decode().splitlines()
    ]
    assert info.secret.name == "snowflakesecret"
    for proc in outputs:
        text = proc.stdout.decode() + proc.stderr.decode()
        assert "hunter2" not in text and "secret-base64" not in text and "c2VjcmV0" not in text
    bad = work / "bad.yaml"
    bad.write_text("kind: Secret\nmetadata: {}\n")
    assert_one_line_error(pachlet("create", "secret", "-f", str(bad), ok=False), "bad.yaml", "metadata.name")
    pachlet("delete", "secret", "snowflakesecret")
    assert json_lines(pps_pb2.SecretInfo, "list", "secret") == []


def test_fsck_mount_version(work: Path) -> None:
    pachlet("create", "repo", "data")
    (work / "f.csv").write_text("1,2\n")
    pachlet("put", "file", "data@master:/dir/f.csv", "-f", str(work / "f.csv"))
    assert "No errors found." in out("fsck")
    target = work / "mnt"
    pachlet("mount", str(target))
    mounted = target / "data" / "dir" / "f.csv"
    assert mounted.read_text() == "1,2\n"
    assert not os.access(mounted, os.W_OK) or not (mounted.stat().st_mode & 0o222)
    v = out("version")
    assert v.splitlines()[0].split() == ["COMPONENT", "VERSION"] and "pachlet" in v


def test_root_held_by_another_process_is_one_clear_line(tmp_path: Path) -> None:
    root = os.environ["PACHLET_ROOT"]
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom pachlet.api import Pachlet\np = Pachlet(sys.argv[1])\n"
         "print('ready', flush=True)\ntime.sleep(60)\n", root],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"ready"
        proc = pachlet("--lock-timeout", "0.5", "create", "repo", "x", ok=False)
        # a notice naming the holder as soon as it waits, then one error line
        notice, error = proc.stderr.decode().strip().splitlines()
        assert notice.startswith(
            f"pachlet: waiting up to 0.5s for pachlet root {root}, in use by pid {holder.pid}"
        )
        assert proc.returncode == 1 and root in error and f"pid {holder.pid}" in error and "gave up" in error
    finally:
        holder.kill()
        holder.wait()
    pachlet("create", "repo", "x")


def test_run_cron_and_update_pipeline(work: Path) -> None:
    spec = {
        "pipeline": {"name": "ticker"},
        "transform": {"cmd": ["sh", "-c", "ls /pfs/in > /pfs/out/ticks"]},
        "input": {"cron": {"name": "in", "spec": "@never", "overwrite": True}},
    }
    path = _write_spec(work / "ticker.yaml", spec)  # JSON is valid YAML
    pachlet("create", "pipeline", "-f", str(path))
    gid = out("run", "cron", "ticker").strip()
    assert re.fullmatch(r"[0-9a-f]{32}", gid)
    (tick_commit,) = [
        c for c in json_lines(pfs_pb2.CommitInfo, "list", "commit", gid) if c.commit.repo.name == "ticker_in"
    ]
    ticks = json_lines(pfs_pb2.FileInfo, "list", "file", f"ticker_in@{tick_commit.commit.id}")
    assert len(ticks) == 1 and re.fullmatch(r"/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", ticks[0].file.path)
    (job,) = json_lines(pps_pb2.JobInfo, "list", "job", "-p", "ticker", gid)
    assert job.state == pps_pb2.JOB_SUCCESS and job.data_processed == 1
    # an update keeps the salt (the tick is skipped); --reprocess processes it again
    spec["transform"]["cmd"] = ["sh", "-c", "ls /pfs/in > /pfs/out/ticks; echo v2 >> /pfs/out/ticks"]
    _write_spec(path, spec)
    pachlet("update", "pipeline", "-f", str(path))
    latest = json_lines(pps_pb2.JobInfo, "list", "job", "-p", "ticker")[0]
    assert (latest.data_processed, latest.data_skipped) == (0, 1)
    pachlet("update", "pipeline", "-f", str(path), "--reprocess")
    latest = json_lines(pps_pb2.JobInfo, "list", "job", "-p", "ticker")[0]
    assert (latest.data_processed, latest.data_skipped) == (1, 0)
    assert "v2" in out("get", "file", "ticker@master:/ticks")
    (info,) = json_lines(pps_pb2.PipelineInfo, "inspect", "pipeline", "ticker")
    assert info.version == 3 and info.details.input.cron.spec == "@never"


def test_create_pipeline_from_jsonnet_with_args(work: Path) -> None:
    pachlet("create", "repo", "src")
    tpl = work / "copy.jsonnet"
    tpl.write_text(
        "function(name, glob) {pipeline: {name: name}, transform: {cmd: ['sh', '-c', 'cp -r /pfs/src/. /pfs/out/']},"
        " input: {pfs: {repo: 'src', glob: glob}}}\n"
    )
    pachlet("create", "pipeline", "--jsonnet", str(tpl), "--arg", "name=copied", "--arg", "glob=/")
    (info,) = json_lines(pps_pb2.PipelineInfo, "inspect", "pipeline", "copied")
    assert info.details.input.pfs.glob == "/"
    assert_one_line_error(
        pachlet("create", "pipeline", "--jsonnet", str(tpl), "--arg", "novalue", ok=False), "novalue"
    )


def test_pachd_unreachable_is_one_line() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert_one_line_error(
        pachlet("--pachd", f"127.0.0.1:{port}", "list", "repo", ok=False), "UNAVAILABLE", f"127.0.0.1:{port}"
    )
    assert_one_line_error(pachlet("--pachd", "nohostport", "list", "repo", ok=False), "expected HOST:PORT")
