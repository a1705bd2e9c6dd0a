"""pachlet core PPS through the facade: DAGs, global IDs, skipping, merging, failures, cron, secrets.

Every datum is a real subprocess (``sh`` or this Python), every file a real object in the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pachlet.api import Pachlet
from pachlet.errors import AlreadyExistsError, NotFoundError, PachletError


def py(code: str) -> list[str]:
    """A transform.cmd running Python code with this interpreter."""
    return [sys.executable, "-c", code]


def pipeline(name: str, input_: dict[str, Any], cmd: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "pipeline": {"name": name},
        "input": input_,
        "transform": {"cmd": cmd, **extra.pop("transform", {})},
        **extra,
    }


def pfs(repo: str, glob: str, **kw: Any) -> dict[str, Any]:
    return {"pfs": {"repo": repo, "glob": glob, **kw}}


def copy_upper(input_name: str) -> list[str]:
    """Upper-case every file of the datum's input into /pfs/out (same relative path)."""
    return [
        "sh",
        "-c",
        f'cd /pfs/{input_name} && find . -type f | while read f; do mkdir -p /pfs/out/$(dirname "$f"); '
        f'tr a-z A-Z < "$f" > "/pfs/out/$f"; done',
    ]


def test_three_stage_dag_shares_one_global_id_with_provenance(pach: Pachlet) -> None:
    pach.create_repo("raw")
    pach.put_file("raw", "master", "/a.txt", b"alpha\n")
    pach.create_pipeline(pipeline("upper", pfs("raw", "/*"), copy_upper("raw")))
    pach.create_pipeline(
        pipeline(
            "tagged",
            pfs("upper", "/*", name="in"),
            py(
                "import os, pathlib\n"
                "p = pathlib.Path(os.environ['in'])\n"
                "out = pathlib.Path(os.environ['OUT']) / (p.name + '.json')\n"
                "out.write_text(__import__('json').dumps({'job': os.environ['PACH_JOB_ID'],"
                " 'commit': os.environ['in_COMMIT'], 'pipeline': os.environ['PPS_PIPELINE_NAME'],"
                " 'out_commit': os.environ['PACH_OUTPUT_COMMIT_ID'], 'datum': os.environ['PACH_DATUM_ID'],"
                " 'text': p.read_text()}) + '\\n')\n"
            ),
            transform={"env": {"OUT": "/pfs/out"}},
        )
    )
    pach.create_pipeline(
        pipeline("summary", pfs("tagged", "/"), ["sh", "-c", "cat /pfs/tagged/*.json > /pfs/out/all.jsonl"])
    )
    first = pach.run_until_idle()
    assert [j.state for j in first] == ["JOB_SUCCESS"] * len(first)

    commit = pach.put_file("raw", "master", "/b.txt", b"beta\n")
    gid = commit.id
    jobs = pach.run_until_idle()
    assert [(j.pipeline, j.id, j.state) for j in jobs] == [
        ("upper", gid, "JOB_SUCCESS"),
        ("tagged", gid, "JOB_SUCCESS"),
        ("summary", gid, "JOB_SUCCESS"),
    ]
    assert {j.pipeline for j in pach.list_jobs(global_id=gid)} == {"upper", "tagged", "summary"}
    cs = pach.commit_set(gid)
    assert [(c.repo, c.origin) for c in cs] == [
        ("raw", "USER"),
        ("upper", "AUTO"),
        ("tagged", "AUTO"),
        ("summary", "AUTO"),
    ]
    assert pach.inspect_commit("upper", gid).provenance == (("raw", "master", gid),)
    assert pach.inspect_commit("tagged", gid).provenance == (("upper", "master", gid),)
    assert pach.inspect_commit("summary", gid).provenance == (("tagged", "master", gid),)
    assert [c.id for c in pach.list_commits(global_id=gid)] == [gid] * 4
    rows = [json.loads(line) for line in pach.get_file("summary", gid, "/all.jsonl").decode().splitlines()]
    assert sorted(r["text"] for r in rows) == ["ALPHA\n", "BETA\n"]
    beta = next(r for r in rows if r["text"] == "BETA\n")
    assert beta["job"] == gid and beta["commit"] == gid and beta["out_commit"] == gid
    assert beta["pipeline"] == "tagged"
    assert beta["datum"] in {d.datum_id for d in pach.list_datums("tagged", gid)}
    # the alpha datum was skipped in this job and its output carried over
    states = sorted(d.state for d in pach.list_datums("tagged", gid))
    assert states == ["SKIPPED", "SUCCESS"]
    assert pach.inspect_pipeline("summary").last_job_state == "JOB_SUCCESS"


