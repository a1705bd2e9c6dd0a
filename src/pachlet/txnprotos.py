"""Transactions as pachd's protos (``transaction_pb2``): a ``pachlet.transactions`` request as the
TransactionRequest it stands for, the responses, TransactionInfo, and pachctl's one-line descriptions of
requests (``src/server/transaction/pretty/pretty.go``). No gRPC here: the CLI uses it on a local root."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.pps import pps_pb2
from python_pachyderm.proto.v2.transaction import transaction_pb2

from pachlet import protos
from pachlet.names import COMMIT_ID_RE
from pachlet.timeutil import to_dt
from pachlet.transactions import Request, Response, TransactionInfo


def _commit_msg(repo: str, ref: str) -> pfs_pb2.Commit:
    if COMMIT_ID_RE.match(ref):
        return protos.commit(repo, ref)
    return pfs_pb2.Commit(repo=protos.repo(repo), branch=protos.branch(repo, ref))


def to_proto(req: Request) -> transaction_pb2.TransactionRequest:
    """A ``pachlet.transactions`` request as pachd's TransactionRequest."""
    op = req["op"]
    if op == "create_repo":
        m: Any = pfs_pb2.CreateRepoRequest(
            repo=protos.repo(req["repo"]),
            description=req.get("description") or "",
            update=bool(req.get("update")),
        )
    elif op == "delete_repo":
        m = pfs_pb2.DeleteRepoRequest(repo=protos.repo(req["repo"]), force=bool(req.get("force")))
    elif op == "start_commit":
        m = pfs_pb2.StartCommitRequest(
            branch=protos.branch(req["repo"], req.get("branch") or "master"),
            description=req.get("description") or "",
        )
        if req.get("parent"):
            m.parent.CopyFrom(_commit_msg(req["repo"], req["parent"]))
    elif op == "finish_commit":
        m = pfs_pb2.FinishCommitRequest(
            commit=_commit_msg(req["repo"], req["ref"]), description=req.get("description") or ""
        )
    elif op == "create_branch":
        m = pfs_pb2.CreateBranchRequest(
            branch=protos.branch(req["repo"], req["branch"]),
            provenance=[protos.branch(r, b) for r, b in req.get("provenance") or []],
        )
        if req.get("head"):
            m.head.CopyFrom(_commit_msg(req["repo"], req["head"]))
    elif op == "delete_branch":
        m = pfs_pb2.DeleteBranchRequest(branch=protos.branch(req["repo"], req["branch"]))
    else:
        m = json_format.ParseDict(req["spec"], pps_pb2.CreatePipelineRequest(), ignore_unknown_fields=True)
        m.update, m.reprocess = bool(req.get("update")), bool(req.get("reprocess"))
    return transaction_pb2.TransactionRequest(**{op: m})


def response_proto(resp: Response) -> transaction_pb2.TransactionResponse:
    """A request's response (``start_commit``: the commit)."""
    c = resp.get("commit")
    if not c:
        return transaction_pb2.TransactionResponse()
    return transaction_pb2.TransactionResponse(commit=protos.commit(c["repo"], c["id"], c["branch"]))


def info_proto(info: TransactionInfo) -> transaction_pb2.TransactionInfo:
    """pachd's TransactionInfo."""
    msg = transaction_pb2.TransactionInfo(
        transaction=transaction_pb2.Transaction(id=info.id),
        requests=[to_proto(r) for r in info.requests],
        responses=[response_proto(r) for r in info.responses],
        version=info.version,
    )
    started = protos.timestamp(to_dt(info.started))
    if started is not None:
        msg.started.CopyFrom(started)
    return msg


def _commit_text(c: pfs_pb2.Commit) -> str:
    repo = c.repo.name or c.branch.repo.name
    return f"{repo}@{c.id or c.branch.name}"


def describe(
    req: transaction_pb2.TransactionRequest, resp: transaction_pb2.TransactionResponse | None
) -> str:
    """pachctl's line for one request (``pretty.go`` ``transactionRequests``)."""
    if req.HasField("create_repo"):
        return f"{'update' if req.create_repo.update else 'create'} repo {req.create_repo.repo.name}"
    if req.HasField("delete_repo"):
        return f"delete repo {req.delete_repo.repo.name}{' --force' if req.delete_repo.force else ''}"
    if req.HasField("start_commit"):
        b = req.start_commit.branch
        cid = (
            resp.commit.id
            if resp is not None and resp.HasField("commit")
            else "ERROR (unknown response type)"
        )
        return f"start commit {b.repo.name}@{b.name} ({cid})"
    if req.HasField("finish_commit"):
        return f"finish commit {_commit_text(req.finish_commit.commit)}"
    if req.HasField("create_branch"):
        b = req.create_branch.branch
        return f"create branch {b.repo.name}@{b.name}"
    if req.HasField("delete_branch"):
        b = req.delete_branch.branch
        return f"delete branch {b.repo.name}@{b.name}"
    if req.HasField("create_pipeline"):
        m = req.create_pipeline
        return f"{'update' if m.update else 'create'} pipeline {m.pipeline.name}"
    return "ERROR (unknown request type)"
