"""Transactions through `pachlet serve` with python-pachyderm 7.6: its tests/test_transaction.py and
pachd 2.7.6's src/server/transaction/server/testing/server_test.go (TestTransactions), replayed."""

from __future__ import annotations

import uuid

import grpc
import pytest
import python_pachyderm
from python_pachyderm.errors import InvalidTransactionOperation
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.pps import pps_pb2
from python_pachyderm.proto.v2.transaction import transaction_pb2

pytestmark = pytest.mark.e2e


def name(prefix: str) -> str:
    """A repo name of its own per test (python-pachyderm's util.test_repo_name)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def inspect(client: python_pachyderm.Client, commit: object, **kwargs: object) -> pfs_pb2.CommitInfo:
    """The one CommitInfo python-pachyderm's inspect_commit yields for a commit."""
    return next(iter(client.inspect_commit(commit, **kwargs)))


def repo_names(client: python_pachyderm.Client) -> set[str]:
    """The names of every repo."""
    return {info.repo.name for info in client.list_repo()}


# ---------------------------------------------------------------- python-pachyderm tests/test_transaction.py


def test_batch_transaction(client: python_pachyderm.Client) -> None:
    names = [name("batch") for _ in range(3)]
    info = client.batch_transaction(
        [
            transaction_pb2.TransactionRequest(
                create_repo=pfs_pb2.CreateRepoRequest(repo=pfs_pb2.Repo(name=n))
            )
            for n in names
        ]
    )
    assert len(info.responses) == 3
    assert len(client.list_transaction()) == 0
    assert set(names) <= repo_names(client)


def test_batch_transaction_is_all_or_nothing(client: python_pachyderm.Client) -> None:
    good, taken = name("batch-good"), name("batch-taken")
    client.create_repo(taken)
    with pytest.raises(grpc.RpcError, match=r"error running request 2 of 2"):
        client.batch_transaction(
            [
                transaction_pb2.TransactionRequest(
                    create_repo=pfs_pb2.CreateRepoRequest(repo=pfs_pb2.Repo(name=good))
                ),
                transaction_pb2.TransactionRequest(
                    create_repo=pfs_pb2.CreateRepoRequest(repo=pfs_pb2.Repo(name=taken))
                ),
            ]
        )
    assert good not in repo_names(client)


def test_transaction_context_mgr(client: python_pachyderm.Client) -> None:
    before = repo_names(client)
    a, b = name("ctx"), name("ctx")
    with client.transaction() as transaction:
        client.create_repo(a)
        client.create_repo(b)
        transactions = client.list_transaction()
        assert [t.transaction.id for t in transactions] == [transaction.id]
        assert client.inspect_transaction(transaction).transaction.id == transaction.id
        assert client.inspect_transaction(transaction.id).transaction.id == transaction.id
        assert len(client.inspect_transaction(transaction).requests) == 2
        assert repo_names(client) == before  # nothing is visible before the transaction finishes
    assert len(client.list_transaction()) == 0
    assert repo_names(client) == before | {a, b}


def test_transaction_context_mgr_nested(client: python_pachyderm.Client) -> None:
    with client.transaction():
        old = client.transaction_id
        assert old is not None
        with client.transaction():
            assert client.transaction_id is not None
            assert client.transaction_id != old
        assert client.transaction_id == old


def test_transaction_context_mgr_exception(client: python_pachyderm.Client) -> None:
    before = repo_names(client)
    with pytest.raises(Exception, match="oops"), client.transaction():
        client.create_repo(name("exc"))
        client.create_repo(name("exc"))
        raise Exception("oops!")
    assert len(client.list_transaction()) == 0
    assert repo_names(client) == before


def test_delete_transaction(client: python_pachyderm.Client) -> None:
    before = repo_names(client)
    transaction = client.start_transaction()
    a, b = name("del"), name("del")
    client.create_repo(a)  # the client does not carry the transaction: these run at once
    client.create_repo(b)
    client.delete_transaction(transaction)
    assert len(client.list_transaction()) == 0
    assert repo_names(client) == before | {a, b}
    with pytest.raises(grpc.RpcError, match=f"transactions {transaction.id} not found"):
        client.delete_transaction(transaction)


