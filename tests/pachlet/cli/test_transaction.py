"""``pachlet start/stop/resume/finish/delete/inspect/list transaction`` and ``pachlet config`` /
``connect`` on a local root, as pachctl 2.7.6's (src/server/transaction/cmds/cmds.go,
src/server/config/cmds.go). Every ``main`` call opens and closes the root, as separate processes do."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from pachlet.cli.root import main


def pachlet(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> tuple[str, str]:
    """Run the CLI in-process; (stdout, stderr), asserting the exit code."""
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    assert rc == code, f"pachlet {' '.join(args)} -> {rc}: {err}"
    return out, err


def repos(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The repo names ``list repo -o json`` gives."""
    out, _ = pachlet(capsys, "list", "repo", "-o", "json")
    return sorted(json.loads(line)["repo"]["name"] for line in out.splitlines())


def test_start_add_finish_transaction(capsys: pytest.CaptureFixture[str]) -> None:
    pachlet(capsys, "create", "repo", "before")
    out, _ = pachlet(capsys, "start", "transaction")
    txn = re.fullmatch(r'started new transaction: "([0-9a-f]{32})"\n', out).group(1)  # type: ignore[union-attr]
    out, _ = pachlet(capsys, "create", "repo", "images")
    assert out == f"Added to transaction: {txn}\n"
    out, _ = pachlet(capsys, "start", "commit", "images@master")
    assert out == f"Added to transaction: {txn}\n{txn}\n"  # the commit's ID is the transaction's
    pachlet(capsys, "finish", "commit", f"images@{txn}")
    assert repos(capsys) == ["before"]  # nothing is visible before the finish
    out, _ = pachlet(capsys, "list", "transaction")
    assert out.splitlines()[0].split() == ["TRANSACTION", "STARTED", "OPS"]
    assert out.splitlines()[1].split()[0] == txn and out.splitlines()[1].split()[-1] == "3"
    out, _ = pachlet(capsys, "inspect", "transaction", "-o", "json")  # pachd's TransactionInfo
    info = json.loads(out)
    assert info["transaction"]["id"] == txn
    assert [next(iter(r)) for r in info["requests"]] == ["create_repo", "start_commit", "finish_commit"]
    assert info["responses"][1]["commit"]["id"] == txn
    out, _ = pachlet(capsys, "inspect", "transaction")
    assert out.splitlines()[0] == f"ID: {txn}" and out.splitlines()[2:] == [
        "Requests:",
        "  create repo images",
        f"  start commit images@master ({txn})",
        f"  finish commit images@{txn}",
    ]
    pachlet(capsys, "start", "transaction", code=1)  # one active transaction at a time
    out, _ = pachlet(capsys, "finish", "transaction")
    assert out == f"Completed transaction with 3 requests: {txn}\n"
    assert repos(capsys) == ["before", "images"]
    out, _ = pachlet(capsys, "list", "commit", "images", "-o", "json")
    (commit,) = [json.loads(line) for line in out.splitlines()]
    assert commit["commit"]["id"] == txn and commit.get("finished")
    _, err = pachlet(capsys, "finish", "transaction", code=1)
    assert err == "pachlet: no active transaction\n"


def test_stop_resume_and_delete_transaction(capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = pachlet(capsys, "start", "transaction")
    txn = out.split('"')[1]
    pachlet(capsys, "create", "repo", "later")
    out, _ = pachlet(capsys, "stop", "transaction")
    assert out == f"Cleared active transaction: {txn}\n"
    pachlet(capsys, "create", "repo", "now")  # no active transaction: runs at once
    assert repos(capsys) == ["now"]
    out, _ = pachlet(capsys, "resume", "transaction", txn)
    assert out == f"Resuming existing transaction with 1 requests: {txn}\n"
    pachlet(capsys, "delete", "transaction")
    out, _ = pachlet(capsys, "list", "transaction")
    assert out.splitlines()[1:] == []
    assert repos(capsys) == ["now"]
    _, err = pachlet(capsys, "inspect", "transaction", txn, code=1)
    assert f"transactions {txn} not found" in err


def test_a_request_that_fails_its_dry_run_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    pachlet(capsys, "create", "repo", "taken")
    pachlet(capsys, "start", "transaction")
    _, err = pachlet(capsys, "create", "repo", "taken", code=1)
    assert "error running request 1 of 1" in err and "taken" in err
    out, _ = pachlet(capsys, "inspect", "transaction", "-o", "json")
    assert "requests" not in json.loads(out)
    out, _ = pachlet(capsys, "inspect", "transaction")
    assert out.splitlines()[-2:] == ["Requests:", "  -"]


def test_config_contexts_and_connect(capsys: pytest.CaptureFixture[str]) -> None:
    config = Path(os.environ["PACHLET_CONFIG"])
    out, _ = pachlet(capsys, "config", "get", "active-context")
    assert out == "local\n"
    out, _ = pachlet(capsys, "connect", "grpc://localhost:1")
    assert out == "Context 'localhost:1' set as active\n"
    assert json.loads(config.read_text())["v2"]["active_context"] == "localhost:1"
    assert config.stat().st_mode & 0o777 == 0o600
    out, _ = pachlet(capsys, "config", "list", "context")
    assert out.splitlines() == ["  NAME", "  local", "* localhost:1"]
    out, _ = pachlet(capsys, "config", "get", "context", "localhost:1")
    assert json.loads(out) == {"pachd_address": "localhost:1"}
    _, err = pachlet(capsys, "list", "repo", code=1)  # the active context names a pachd: the CLI talks to it
    assert "localhost:1" in err and "UNAVAILABLE" in err
    pachlet(capsys, "config", "set", "active-context", "local")
    assert repos(capsys) == []
    pachlet(capsys, "config", "set", "context", "localhost:1", "--pachd-address", "x:2", code=1)  # exists
    pachlet(capsys, "config", "delete", "context", "localhost:1")
    _, err = pachlet(capsys, "config", "set", "active-context", "gone", code=1)
    assert "context does not exist: gone" in err


@pytest.mark.e2e
def test_transaction_through_a_served_root_without_pachd(tmp_path: Path) -> None:
    """With ``pachlet serve`` owning the root, the CLI talks to it without ``--pachd``; a transaction
    started there goes into the server (the requests carry ``pach-transaction``)."""
    import subprocess

    from helpers.served import PACHLET, Served

    served = Served(Path(os.environ["PACHLET_ROOT"]))
    try:

        def cli(*args: str, code: int = 0) -> str:
            proc = subprocess.run([PACHLET, *args], capture_output=True, text=True, timeout=120)
            assert proc.returncode == code, f"pachlet {' '.join(args)}: {proc.stderr}"
            return proc.stdout

        txn = cli("start", "transaction").split('"')[1]
        assert cli("create", "repo", "served") == f"Added to transaction: {txn}\n"
        assert cli("start", "commit", "served@master").splitlines() == [f"Added to transaction: {txn}", txn]
        client = served.client()
        assert [t.transaction.id for t in client.list_transaction()] == [txn]
        assert "served" not in {r.repo.name for r in client.list_repo()}
        assert cli("finish", "transaction") == f"Completed transaction with 2 requests: {txn}\n"
        assert next(iter(client.inspect_commit(("served", "master")))).commit.id == txn
        cli("put", "file", "served@master:/f", "-f", str(_write(tmp_path / "f", b"data")))
        assert cli("get", "file", "served@master:/f") == "data"
    finally:
        code, _, err = served.stop()
    assert code == 0, err


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