def test_incremental_rerun_reprocesses_only_changed_datums(pach: Pachlet) -> None:
    pach.create_repo("raw")
    for name in ("a", "b", "c", "d"):
        pach.put_file("raw", "master", f"/{name}/part.txt", name.encode())
    pach.create_pipeline(pipeline("up", pfs("raw", "/*"), copy_upper("raw")))
    (job,) = pach.run_until_idle()
    assert (job.data_processed, job.data_skipped, job.data_total) == (4, 0, 4)

    changed = pach.put_file("raw", "master", "/b/part.txt", b"bee")
    (job,) = pach.run_until_idle()
    assert (job.data_processed, job.data_skipped, job.data_total) == (1, 3, 4)
    by_path = {d.inputs[0].path: d.state for d in pach.list_datums("up", changed.id)}
    assert by_path == {
        "/a/": "SKIPPED",
        "/b/": "SUCCESS",
        "/c/": "SKIPPED",
        "/d/": "SKIPPED",
    }
    assert pach.get_file("up", "master", "/b/part.txt") == b"BEE"
    assert pach.get_file("up", "master", "/a/part.txt") == b"A"

    pach.delete_file("raw", "master", "/c")
    (job,) = pach.run_until_idle()
    assert (job.data_processed, job.data_skipped, job.data_total) == (0, 3, 3)
    assert [f.path for f in pach.walk_files("up")] == ["/a/part.txt", "/b/part.txt", "/d/part.txt"]

    # update keeps the salt: nothing reprocessed; --reprocess changes it: everything is
    spec = pipeline("up", pfs("raw", "/*"), copy_upper("raw"), description="v2")
    info = pach.create_pipeline(spec, update=True)
    assert info.version == 2
    (job,) = pach.run_until_idle()
    assert (job.data_processed, job.data_skipped) == (0, 3)
    salt = pach.inspect_pipeline("up").salt
    pach.create_pipeline(spec, update=True, reprocess=True)
    assert pach.inspect_pipeline("up").salt != salt
    (job,) = pach.run_until_idle()
    assert (job.data_processed, job.data_skipped) == (3, 0)
    with pytest.raises(AlreadyExistsError, match="already exists"):
        pach.create_pipeline(spec)


def test_duplicate_output_path_fails_the_job_and_stops_downstream(pach: Pachlet) -> None:
    pach.create_repo("raw")
    pach.put_file("raw", "master", "/one", b"1")
    pach.create_pipeline(
        pipeline("dup", pfs("raw", "/*"), ["sh", "-c", "cat /pfs/raw/* > /pfs/out/same.txt"])
    )
    pach.create_pipeline(pipeline("after", pfs("dup", "/"), ["sh", "-c", "cp -r /pfs/dup/. /pfs/out/"]))
    pach.run_until_idle()
    good = pach.inspect_commit("dup", "master")
    assert good.error == "" and pach.get_file("dup", "master", "/same.txt") == b"1"

    bad = pach.put_file("raw", "master", "/two", b"2")
    jobs = {j.pipeline: j for j in pach.run_until_idle()}
    dup = jobs["dup"]
    assert dup.state == "JOB_FAILURE"
    ids = sorted(d.datum_id for d in pach.list_datums("dup", bad.id))
    assert (
        dup.reason
        == f"duplicate path output by different datums (/same.txt from {ids[0]} and /same.txt from {ids[1]})"
    )
    out = pach.inspect_commit("dup", bad.id)
    assert out.finished is not None and out.error == dup.reason
    # nothing of the failed job is visible: the failed commit holds the parent's tree
    assert pach.get_file("dup", bad.id, "/same.txt") == b"1"
    assert jobs["after"].state == "JOB_UNRUNNABLE"
    assert jobs["after"].reason == "unrunnable because the following upstream pipelines failed: dup"
    assert pach.inspect_commit("after", bad.id).error == jobs["after"].reason

    # fixing the input lets both run again
    pach.delete_file("raw", "master", "/two")
    jobs = {j.pipeline: j for j in pach.run_until_idle()}
    assert jobs["dup"].state == "JOB_SUCCESS" and jobs["after"].state == "JOB_SUCCESS"
    assert pach.get_file("after", "master", "/same.txt") == b"1"


