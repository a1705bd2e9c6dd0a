"""The ``pachlet`` CLI with pachctl 2.7.6's verbs for issue 13's PFS operations, on a local root and
through ``--pachd`` against ``pachlet serve``: ``create branch --provenance``, ``squash commit``,
``delete commit`` (pachctl's name for DropCommitSet), ``diff file``, ``copy file``, ``put file -f URL``,
``subscribe commit``, ``delete repo`` of a missing repo, and fsck after deletes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers.served import Served
from pachlet.cli import cli

PACHLET = str(Path(sys.executable).parent / "pachlet")


@pytest.fixture(params=["local", "pachd"])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """``run(*args, ok=True)`` -> (exit code, stdout, error text) of the CLI in-process, on a local
    root or against a ``pachlet serve`` subprocess on a free port."""
    served = Served(tmp_path / "served") if request.param == "pachd" else None
    prefix = ["--pachd", served.address] if served else []

    def invoke(*args: str, ok: bool = True) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, [*prefix, *args])
        if ok:
            assert result.exit_code == 0, f"pachlet {' '.join(args)}: {result.output} {result.exception!r}"
        err = result.stderr + (str(result.exception) if result.exception else "")
        return result.exit_code, result.stdout, err

    invoke.prefix = prefix  # type: ignore[attr-defined]
    yield invoke
    if served is not None:
        served.stop()


def _ids(run, target: str) -> list[str]:  # type: ignore[no-untyped-def]
    _, out, _ = run("list", "commit", target, "-o", "json")
    return [json.loads(line)["commit"]["id"] for line in out.splitlines()]


def test_provenance_squash_and_delete_commit(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("create", "repo", "up")
    run("create", "repo", "down")
    run("create", "branch", "down@master", "--provenance", "up@master")
    run("finish", "commit", "down@master")
    f = tmp_path / "a.txt"
    ids = []
    for text in ("one", "two"):
        f.write_text(text)
        run("put", "file", "up@master:/a.txt", "-f", str(f))
        run("finish", "commit", "down@master")
        ids.append(json.loads(run("inspect", "commit", "up@master", "-o", "json")[1])["commit"]["id"])
    _, out, _ = run("inspect", "commit", f"down@{ids[1]}", "-o", "json")
    info = json.loads(out)
    assert info["origin"]["kind"] == "AUTO" and info["direct_provenance"][0]["id"] == ids[1]
    code, _, err = run("squash", "commit", ids[1], ok=False)
    assert code == 1 and "cannot squash a commit that has no children" in err
    code, _, err = run("delete", "commit", ids[0], ok=False)
    assert code == 1 and "cannot drop a commit that has children" in err
    run("squash", "commit", ids[0])
    assert ids[0] not in _ids(run, "up@master") and ids[1] in _ids(run, "up@master")
    run("delete", "commit", ids[1])
    assert ids[1] not in _ids(run, "up") and ids[1] not in _ids(run, "down")
    code, _, err = run("start", "commit", "down@master", ok=False)
    assert code == 1 and "cannot start a commit on an output branch: down@master" in err
    code, _, err = run("delete", "branch", "up@master", ok=False)
    assert code == 1 and "as subvenance" in err
    run("delete", "repo", "up", "--force")
    run("delete", "repo", "down")
    run("delete", "repo", "never-existed")  # pachd 2.7.6: not an error
    assert run("fsck")[0] == 0


def test_diff_copy_and_put_url(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("create", "repo", "files")
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text("alpha\n")
    new.write_text("beta\n")
    run("put", "file", "files@master:/f.txt", "-f", str(old))
    run("put", "file", "files@master:/f.txt", "-f", str(new))
    _, out, _ = run("diff", "file", "files@master:/f.txt", "--name-only")
    lines = out.splitlines()
    assert lines[0].split() == ["OP", "NAME", "TYPE", "SIZE"]
    assert [line.split()[:2] for line in lines[1:]] == [["+", "/f.txt"], ["-", "/f.txt"]]
    _, out, _ = run("diff", "file", "files@master:/f.txt", "--diff-command", "diff")
    assert "< alpha" in out and "> beta" in out
    run("copy", "file", "files@master:/f.txt", "files@master:/copy/f.txt")
    _, out, _ = run("get", "file", "files@master:/copy/f.txt")
    assert out == "beta\n"
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "x.txt").write_text("x")
    run("put", "file", "files@master:/fromurl/one.txt", "-f", (src / "sub" / "x.txt").as_uri())
    run("put", "file", "-r", "files@master:/tree", "-f", src.as_uri())
    assert run("get", "file", "files@master:/fromurl/one.txt")[1] == "x"
    assert run("get", "file", "files@master:/tree/sub/x.txt")[1] == "x"


def test_subscribe_commit_streams_new_commits(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A ``pachlet subscribe commit`` subprocess keeps printing commits as other commands make them."""
    run("create", "repo", "sub")
    f = tmp_path / "a"
    f.write_text("a")
    run("put", "file", "sub@master:/a", "-f", str(f))
    env = dict(os.environ)
    proc = subprocess.Popen(
        [PACHLET, *run.prefix, "subscribe", "commit", "sub@master", "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        for text in ("b", "c"):
            f.write_text(text)
            run("put", "file", f"sub@master:/{text}", "-f", str(f))
        later = [json.loads(proc.stdout.readline()) for _ in range(2)]
        ids = _ids(run, "sub@master")
        assert [c["commit"]["id"] for c in [first, *later]] == list(reversed(ids))
        time.sleep(0.3)
        assert proc.poll() is None  # still streaming
    finally:
        proc.terminate()
        proc.wait(timeout=20)