def test_delete_all_transactions(client: python_pachyderm.Client) -> None:
    client.delete_all_transactions()
    client.start_transaction()
    client.start_transaction()
    assert len(client.list_transaction()) == 2
    client.delete_all_transactions()
    assert len(client.list_transaction()) == 0


def test_file_operations_within_transaction(client: python_pachyderm.Client) -> None:
    repo = name("invalid-file-operations")
    client.create_repo(repo)
    with client.transaction() as txn:
        repo_txn = name("invalid-file-operations-dummy")
        client.create_repo(repo_txn)
        with client.commit(repo, "master") as commit:
            assert commit.id == txn.id  # StartCommit in a transaction answers the transaction's commit
            with pytest.raises(InvalidTransactionOperation):
                client.put_file_bytes(commit, "/file.dat", b"hello world")
            with pytest.raises(InvalidTransactionOperation):
                client.delete_file(commit, "/file.dat")
    assert not client.path_exists(commit, "file.dat")
    assert repo_txn in repo_names(client)
    assert inspect(client, commit).finished.seconds > 0


# ---------------------------------------------------------------- pachd server_test.go TestTransactions


def test_empty_transaction(client: python_pachyderm.Client) -> None:
    txn = client.start_transaction()
    info = client.inspect_transaction(txn)
    assert info.transaction.id == txn.id and not info.requests and not info.responses
    assert info.started.seconds > 0
    info = client.finish_transaction(txn)
    assert info.transaction.id == txn.id and not info.requests
    with pytest.raises(grpc.RpcError):
        client.inspect_transaction(txn)


def test_invalidated_transaction(served, client: python_pachyderm.Client) -> None:
    txn = client.start_transaction()
    foo = name("foo")
    in_txn = served.client()
    in_txn.transaction_id = txn.id
    in_txn.create_repo(foo)
    client.create_repo(foo)  # the same repo outside the transaction: it cannot run now
    with pytest.raises(grpc.RpcError, match="error running request 1 of"):
        client.finish_transaction(txn)
    assert [t.transaction.id for t in client.list_transaction()] == [txn.id]  # still pending
    with pytest.raises(grpc.RpcError):
        in_txn.create_repo(name("bar"))  # appending dry-runs the whole transaction: fails too
    client.delete_transaction(txn)


def test_failed_append(served, client: python_pachyderm.Client) -> None:
    txn = client.start_transaction()
    foo = name("foo")
    client.create_repo(foo)
    in_txn = served.client()
    in_txn.transaction_id = txn.id
    with pytest.raises(grpc.RpcError) as err:
        in_txn.create_repo(foo)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    info = client.inspect_transaction(txn)
    assert not info.requests and not info.responses
    info = client.finish_transaction(txn)
    assert not info.requests


def test_dependency(served, client: python_pachyderm.Client) -> None:
    foo = name("foo")
    txn = client.start_transaction()
    in_txn = served.client()
    in_txn.transaction_id = txn.id
    in_txn.create_repo(foo)
    commit = in_txn.start_commit(foo, "master")
    in_txn.finish_commit((foo, "master"))
    info = client.inspect_transaction(txn)
    assert len(info.requests) == 3 and len(info.responses) == 3
    assert info.responses[1].commit.id == commit.id == txn.id
    assert not info.responses[0].HasField("commit") and not info.responses[2].HasField("commit")
    assert foo not in repo_names(client)
    info = client.finish_transaction(txn)
    assert info.responses[1].commit.id == commit.id
    assert inspect(client, (foo, "master")).commit.id == txn.id  # the transaction's global ID
    with pytest.raises(grpc.RpcError):
        client.inspect_transaction(txn)


def test_create_branch(served, client: python_pachyderm.Client) -> None:
    repo = name("foo")
    client.create_repo(repo)
    client.create_branch(repo, "master")
    client.create_branch(repo, "bar")
    txn = client.start_transaction()
    in_txn = served.client()
    in_txn.transaction_id = txn.id
    commit = in_txn.start_commit(repo, "bar")
    in_txn.finish_commit((repo, "bar"))
    in_txn.create_branch(repo, "master", head_commit=(repo, "bar"))
    info = client.finish_transaction(txn)
    assert info.responses[0].commit.id == commit.id
    assert {b.branch.name for b in client.list_branch(repo)} == {"master", "bar"}
    assert inspect(client, (repo, "master")).commit.id == commit.id
    assert inspect(client, (repo, "bar")).commit.id == commit.id