def test_datum_tries_then_failure_with_logs(pach: Pachlet, tmp_path: Path) -> None:
    counter = tmp_path / "attempts.txt"
    pach.create_repo("raw")
    pach.put_file("raw", "master", "/x", b"x")
    pach.put_file("raw", "master", "/y", b"y")
    cmd = ["sh", "-c", f'echo try >> {counter}; echo "boom on $(basename $raw)"; [ "$(basename $raw)" = y ]']
    pach.create_pipeline(pipeline("flaky", pfs("raw", "/*"), cmd, datumTries=2))
    (job,) = pach.run_until_idle()
    assert job.state == "JOB_FAILURE"
    datums = {d.inputs[0].path: d for d in pach.list_datums("flaky", job.id)}
    assert datums["/x"].state == "FAILED" and datums["/x"].attempts == 2
    assert datums["/y"].state == "SUCCESS" and datums["/y"].attempts == 1
    assert job.reason == f"datum {datums['/x'].datum_id} failed"
    assert (job.data_failed, job.data_processed) == (1, 1)
    assert counter.read_text().count("try") == 3
    lines = [entry.message for entry in pach.logs("flaky", job.id, datums["/x"].datum_id)]
    assert lines.count("boom on x") == 2 and any("attempt 2/2 failed" in m for m in lines)
    assert pach.inspect_commit("flaky", job.id).error == job.reason


def test_err_cmd_accept_return_code_and_timeout(pach: Pachlet) -> None:
    pach.create_repo("raw")
    pach.put_file("raw", "master", "/x", b"x")
    pach.create_pipeline(
        pipeline(
            "recover", pfs("raw", "/*"), ["sh", "-c", "exit 3"], datumTries=1, transform={"errCmd": ["true"]}
        )
    )
    pach.create_pipeline(
        pipeline(
            "accept",
            pfs("raw", "/*"),
            ["sh", "-c", "echo ok > /pfs/out/ok; exit 3"],
            transform={"acceptReturnCode": [3]},
        )
    )
    pach.create_pipeline(
        pipeline("slow", pfs("raw", "/*"), ["sleep", "5"], datumTries=1, datumTimeout="0.3s")
    )
    jobs = {j.pipeline: j for j in pach.run_until_idle()}
    assert jobs["recover"].state == "JOB_SUCCESS" and jobs["recover"].data_recovered == 1
    assert [d.state for d in pach.list_datums("recover", jobs["recover"].id)] == ["RECOVERED"]
    assert jobs["accept"].state == "JOB_SUCCESS" and pach.get_file("accept", "master", "/ok") == b"ok\n"
    assert jobs["slow"].state == "JOB_FAILURE"
    (d,) = pach.list_datums("slow", jobs["slow"].id)
    assert "timed out after 0.3s" in d.reason and d.duration < 4


