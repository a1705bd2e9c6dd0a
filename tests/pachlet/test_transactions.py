"""``pachlet.transactions``: pending requests apply together, in one global ID, in one store transaction."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pachlet.api import Pachlet
from pachlet.errors import AlreadyExistsError, NotFoundError, PachletError
from pachlet.transactions import Transactions


def test_nothing_is_visible_before_finish_and_all_of_it_after(pach: Pachlet) -> None:
    t = Transactions(pach)
    txn = t.start().id
    t.append(txn, {"op": "create_repo", "repo": "a"})
    resp = t.append(txn, {"op": "start_commit", "repo": "a", "branch": "master"})
    assert resp["commit"]["id"] == txn
    t.append(txn, {"op": "finish_commit", "repo": "a", "ref": "master"})
    t.append(txn, {"op": "create_branch", "repo": "a", "branch": "dev", "head": "master"})
    assert pach.list_repos() == []
    assert [r["op"] for r in t.inspect(txn).requests] == [
        "create_repo",
        "start_commit",
        "finish_commit",
        "create_branch",
    ]
    info = t.finish(txn)
    assert info.responses[1]["commit"]["id"] == txn
    assert pach.inspect_commit("a", "master").id == txn and pach.inspect_commit("a", "master").finished
    assert pach.inspect_branch("a", "dev").head == txn
    assert t.list() == []
    with pytest.raises(NotFoundError, match=f"transactions {txn} not found"):
        t.inspect(txn)


def test_a_request_that_cannot_apply_is_not_appended(pach: Pachlet) -> None:
    pach.create_repo("taken")
    t = Transactions(pach)
    txn = t.start().id
    with pytest.raises(AlreadyExistsError, match="error running request 1 of 1"):
        t.append(txn, {"op": "create_repo", "repo": "taken"})
    with pytest.raises(PachletError, match="unrecognized transaction request type"):
        t.append(txn, {"op": "put_file", "repo": "taken"})
    assert t.inspect(txn).requests == []


def test_a_failing_finish_applies_nothing_and_keeps_the_transaction(pach: Pachlet) -> None:
    t = Transactions(pach)
    txn = t.start().id
    t.append(txn, {"op": "create_repo", "repo": "first"})
    t.append(txn, {"op": "create_repo", "repo": "second"})
    pach.create_repo("second")  # invalidates the transaction's second request
    with pytest.raises(AlreadyExistsError, match="error running request 2 of 2"):
        t.finish(txn)
    assert [r.name for r in pach.list_repos()] == ["second"]
    assert [i.id for i in t.list()] == [txn]


def test_batch_is_all_or_nothing(pach: Pachlet) -> None:
    t = Transactions(pach)
    with pytest.raises(NotFoundError):
        t.batch([{"op": "create_repo", "repo": "x"}, {"op": "delete_branch", "repo": "ghost", "branch": "b"}])
    assert pach.list_repos() == []
    info = t.batch([{"op": "create_repo", "repo": "x"}, {"op": "start_commit", "repo": "x"}])
    assert pach.inspect_commit("x", "master").id == info.id
    assert t.list() == []


CRASH_MID_FINISH = """
import os, sys
import pachlet.transactions as t
from pachlet.api import Pachlet

applied = []
real = t.apply_request


def crash_after_two(p, req):
    out = real(p, req)
    applied.append(req)
    if len(applied) == 2:
        os._exit(9)  # the process dies between two requests of the finish
    return out


t.apply_request = crash_after_two
with Pachlet.open(sys.argv[1]) as p:
    t.Transactions(p).finish(sys.argv[2])
"""


def test_a_crash_mid_finish_leaves_nothing_half_applied(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with Pachlet.open(root) as p:
        t = Transactions(p)
        txn = t.start().id
        for name in ("a", "b", "c"):
            t.append(txn, {"op": "create_repo", "repo": name})
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(CRASH_MID_FINISH))
    proc = subprocess.run(
        [sys.executable, str(script), str(root), txn], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 9, proc.stderr
    with Pachlet.open(root) as p:
        assert p.list_repos() == []  # a and b were applied in the dead process's store transaction only
        t = Transactions(p)
        assert [i.id for i in t.list()] == [txn]
        t.finish(txn)
        assert sorted(r.name for r in p.list_repos()) == ["a", "b", "c"]
        assert p.fsck().problems == []
