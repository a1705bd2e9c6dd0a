"""Unit tests of the CLI's pure parts: REPO@REF:PATH parsing, pachctl-style tables and the proto shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import json_format
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.pps import pps_pb2

from pachlet import protos, records, tables
from pachlet.cli.refs import Ref, RefError, parse_job_ref, parse_ref

CID = "0123456789abcdef0123456789abcdef"
CID2 = "fedcba9876543210fedcba9876543210"
T0 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("images", Ref("images")),
        ("images@master", Ref("images", "master", has_ref=True)),
        ("images@master:/a/b.csv", Ref("images", "master", path="/a/b.csv", has_ref=True)),
        ("images@master:a.csv", Ref("images", "master", path="/a.csv", has_ref=True)),
        (f"images@{CID}", Ref("images", commit_id=CID, has_ref=True)),
        (f"images@{CID}:/x", Ref("images", commit_id=CID, path="/x", has_ref=True)),
        (f"images@master={CID}", Ref("images", "master", CID, has_ref=True)),
        ("images@master^", Ref("images", "master", ancestry=1, has_ref=True)),
        ("images@master^2:/f", Ref("images", "master", path="/f", ancestry=2, has_ref=True)),
        ("images@master^^^", Ref("images", "master", ancestry=3, has_ref=True)),
        ("images@master.1", Ref("images", "master", ancestry=1, from_start=True, has_ref=True)),
        ("images@dev:/*.csv", Ref("images", "dev", path="/*.csv", has_ref=True)),
        # 31 hex characters is a branch name, not a commit ID
        (f"images@{CID[:31]}", Ref("images", CID[:31], has_ref=True)),
    ],
)
def test_parse_ref_accepts_pachctl_forms(arg: str, expected: Ref) -> None:
    assert parse_ref(arg) == expected


@pytest.mark.parametrize(
    ("arg", "kwargs", "message"),
    [
        ("", {}, "repo cannot be empty"),
        ("@master", {}, "repo cannot be empty"),
        ("images@", {}, "commit cannot be empty"),
        ("images@:/a", {}, "commit cannot be empty"),
        ("images:/a", {}, "branch or commit is missing"),
        ("im ages@master", {}, "repo name 'im ages'"),
        ("images@ma ster", {}, "branch name 'ma ster'"),
        ("images@master=xyz", {}, "'xyz' is not a commit ID"),
        ("images@master^.", {}, "cannot mix"),
        ("images", {"require_ref": True}, "expected repo@branch or repo@commit"),
        ("images@master:/a", {"allow_path": False}, "a path is not allowed here"),
    ],
)
def test_parse_ref_errors_name_the_argument(arg: str, kwargs: dict, message: str) -> None:
    with pytest.raises(RefError) as err:
        parse_ref(arg, **kwargs)
    assert message in str(err.value)
    assert f'"{arg}"' in str(err.value) or "repo name" in str(err.value)


def test_parse_job_ref() -> None:
    assert parse_job_ref(f"edges@{CID}") == ("edges", CID)
    for bad, msg in [
        ("edges", "job ID cannot be empty"),
        ("@abc", "pipeline cannot be empty"),
        ("e@", "job ID"),
    ]:
        with pytest.raises(RefError, match=msg):
            parse_job_ref(bad)


# ---------------------------------------------------------------------------------------- tables


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (512, "512B"),
        (1024, "1KiB"),
        (1234, "1.205KiB"),
        (3 * 1024**2 + 1, "3MiB"),
        (5 * 1024**3, "5GiB"),
    ],
)
def test_bytes_size_matches_go_units(size: int, text: str) -> None:
    assert tables.bytes_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "Less than a second"),
        (1, "1 second"),
        (42, "42 seconds"),
        (61, "About a minute"),
        (150, "2 minutes"),
        (3600, "About an hour"),
        (5 * 3600, "5 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration_matches_go_units(seconds: float, text: str) -> None:
    assert tables.human_duration(seconds) == text
    assert tables.ago(T0 - timedelta(seconds=seconds), now=T0) == f"{text} ago"


def test_render_table_aligns_columns_like_tabwriter() -> None:
    out = tables.render_table(
        ("NAME", "CREATED", "SIZE"), [("a", "2 minutes ago", "1KiB"), ("a" * 30, "-", "0B")]
    )
    lines = out.splitlines()
    assert len(lines) == 3 and out.endswith("\n")
    # every column starts at the same offset on every line: max(20, widest + 3)
    assert [line.index(c) for line, c in zip(lines, ("CREATED", "2 minutes", "-"), strict=True)] == [
        33,
        33,
        33,
    ]
    assert lines[0].index("SIZE") == lines[1].index("1KiB") == lines[2].index("0B") == 53
    assert all(line == line.rstrip() for line in lines)


# ---------------------------------------------------------------------------------------- protos


def _roundtrip(msg, cls):  # type: ignore[no-untyped-def]
    line = protos.to_json_line(msg)
    assert "\n" not in line
    parsed = json_format.Parse(line, cls())
    assert parsed == msg
    return json.loads(line)


def test_commit_info_proto_shape() -> None:
    rec = records.CommitInfo(
        id=CID, repo="edges", branch="master", origin=records.ORIGIN_AUTO, parent=CID2, started=T0,
        finished=T0 + timedelta(seconds=3), provenance=(("images", "master", CID),), size=2048,
    )  # fmt: skip
    doc = _roundtrip(protos.commit_info(rec), pfs_pb2.CommitInfo)
    assert doc["commit"]["id"] == CID
    assert doc["commit"]["branch"] == {
        "repo": {"name": "edges", "type": "user", "project": {"name": "default"}},
        "name": "master",
    }
    assert doc["origin"] == {"kind": "AUTO"}
    assert doc["parentCommit"]["id"] == CID2
    assert doc["finished"] == "2026-11-24T04:00:03Z"
    assert doc["directProvenance"][0]["repo"]["name"] == "images"
    assert doc["directProvenance"][0]["branch"]["name"] == "master"
    assert doc["details"]["sizeBytes"] == "2048"  # int64 -> string in protobuf's JSON mapping
    open_rec = records.CommitInfo(
        id=CID, repo="images", branch="master", origin="USER", parent=None, started=T0
    )
    doc = _roundtrip(protos.commit_info(open_rec), pfs_pb2.CommitInfo)
    assert "finished" not in doc and "parentCommit" not in doc


def test_job_info_proto_has_datum_counts() -> None:
    rec = records.JobInfo(
        pipeline="edges", id=CID, state=records.JOB_SUCCESS, created=T0, started=T0,
        finished=T0 + timedelta(seconds=5), data_processed=3, data_skipped=2, data_failed=0,
        data_recovered=0, data_total=5,
    )  # fmt: skip
    spec = {"pipeline": {"name": "edges"}, "transform": {"cmd": ["sh"], "image": "x"},
            "input": {"pfs": {"repo": "images", "glob": "/*"}}, "datumTries": 3}  # fmt: skip
    doc = _roundtrip(protos.job_info(rec, spec, "salty"), pps_pb2.JobInfo)
    assert doc["job"] == {"pipeline": {"name": "edges", "project": {"name": "default"}}, "id": CID}
    assert (doc["dataProcessed"], doc["dataSkipped"], doc["dataTotal"]) == ("3", "2", "5")
    assert doc["state"] == "JOB_SUCCESS"
    assert doc["outputCommit"]["id"] == CID and doc["outputCommit"]["repo"]["name"] == "edges"
    assert doc["details"]["input"]["pfs"]["glob"] == "/*" and doc["details"]["salt"] == "salty"


def test_pipeline_and_datum_and_repo_protos() -> None:
    spec = {"pipeline": {"name": "edges"}, "description": "d", "transform": {"cmd": ["sh"], "image": "x"},
            "input": {"cross": [{"pfs": {"repo": "a", "glob": "/*"}}, {"pfs": {"repo": "b", "glob": "/"}}]},
            "parallelismSpec": {"constant": 2}, "datumTries": 3}  # fmt: skip
    pi = records.PipelineInfo(name="edges", spec=spec, version=2, salt="s", state=records.PIPELINE_RUNNING,
                              created=T0, last_job_state=records.JOB_FAILURE)  # fmt: skip
    doc = _roundtrip(protos.pipeline_info(pi), pps_pb2.PipelineInfo)
    assert (
        doc["version"] == "2" and doc["state"] == "PIPELINE_RUNNING" and doc["lastJobState"] == "JOB_FAILURE"
    )
    assert (
        doc["details"]["parallelismSpec"] == {"constant": "2"} and doc["details"]["outputBranch"] == "master"
    )
    assert tables.shorthand_input(protos.pipeline_info(pi).details.input) == "(default/a:/* ⨯ default/b:/)"

    dr = records.DatumRecord(
        pipeline="edges", job_id=CID, datum_id="ab" * 32, state=records.DATUM_SKIPPED,
        inputs=(records.DatumInputRecord(repo="a", commit=CID2, path="/x.csv", hash="00ff", size=3),),
    )  # fmt: skip
    doc = _roundtrip(protos.datum_info(dr), pps_pb2.DatumInfo)
    assert doc["datum"]["id"] == "ab" * 32 and doc["state"] == "SKIPPED"
    f = doc["data"][0]["file"]
    assert (f["commit"]["repo"]["name"], f["commit"]["id"], f["path"]) == ("a", CID2, "/x.csv")
    assert doc["data"][0]["hash"] == "AP8="  # bytes -> base64

    ri = records.RepoInfo(name="images", created=T0, description="raw", size=4096, branches=("master",))
    doc = _roundtrip(protos.repo_info(ri), pfs_pb2.RepoInfo)
    assert doc["repo"]["name"] == "images" and doc["details"]["sizeBytes"] == "4096"
    table = tables.repo_table([protos.repo_info(ri)])
    assert table.splitlines()[0].split() == ["PROJECT", "NAME", "CREATED", "SIZE", "(MASTER)", "DESCRIPTION"]
    assert "4KiB" in table and "raw" in table


def test_secret_proto_has_no_values() -> None:
    si = records.SecretInfo(
        name="snowflakesecret", type="Opaque", keys=("PACHYDERM_SQL_PASSWORD",), created=T0
    )
    doc = _roundtrip(protos.secret_info(si), pps_pb2.SecretInfo)
    assert doc["secret"] == {"name": "snowflakesecret"} and doc["type"] == "Opaque"
    out = tables.secret_table([protos.secret_info(si)], {"snowflakesecret": ("PACHYDERM_SQL_PASSWORD",)})
    assert "PACHYDERM_SQL_PASSWORD" in out.splitlines()[1]
