"""pachctl 2.7.6's CLI forms through the ``pachlet`` command (in process, on the test's PACHLET_ROOT):
``put file`` naming as ``putFileHelper`` in src/server/pfs/cmds/cmds.go defines it, ``list commit``'s
forms and flags, ``--raw`` / ``-o json|yaml`` as cmdutil's encoder prints, and ``version``.

Replayed from pachctl's own tests (src/server/pfs/cmds/cmds_test.go at v2.7.6): ``TestPutFileTAR``
(``.tar`` and ``.tar.gz`` with ``--untar``), ``TestPutFileNonexistentRepo`` (the repo is checked before
the source), ``TestCommit`` (``list commit REPO`` lists every commit made with ``start commit`` /
``put file -f -`` / ``finish commit``).
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from google.protobuf import json_format
from python_pachyderm.proto.v2.pfs import pfs_pb2

from helpers.served import Served
from pachlet import __version__
from pachlet.cli import cli


def run(*args: str, ok: bool = True, stdin: bytes | None = None) -> Result:
    """``pachlet ARGS`` in process; with ``ok`` assert exit 0 (the console script's ``main`` turns a
    PachletError into one ``pachlet: ...`` line and exit 1; here it stays ``result.exception``)."""
    result = CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=not ok)
    if ok:
        assert result.exit_code == 0, f"pachlet {' '.join(args)}: {result.output}"
    return result


def error(*args: str, stdin: bytes | None = b"") -> str:
    """The error a failing command reports (a PachletError's text, or click's usage error)."""
    result = run(*args, ok=False, stdin=stdin)
    assert result.exit_code != 0, args
    return result.output + str(result.exception or "")


def paths(ref: str = "r@master") -> list[str]:
    """Every file path of a commit (``glob file REPO@REF:/**`` as JSON lines)."""
    docs = [json.loads(line) for line in run("glob", "file", f"{ref}:/**", "-o", "json").stdout.splitlines()]
    return sorted(d["file"]["path"] for d in docs if d.get("file_type") == "FILE")


def content(path: str, ref: str = "r@master") -> str:
    return run("get", "file", f"{ref}:{path}").stdout


@pytest.fixture
def src(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local tree (dir/f1, dir/sub/f2, t.txt) as the working directory, and a repo ``r``."""
    d = tmp_path / "src"
    (d / "dir" / "sub").mkdir(parents=True)
    (d / "dir" / "f1").write_text("one\n")
    (d / "dir" / "sub" / "f2").write_text("two\n")
    (d / "t.txt").write_text("top\n")
    monkeypatch.chdir(d)
    run("create", "repo", "r")
    return d


# ------------------------------------------------------------------------------------------- put file


def test_put_file_dir_at_root_puts_its_contents_at_root(src: Path) -> None:
    run("put", "file", "-r", "r@master:/", "-f", "dir")
    assert paths() == ["/f1", "/sub/f2"]  # pachlet used to put them at /dir/f1


def test_put_file_dir_at_a_path_and_without_a_path(src: Path) -> None:
    run("put", "file", "-r", "r@master:/x", "-f", "dir")
    run("put", "file", "-r", "r@master", "-f", "dir")  # no path: the source's base name
    assert paths() == ["/dir/f1", "/dir/sub/f2", "/x/f1", "/x/sub/f2"]


def test_put_file_one_source_lands_exactly_at_the_path(src: Path) -> None:
    run("put", "file", "r@master:/renamed.txt", "-f", "t.txt")
    run("put", "file", "r@master:/d/", "-f", "t.txt")  # a trailing slash is cleaned away, as path.Clean
    run("put", "file", "r@master", "-f", "dir/f1")  # no path: base name, not dir/f1
    assert paths() == ["/d", "/f1", "/renamed.txt"]
    assert content("/d") == "top\n"


def test_put_file_several_sources_go_under_the_path_in_one_commit(src: Path) -> None:
    before = len(run("list", "commit", "r").stdout.splitlines())
    run("put", "file", "r@master:/many", "-f", "t.txt", "-f", "dir/f1,dir/sub/f2")  # -f is a StringSlice
    assert paths() == ["/many/f1", "/many/f2", "/many/t.txt"]
    assert len(run("list", "commit", "r").stdout.splitlines()) == before + 1


def test_put_file_full_path_and_input_file(src: Path) -> None:
    (src / "sources").write_text("t.txt\n\ndir/sub/f2\n")
    run("put", "file", "r@master:/listed", "-i", "sources")
    run("put", "file", "r@master", "-i", "sources", "--full-path")
    assert paths() == ["/dir/sub/f2", "/listed/f2", "/listed/t.txt", "/t.txt"]
    run("put", "file", "r@master:/fromstdin", "-i", "-", stdin=b"t.txt\n")  # -i - reads the list on stdin
    assert content("/fromstdin") == "top\n"


def test_put_file_stdin_is_the_default_source_and_append(src: Path) -> None:
    run("put", "file", "r@master:/log", stdin=b"a\n")  # no -f: pachctl's default is -f -
    run("put", "file", "r@master:/log", "-a", "-f", "-", stdin=b"b\n")
    run("put", "file", "r@master:/log", "--append", "-f", "t.txt", "-p", "4", "--compress")
    assert content("/log") == "a\nb\ntop\n"
    run("put", "file", "r@master:/log", "-f", "t.txt")
    assert content("/log") == "top\n"


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tgz"])
def test_put_file_untar_like_pachctl_TestPutFileTAR(src: Path, suffix: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for i in range(3):
            data = str(i).encode()
            info = tarfile.TarInfo(str(i))
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    (src / f"a{suffix}").write_bytes(raw if suffix == ".tar" else gzip.compress(raw))
    run("put", "file", "r@master", "-f", f"a{suffix}", "--untar")
    assert [content(f"/{i}") for i in range(3)] == ["0", "1", "2"]
    run("put", "file", "r@master", "-f", f"a{suffix}")  # without --untar: the tar file itself
    assert f"/a{suffix}" in paths()


def test_put_file_errors(src: Path) -> None:
    # TestPutFileNonexistentRepo: the repo is checked before the (missing) source
    err = error("put", "file", "nope@master:random", "-f", "nonexistent-file")
    assert "repo" in err and "nope" in err and "not found" in err
    cases = {
        ("r@master", "-f", "-"): "must specify filename when reading data from stdin",
        ("r@master:/x", "-r"): "cannot set -r and read from stdin",
        ("r@master", "-f", "dir"): "is a directory (use -r)",
        ("r@master", "-f", "missing"): "no such file or directory",
        ("r@master", "-r", "-f", "missing"): "missing doesn't exist",
        (
            "r@master",
            "-f",
            "http://example.invalid/a.png",
        ): 'error retrieving content from "http://example.invalid/a.png"',
        ("r@master", "-f", "t.txt", "-f", "missing"): "no such file or directory",
    }
    for args, message in cases.items():
        assert message in error("put", "file", *args), args
    # nothing was written by a failed put (not even t.txt of the last case): no commit at all
    assert len(run("list", "commit", "r").stdout.splitlines()) == 1


# ---------------------------------------------------------------------------------------- list commit


def _commits(*args: str) -> list[pfs_pb2.CommitInfo]:
    text = run("list", "commit", *args, "-o", "json").stdout
    return [json_format.Parse(line, pfs_pb2.CommitInfo()) for line in text.splitlines()]


def test_list_commit_like_pachctl_TestCommit(src: Path) -> None:
    ids = []
    for _ in range(2):
        cid = run("start", "commit", "r@master").stdout.strip()
        run("put", "file", f"r@{cid}:/file", "-f", "-", stdin=b"file contents\n")
        run("finish", "commit", f"r@{cid}")
        ids.append(cid)
    table = run("list", "commit", "r").stdout
    assert all(cid in table for cid in ids)
    assert table.splitlines()[0].split() == [
        "PROJECT", "REPO", "BRANCH", "COMMIT", "FINISHED", "SIZE", "ORIGIN", "DESCRIPTION"
    ]  # fmt: skip
    assert table.splitlines()[1].split()[:4] == ["default", "r", "master", ids[1]]
    assert "USER" in table.splitlines()[1]


def test_list_commit_forms_and_flags(src: Path) -> None:
    for name in ("a", "b", "c"):
        run("put", "file", f"r@master:/{name}", "-f", "t.txt")
    head, mid, first = (c.commit.id for c in _commits("r@master"))
    assert [c.commit.id for c in _commits("r@master", "-n", "2")] == [head, mid]
    assert [c.commit.id for c in _commits("r@master", "--from", first)] == [head, mid]
    assert [c.commit.id for c in _commits(f"r@{mid}")] == [mid, first]  # from a commit back
    assert [c.commit.id for c in _commits("r@master^")] == [mid, first]
    assert [c.commit.id for c in _commits("r", "--origin", "user")] == [head, mid, first]
    assert _commits("r", "--origin", "AUTO") == []
    assert [c.commit.id for c in _commits("r", "--all")] == [head, mid, first]
    waited = run("wait", "commit", "r@master").stdout  # pachctl: PrintDetailedCommitInfo, not a table
    assert waited.startswith(f"Commit: r@{head}\nOriginal Branch: master\nParent: {mid}\nStarted: ")
    (one,) = _commits(head)  # a global ID: its commits
    assert one.commit.id == head
    sets = run("list", "commit", "-n", "2").stdout.splitlines()
    assert sets[0].split() == ["ID", "SUBCOMMITS", "PROGRESS", "CREATED", "MODIFIED"] and len(sets) == 3
    assert sets[1].split()[:3] == [head, "1", "▇▇▇▇▇▇▇▇"]  # pachctl's bar, uncoloured
    expanded = run("list", "commit", "-x", "-n", "2").stdout.splitlines()
    assert expanded[0].startswith("PROJECT") and head in expanded[1] and mid in expanded[2]
    errors = {
        ("r", "--all", "--origin", "USER"): "cannot specify both --all and --origin",
        ("--origin", "USER"): "cannot specify --origin when listing all commits",
        ("--from", first): "cannot specify --from when listing all commits",
        (head, "--from", first): "cannot specify --from when listing subcommits",
        (head, "--all"): "cannot specify --all when listing subcommits",
        ("r", "--from", first): "cannot use `from` commit without `to` commit",
        ("r", "--origin", "bogus"): "unknown commit origin type 'bogus', must be one of: USER, AUTO, FSCK",
    }
    for args, message in errors.items():
        assert message in error("list", "commit", *args), args


# ----------------------------------------------------------------------------------- --raw and -o


def test_raw_prints_like_pachctl_and_o_json_yaml(src: Path) -> None:
    run("put", "file", "r@master:/a", "-f", "t.txt")
    run("put", "file", "r@master:/b", "-f", "t.txt")
    run("create", "branch", "r@dev", "--head", "master")
    raw = run("list", "branch", "r", "--raw").stdout
    # cmdutil.Encoder: protojson, .proto field names, 2-space indent, documents back to back
    assert raw.startswith('{\n  "branch": {') and "}{\n" in raw and not raw.endswith("\n")
    decoder, docs, pos = json.JSONDecoder(), [], 0
    while pos < len(raw):
        doc, pos = decoder.raw_decode(raw, pos)
        docs.append(doc)
    assert sorted(d["branch"]["name"] for d in docs) == ["dev", "master"]
    assert run("list", "branch", "r", "--raw", "-o", "json").stdout == raw
    line = run("inspect", "commit", "r@master", "-o", "json").stdout
    assert line.count("\n") == 1 and '"size_bytes_upper_bound"' in line and '"parent_commit"' in line
    assert "sizeBytesUpperBound" not in line  # pachctl prints proto names, not the camelCase mapping
    ydocs = list(yaml.safe_load_all(run("list", "branch", "r", "--raw", "-o", "yaml").stdout))
    assert sorted(d["branch"]["name"] for d in ydocs) == ["dev", "master"]


def test_logs_raw_is_protojson_format(src: Path) -> None:
    """pachctl's getLogs prints ``--raw`` with ``protojson.Format``: JSON names, indented, a newline after
    each message (not cmdutil's encoder the other verbs use)."""
    run("put", "file", "r@master:/a", "-f", "t.txt")
    spec = src / "echo.json"
    spec.write_text(json.dumps({
        "pipeline": {"name": "echo"}, "input": {"pfs": {"repo": "r", "glob": "/"}},
        "transform": {"cmd": ["sh", "-c", "echo hello"], "image": "ubuntu:20.04"},
    }))  # fmt: skip
    run("--runtime", "host", "create", "pipeline", "-f", str(spec))
    raw = run("logs", "-p", "echo", "--raw").stdout
    doc, end = json.JSONDecoder().raw_decode(raw)
    assert raw.startswith('{\n  "') and raw[end] == "\n"
    assert doc["pipelineName"] == "echo" and doc["message"] == "hello" and "pipeline_name" not in doc


# --------------------------------------------------------------------------------------------- version


def test_version_like_pachctl(src: Path) -> None:
    lines = run("version").stdout.splitlines()
    assert [line.split() for line in lines] == [
        ["COMPONENT", "VERSION"], ["pachlet", __version__], ["pachd", f"2.7.6pachlet-{__version__}"]
    ]  # fmt: skip
    assert lines[1].index(__version__) == 20  # tabwriter: min width 20
    assert run("version", "--client-only").stdout == f"{__version__}\n"
    raw = run("version", "--raw").stdout
    client, pos = json.JSONDecoder().raw_decode(raw)
    server, _ = json.JSONDecoder().raw_decode(raw, pos)
    assert (server["major"], server["minor"], server["micro"]) == (2, 7, 6)
    assert client["platform"] == "pachlet"
    assert len(run("version", "--client-only", "-o", "json").stdout.splitlines()) == 1


@pytest.mark.e2e
def test_version_is_the_same_through_python_pachyderm_and_the_cli(tmp_path: Path) -> None:
    """One constant: GetVersion (python-pachyderm 7.6's ``get_remote_version``), ``pachlet version`` on a
    root and ``pachlet --pachd ... version`` all answer pachd 2.7.6."""
    local = run("version").stdout.splitlines()[2]
    served = Served(tmp_path / "served-root")
    try:
        v = served.client().get_remote_version()
        assert (v.major, v.minor, v.micro) == (2, 7, 6) and v.additional == f"pachlet-{__version__}"
        remote = run("--pachd", served.address, "version").stdout.splitlines()
        assert remote[2] == local and remote[2].split() == ["pachd", f"2.7.6pachlet-{__version__}"]
        raw = run("--pachd", served.address, "version", "--raw").stdout
        _, pos = json.JSONDecoder().raw_decode(raw)
        assert json_format.ParseDict(json.JSONDecoder().raw_decode(raw, pos)[0], type(v)()) == v
    finally:
        served.stop()


@pytest.mark.e2e
def test_put_file_and_list_commit_forms_through_pachd(src: Path, tmp_path: Path) -> None:
    """The same forms through ``--pachd`` (python-pachyderm's ModifyFile and ListCommit)."""
    served = Served(tmp_path / "served-root")
    try:
        pachd = ("--pachd", served.address)
        run(*pachd, "create", "repo", "r")
        run(*pachd, "put", "file", "-r", "r@master:/", "-f", "dir")
        run(*pachd, "put", "file", "r@master:/many", "-f", "t.txt,dir/f1")
        with tarfile.open(src / "a.tar", "w") as tf:
            tf.add(src / "t.txt", arcname="from-tar.txt")
        run(*pachd, "put", "file", "r@master", "-f", "a.tar", "--untar")
        files = [
            f.file.path
            for f in served.client().walk_file(("r", "master"), "/")
            if f.file_type == pfs_pb2.FILE
        ]
        assert sorted(files) == ["/f1", "/from-tar.txt", "/many/f1", "/many/t.txt", "/sub/f2"]
        lines = run(*pachd, "list", "commit", "r@master", "-o", "json").stdout.splitlines()
        ids = [json.loads(line)["commit"]["id"] for line in lines]
        assert len(ids) == 3
        listed = run(*pachd, "list", "commit", "r@master", "--from", ids[2], "-o", "json").stdout
        assert [json.loads(x)["commit"]["id"] for x in listed.splitlines()] == ids[:2]
        table = run(*pachd, "list", "commit", "r").stdout.splitlines()
        assert table[0].split()[:2] == ["PROJECT", "REPO"] and len(table) == 4
    finally:
        served.stop()


# ------------------------------------------------------------------ tables and details (pure functions)


def test_tables_follow_pachctls_pretty_printers() -> None:
    from python_pachyderm.proto.v2.pps import pps_pb2

    from pachlet import tables
    from pachlet.cli import details

    repo = pfs_pb2.Repo(name="r", type="user", project=pfs_pb2.Project(name="default"))
    commit = pfs_pb2.Commit(id="a" * 32, branch=pfs_pb2.Branch(repo=repo, name="master"), repo=repo)
    listed = pfs_pb2.CommitInfo(commit=commit, origin=pfs_pb2.CommitOrigin(kind=pfs_pb2.AUTO))
    listed.size_bytes_upper_bound = 1234
    row = tables.commit_table([listed]).splitlines()[1]
    # no details: pachctl prints "≤ upper bound"; an open commit's FINISHED is "-"
    assert row.split() == ["default", "r", "master", "a" * 32, "-", "≤", "1.205KiB", "AUTO"]
    spec = pfs_pb2.Repo(name="p", type="spec", project=pfs_pb2.Project(name="default"))
    assert tables.repo_table([pfs_pb2.RepoInfo(repo=spec)]).splitlines()[1].split()[:2] == [
        "default",
        "p.spec",
    ]

    assert tables.progress_bar(8, 1, 2, 0) == "▇" * 8 and tables.progress_bar(8, 0, 0, 0) == " " * 8
    job = pps_pb2.JobInfo(state=pps_pb2.JOB_SUCCESS, data_total=2, data_skipped=2)
    job.job.pipeline.name = "edges"
    assert tables.job_table([job]).splitlines()[1].endswith("success: there were no datums to process ")
    assert tables.job_state_name(pps_pb2.JOB_CREATED) == "-"  # pachctl's JobState has no "created"

    inp = pps_pb2.Input(group=[pps_pb2.Input(pfs=pps_pb2.PFSInput(repo="a", glob="/*"))])
    assert tables.shorthand_input(inp) == "(Group: default/a:/*)" and tables.shorthand_input(None) == "none"
    datum = pps_pb2.DatumInfo(data=[pfs_pb2.FileInfo(file=pfs_pb2.File(commit=commit, path="/x"))])
    assert tables.datum_files(datum) == f"default/r@{'a' * 32}:/x"  # CompactPrintFile

    branch = pfs_pb2.BranchInfo(branch=pfs_pb2.Branch(repo=repo, name="dev"), head=commit)
    branch.provenance.add(repo=repo, name="master")
    assert details.branch_details(branch) == (
        f"Name: r@dev\nHead Commit: r@{'a' * 32} \nProvenance: r@master \n"
    )  # the template's blanks included
    text = details.commit_details(listed)
    assert text.startswith(f"Commit: r@{'a' * 32}\nOriginal Branch: master\nStarted: -")
    assert "Finished" not in text and "Size:" not in text  # open, no details: pachctl omits both


def test_pachctl_table_is_src_internal_tabwriter() -> None:
    from pachlet import tables

    text = tables.pachctl_table(("NAME", "TYPE", "SIZE"), [("/a", "file", "1B"), ("/longer", "dir", "10B")])
    # min width 0, padding 1, every cell tab-terminated (the last column padded too)
    assert text == "NAME    TYPE SIZE \n/a      file 1B   \n/longer dir  10B  \n"
    rows = [(f"/f{i:03d}", "file", "1B") for i in range(120)]
    lines = tables.pachctl_table(tables.FILE_HEADER, rows).splitlines()
    assert [i for i, line in enumerate(lines) if line.startswith("NAME")] == [0, 50, 100]  # termHeight
    assert len(lines) == 123
    # JobSetHeader has no trailing tab: its last title stays unpadded while the rows' cells are padded
    sets = tables.pachctl_table(
        tables.JOB_SET_HEADER, [("x" * 32, 1, "▇", "now", "a long while ago")], header_tab=False
    )
    assert sets.splitlines()[0].endswith("MODIFIED") and sets.splitlines()[1].endswith("a long while ago ")


def test_inspect_datum_is_pachctls_print_detailed_datum_info() -> None:
    from python_pachyderm.proto.v2.pps import pps_pb2

    from pachlet.cli import details

    assert [details.go_duration(n) for n in (0, 1500, 1_500_000, 60 * 10**9, 3_723_250_000_000)] == [
        "0s", "1.5µs", "1.5ms", "1m0s", "1h2m3.25s"
    ]  # fmt: skip
    repo = pfs_pb2.Repo(name="raw", type="user", project=pfs_pb2.Project(name="default"))
    f = pfs_pb2.File(commit=pfs_pb2.Commit(id="c" * 32, repo=repo), path="/a.txt")
    info = pps_pb2.DatumInfo(state=pps_pb2.DatumState.SUCCESS, data=[pfs_pb2.FileInfo(file=f)])
    info.datum.id = "d" * 64
    info.datum.job.id = "j" * 32
    info.stats.process_time.FromMilliseconds(1500)
    text = details.datum_details(info)
    assert text.startswith(f"ID\t{'d' * 64}\nJob ID\t{'j' * 32}\nImage ID\t\nState\tSUCCESS\n")
    assert "Total Time\t1.5s\nDownload Time\t0s\nProcess Time\t1.5s\n" in text
    # width 10, padding 3: REPO is 13 + 3 wide, COMMIT 32 + 3, PATH max(10, 6 + 3)
    inputs = f"Inputs:\n  REPO{' ' * 10}COMMIT{' ' * 29}PATH      \n  default/raw   {'c' * 32}   /a.txt    \n"
    assert text.endswith(inputs)