def test_multi_commit(served, client: python_pachyderm.Client) -> None:
    foo = name("foo")
    txn = client.start_transaction()
    in_txn = served.client()
    in_txn.transaction_id = txn.id
    in_txn.create_repo(foo)
    in_txn.start_commit(foo, "master")
    in_txn.finish_commit((foo, "master"))
    with pytest.raises(grpc.RpcError, match="already has a commit in this transaction"):
        in_txn.start_commit(foo, "master")
    assert len(client.list_transaction()) == 1
    client.delete_transaction(txn)
    assert len(client.list_transaction()) == 0
    assert foo not in repo_names(client)


def test_pipeline_in_a_transaction_runs_once_over_both_inputs(client: python_pachyderm.Client) -> None:
    """The README's case (src/server/transaction/README.md): start commits in two input repos in one
    transaction, write and finish them after it; the pipeline crossing them runs one job, in the
    transaction's global ID, over both."""
    a, b, pipe = name("left"), name("right"), name("joined")
    client.create_repo(a)
    client.create_repo(b)
    client.create_pipeline(
        pipe,
        transform=pps_pb2.Transform(
            cmd=["sh", "-c", f"cat /pfs/{a}/* /pfs/{b}/* > /pfs/out/both"], image="alpine:3"
        ),
        input=pps_pb2.Input(
            cross=[
                pps_pb2.Input(pfs=pps_pb2.PFSInput(repo=a, glob="/")),
                pps_pb2.Input(pfs=pps_pb2.PFSInput(repo=b, glob="/")),
            ]
        ),
    )
    with client.transaction() as txn:
        ca = client.start_commit(a, "master")
        cb = client.start_commit(b, "master")
    assert ca.id == cb.id == txn.id
    client.put_file_bytes(ca, "/x", b"A\n")
    client.put_file_bytes(cb, "/y", b"B\n")
    client.finish_commit(ca)
    client.finish_commit(cb)
    head = inspect(client, (pipe, "master"), commit_state=pfs_pb2.FINISHED)
    assert head.commit.id == txn.id
    assert client.get_file((pipe, txn.id), "/both").read() == b"A\nB\n"
    jobs = [j for j in client.list_job(pipe) if j.job.id == txn.id]
    assert len(jobs) == 1


def test_create_pipeline_in_a_transaction(client: python_pachyderm.Client) -> None:
    src, pipe = name("src"), name("copy")
    with client.transaction() as txn:
        client.create_repo(src)
        client.create_pipeline(
            pipe,
            transform=pps_pb2.Transform(cmd=["sh", "-c", f"cp -r /pfs/{src}/. /pfs/out/"], image="alpine:3"),
            input=pps_pb2.Input(pfs=pps_pb2.PFSInput(repo=src, glob="/")),
        )
        assert pipe not in {p.pipeline.name for p in client.list_pipeline()}
        (info,) = [t for t in client.list_transaction() if t.transaction.id == txn.id]
        assert info.requests[1].create_pipeline.pipeline.name == pipe
    assert pipe in {p.pipeline.name for p in client.list_pipeline()}
    assert {src, pipe} <= repo_names(client)
    client.put_file_bytes((src, "master"), "/f", b"x")
    head = inspect(client, (pipe, "master"), commit_state=pfs_pb2.FINISHED)
    assert client.get_file(head.commit, "/f").read() == b"x"


def test_a_pending_transaction_outlives_the_server(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from helpers.served import Served

    root = tmp_path / "root"
    first = Served(root)
    try:
        c = first.client()
        txn = c.start_transaction()
        c.transaction_id = txn.id
        c.create_repo("kept")
    finally:
        assert first.stop()[0] == 0
    second = Served(root)
    try:
        c = second.client()
        assert [t.transaction.id for t in c.list_transaction()] == [txn.id]
        assert "kept" not in repo_names(c)
        c.finish_transaction(txn)
        assert "kept" in repo_names(c)
    finally:
        assert second.stop()[0] == 0