def test_env_path_cwd_stdin_and_parallelism(
    pach: Pachlet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    pach.create_repo("raw")
    for i in range(4):
        pach.put_file("raw", "master", f"/f{i}", str(i).encode())
    pach.create_pipeline(
        pipeline(
            "envs",
            pfs("raw", "/*"),
            ["sh"],
            transform={
                "stdin": [
                    'echo "$PATH" | cut -d: -f1 > /pfs/out/$(basename $raw).path',
                    "pwd >> /pfs/out/$(basename $raw).path",
                ]
            },
            parallelismSpec={"constant": 2},
        )
    )
    events: list[tuple[str, int, int]] = []
    (job,) = pach.run_until_idle(lambda info, done, total: events.append((info.state, done, total)))
    assert events[0] == ("JOB_RUNNING", 0, 4) and events[-1][1:] == (4, 4)
    assert [d for _, d, _ in events] == sorted(d for _, d, _ in events)
    assert job.state == "JOB_SUCCESS" and job.data_processed == 4
    first, cwd = pach.get_file("envs", "master", "/f2.path").decode().splitlines()
    assert first == str(Path(sys.executable).parent)
    # host: pachlet's cwd; sandbox: "/" (the working directory of a python image; pachlet.runtimes)
    assert cwd == (str(tmp_path) if job.runtime == "host" else "/")


def test_cron_overwrite_true_keeps_only_the_latest_tick(pach: Pachlet) -> None:
    spec = pipeline(
        "ticker",
        {"cron": {"name": "tick", "spec": "@every 1h", "overwrite": True}},
        ["sh", "-c", "ls /pfs/tick > /pfs/out/seen"],
    )
    pach.create_pipeline(spec)
    pach.run_until_idle()
    t1 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    pach.run_cron("ticker", now=t1)
    pach.run_until_idle()
    gid = pach.run_cron("ticker", now=t1 + timedelta(hours=1))
    (job,) = pach.run_until_idle()
    assert job.id == gid and job.state == "JOB_SUCCESS"
    assert [f.path for f in pach.walk_files("ticker_tick")] == ["/2026-01-01T11:00:00Z"]
    assert (job.data_processed, job.data_skipped, job.data_total) == (1, 0, 1)
    assert pach.get_file("ticker", "master", "/seen") == b"2026-01-01T11:00:00Z\n"
    pach.create_repo("plain")
    pach.create_pipeline(pipeline("nocron", pfs("plain", "/*"), ["true"]))
    with pytest.raises(PachletError, match="pipeline doesn.t have a cron input"):
        pach.run_cron("nocron")


def test_cron_overwrite_false_accumulates_and_catches_up(pach: Pachlet) -> None:
    start = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    spec = pipeline(
        "acc",
        {"cron": {"name": "tick", "spec": "@every 1h", "start": start.isoformat().replace("+00:00", "Z")}},
        ["sh", "-c", "for f in /pfs/tick/*; do cp $f /pfs/out/; done"],
    )
    pach.create_pipeline(spec)
    pach.run_until_idle()
    due = pach.due_cron_ticks(start + timedelta(hours=3, minutes=5))
    assert [t.at for t in due] == [start + timedelta(hours=h) for h in (1, 2, 3)]
    gids = pach.apply_cron_ticks(due)
    jobs = pach.run_until_idle()
    assert [j.id for j in jobs] == gids
    assert [(j.data_processed, j.data_skipped) for j in jobs] == [(1, 0), (1, 1), (1, 2)]
    assert len(pach.walk_files("acc_tick")) == 3 and len(pach.walk_files("acc")) == 3
    assert pach.due_cron_ticks(start + timedelta(hours=3, minutes=5)) == []
    assert [t.at for t in pach.due_cron_ticks(start + timedelta(hours=4))] == [start + timedelta(hours=4)]


def test_secrets_reach_the_env_and_never_the_logs_or_outputs(pach: Pachlet, tmp_path: Path) -> None:
    value = "s3cr3t-Value-42"
    digest = hashlib.sha256(value.encode()).hexdigest()  # the spec names the secret only by hash
    pach.create_secret(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"PASSWORD": value}}
    )
    info = pach.inspect_secret("db")
    assert info.keys == ("PASSWORD",) and value not in repr(info)
    pach.create_repo("raw")
    pach.put_file("raw", "master", "/x", b"x")
    pach.create_pipeline(
        pipeline(
            "uses",
            pfs("raw", "/*"),
            [
                "sh",
                "-c",
                f'[ "$(printf %s "$DB_PASS" | sha256sum | cut -c1-64)" = {digest} ] && echo ok > /pfs/out/checked;'
                ' echo "leak: $DB_PASS"',
            ],
            transform={"secrets": [{"name": "db", "key": "PASSWORD", "envVar": "DB_PASS"}]},
        )
    )
    (job,) = pach.run_until_idle()
    assert job.state == "JOB_SUCCESS"
    assert pach.get_file("uses", "master", "/checked") == b"ok\n"
    messages = [entry.message for entry in pach.logs("uses")]
    assert messages == ["leak: [REDACTED]"]
    for p in (tmp_path / "root" / "logs").rglob("*"):
        if p.is_file():
            assert value not in p.read_text()
    assert value not in json.dumps(pach.inspect_pipeline("uses").spec)
    assert all(value.encode() not in pach.get_file("uses", "master", f.path) for f in pach.walk_files("uses"))
    assert pach.secret_value("db", "PASSWORD") == value
    pach.delete_secret("db")
    with pytest.raises(NotFoundError):
        pach.inspect_secret("db")
    pach.put_file("raw", "master", "/y", b"y")
    (job,) = pach.run_until_idle()
    assert job.state == "JOB_FAILURE" and "secret db not found" in job.reason


def test_datums_for_spec_and_delete_pipeline(pach: Pachlet) -> None:
    pach.create_repo("raw")
    for n in ("a", "b"):
        pach.put_file("raw", "master", f"/{n}", n.encode())
    spec = pipeline("p", pfs("raw", "/*"), ["true"])
    assert sorted(d.inputs[0].path for d in pach.datums_for_spec(spec)) == ["/a", "/b"]
    assert pach.list_pipelines() == []  # nothing created
    pach.create_pipeline(spec)
    pach.create_pipeline(pipeline("q", pfs("p", "/*"), ["true"]))
    with pytest.raises(PachletError, match="read its output"):
        pach.delete_pipeline("p")
    with pytest.raises(PachletError, match="belongs to pipeline"):
        pach.delete_repo("p")
    with pytest.raises(PachletError, match="read it"):
        pach.delete_repo("raw")
    pach.delete_pipeline("q")
    pach.delete_pipeline("p")
    assert {r.name for r in pach.list_repos()} == {"raw"}
    assert pach.pending_jobs() == []
    assert pach.fsck(fix=True).clean and pach.fsck().clean
    assert os.path.isdir(pach.root)


def test_egress_hook_runs_after_the_output_commit_and_fails_the_job(pach: Pachlet) -> None:
    pach.create_secret({"kind": "Secret", "metadata": {"name": "sql"}, "stringData": {"PW": "pw-value"}})
    pach.create_repo("raw")
    pach.put_file("raw", "master", "/x", b"x")
    egress = {
        "sqlDatabase": {
            "url": "nosuchdb://user@acct/DB/SCHEMA",
            "fileFormat": {"type": "CSV"},
            "secret": {"name": "sql", "key": "PW"},
        }
    }
    pach.create_pipeline(
        pipeline(
            "out",
            pfs("raw", "/*"),
            ["sh", "-c", "mkdir /pfs/out/T; echo 1 > /pfs/out/T/x.csv"],
            egress=egress,
        )
    )
    (job,) = pach.run_until_idle()
    assert job.state == "JOB_FAILURE" and "nosuchdb" in job.reason
    commit = pach.inspect_commit("out", job.id)
    assert commit.finished is not None and commit.error == job.reason
    # the output the egress could not load is never served: the commit keeps its parent's (empty) tree
    assert pach.list_files("out", job.id, "/") == []


def test_unnamed_cross_runs_in_spec_order_and_legacy_specs_keep_their_order(
    pach: Pachlet, tmp_path: Path
) -> None:
    """api_server.go setInputDefaults sorts before it names: the job of an unnamed ``cross: [zeta, alpha]``
    sees its inputs in spec order. A spec stored by an older pachlet (no order marker) keeps the order it
    had there (composites sorted by the filled-in names), so an existing root's datum IDs stay."""
    for repo in ("zeta", "alpha"):
        pach.create_repo(repo)
        pach.put_file(repo, "master", "/f", repo.encode())
    spec = pipeline("zx", {"cross": [pfs("zeta", "/*"), pfs("alpha", "/*")]}, ["sh", "-c", "true"])
    pach.create_pipeline(spec)
    (job,) = [j for j in pach.run_until_idle() if j.pipeline == "zx"]
    (datum,) = pach.list_datums("zx", job.id)
    assert [c["pfs"]["repo"] for c in pach.inspect_pipeline("zx").spec["input"]["cross"]] == ["zeta", "alpha"]
    (planned,) = pach.datums_for_spec(spec)
    assert datum.datum_id == planned.id and [i.name for i in planned.inputs] == ["zeta", "alpha"]
    pach.close()
    db = sqlite3.connect(tmp_path / "root" / "pachlet.db")
    with db:
        for table in ("pipelines", "pipeline_versions"):
            for name, blob in db.execute(f"SELECT name, spec FROM {table}").fetchall():
                legacy = {k: v for k, v in json.loads(blob).items() if k != "pachletInputOrder"}
                db.execute(f"UPDATE {table} SET spec=? WHERE name=?", (json.dumps(legacy), name))
    db.close()
    with Pachlet(tmp_path / "root", timeout=5) as old:
        stored = old.inspect_pipeline("zx").spec
        assert [c["pfs"]["name"] for c in stored["input"]["cross"]] == ["alpha", "zeta"]
        assert "pachletInputOrder" not in stored
