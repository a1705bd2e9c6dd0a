"""The transaction service (``transaction_v2.API``) and the ``pach-transaction`` header.

pachd 2.7.6 (``src/server/transaction/server/api_server.go``): Start / Inspect / List / Delete / Finish
transaction, BatchTransaction and DeleteAll over ``pachlet.transactions``. A request to one of the
transactional RPCs (``TRANSACTIONAL``: CreateRepo, DeleteRepo, StartCommit, FinishCommit,
CreateBranch, DeleteBranch, CreatePipeline) carrying the gRPC metadata ``pach-transaction: <id>``
(python-pachyderm's ``Client.transaction_id``, pachctl's active transaction) is appended to that
transaction instead of run (``transactionenv.WithTransaction``): ``TransactionInterceptor`` routes it
here, so the PFS and PPS servicers never see it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import empty_pb2
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.pps import pps_pb2
from python_pachyderm.proto.v2.transaction import transaction_pb2, transaction_pb2_grpc

from pachlet.server.errors import RpcAbort, fill_unimplemented, rpc, status_for
from pachlet.server.pps import request_to_spec
from pachlet.server.refs import commit_ref, repo_name
from pachlet.server.state import ServerState
from pachlet.transactions import Request, Response, Transactions
from pachlet.txnprotos import info_proto, response_proto

TRANSACTION_HEADER = "pach-transaction"
"""The gRPC metadata key naming the active transaction (pachd ``client/transaction.go``)."""


# --------------------------------------------------------------------------- proto <-> request


def _commit_or_none(msg: Any, field: str) -> str | None:
    if not msg.HasField(field):
        return None
    c = getattr(msg, field)
    return (c.id or c.branch.name) or None


def from_proto(req: transaction_pb2.TransactionRequest) -> Request:
    """A TransactionRequest as a ``pachlet.transactions`` request."""
    which = [f.name for f, _ in req.ListFields()]
    if len(which) != 1:
        raise RpcAbort(grpc.StatusCode.INVALID_ARGUMENT, "a transaction request must set exactly one field")
    op = which[0]
    if op == "create_repo":
        m = req.create_repo
        return {"op": op, "repo": repo_name(m.repo), "description": m.description, "update": m.update}
    if op == "delete_repo":
        return {"op": op, "repo": repo_name(req.delete_repo.repo), "force": req.delete_repo.force}
    if op == "start_commit":
        m = req.start_commit
        return {
            "op": op,
            "repo": repo_name(m.branch.repo),
            "branch": m.branch.name or "master",
            "description": m.description,
            "parent": _commit_or_none(m, "parent"),
        }
    if op == "finish_commit":
        m = req.finish_commit
        repo, ref = commit_ref(m.commit)
        return {"op": op, "repo": repo, "ref": ref, "description": m.description or None}
    if op == "create_branch":
        m = req.create_branch
        if m.HasField("trigger") and m.trigger.branch:
            raise RpcAbort(grpc.StatusCode.UNIMPLEMENTED, "pachlet serve does not implement branch triggers")
        return {
            "op": op,
            "repo": repo_name(m.branch.repo),
            "branch": m.branch.name,
            "head": commit_ref(m.head)[1]
            if m.HasField("head") and (m.head.id or m.head.branch.name)
            else None,
            "provenance": [[repo_name(b.repo), b.name] for b in m.provenance],
        }
    if op == "delete_branch":
        m = req.delete_branch
        return {"op": op, "repo": repo_name(m.branch.repo), "branch": m.branch.name}
    if op == "create_pipeline":
        m = req.create_pipeline
        return {"op": op, "spec": request_to_spec(m), "update": m.update, "reprocess": m.reprocess}
    raise RpcAbort(grpc.StatusCode.UNIMPLEMENTED, f"pachlet serve does not implement {op} in a transaction")


# --------------------------------------------------------------------------- the servicer


@fill_unimplemented(transaction_pb2_grpc.APIServicer, "transaction_v2.API")
class TransactionServicer(transaction_pb2_grpc.APIServicer):
    """transaction_v2.API over ``pachlet.transactions``."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.txns = Transactions(state.p)

    @rpc
    def StartTransaction(
        self, request: transaction_pb2.StartTransactionRequest, context: grpc.ServicerContext
    ) -> transaction_pb2.Transaction:
        with self.state.writing():
            return transaction_pb2.Transaction(id=self.txns.start().id)

    @rpc
    def InspectTransaction(
        self, request: transaction_pb2.InspectTransactionRequest, context: grpc.ServicerContext
    ) -> transaction_pb2.TransactionInfo:
        return info_proto(self.txns.inspect(request.transaction.id))

    @rpc
    def ListTransaction(
        self, request: transaction_pb2.ListTransactionRequest, context: grpc.ServicerContext
    ) -> transaction_pb2.TransactionInfos:
        return transaction_pb2.TransactionInfos(transaction_info=[info_proto(i) for i in self.txns.list()])

    @rpc
    def DeleteTransaction(
        self, request: transaction_pb2.DeleteTransactionRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        with self.state.writing():
            self.txns.delete(request.transaction.id)
        return empty_pb2.Empty()

    @rpc
    def DeleteAll(
        self, request: transaction_pb2.DeleteAllRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        with self.state.writing():
            self.txns.delete_all()
        return empty_pb2.Empty()

    @rpc
    def FinishTransaction(
        self, request: transaction_pb2.FinishTransactionRequest, context: grpc.ServicerContext
    ) -> transaction_pb2.TransactionInfo:
        with self.state.writing(exclusive=True):
            return info_proto(self.txns.finish(request.transaction.id))

    @rpc
    def BatchTransaction(
        self, request: transaction_pb2.BatchTransactionRequest, context: grpc.ServicerContext
    ) -> transaction_pb2.TransactionInfo:
        reqs = [from_proto(r) for r in request.requests]
        with self.state.writing(exclusive=True):
            return info_proto(self.txns.batch(reqs))

    def append(self, txn_id: str, request: transaction_pb2.TransactionRequest) -> Response:
        """Append a request to a pending transaction (dry run first); its response."""
        req = from_proto(request)
        with self.state.writing():
            return self.txns.append(txn_id, req)


# --------------------------------------------------------------------------- the interceptor

TRANSACTIONAL: dict[str, tuple[str, type, Callable[[Response], Any]]] = {
    "/pfs_v2.API/CreateRepo": ("create_repo", pfs_pb2.CreateRepoRequest, lambda r: empty_pb2.Empty()),
    "/pfs_v2.API/DeleteRepo": ("delete_repo", pfs_pb2.DeleteRepoRequest, lambda r: empty_pb2.Empty()),
    "/pfs_v2.API/StartCommit": (
        "start_commit",
        pfs_pb2.StartCommitRequest,
        lambda r: response_proto(r).commit,
    ),
    "/pfs_v2.API/FinishCommit": ("finish_commit", pfs_pb2.FinishCommitRequest, lambda r: empty_pb2.Empty()),
    "/pfs_v2.API/CreateBranch": ("create_branch", pfs_pb2.CreateBranchRequest, lambda r: empty_pb2.Empty()),
    "/pfs_v2.API/DeleteBranch": ("delete_branch", pfs_pb2.DeleteBranchRequest, lambda r: empty_pb2.Empty()),
    "/pps_v2.API/CreatePipeline": (
        "create_pipeline",
        pps_pb2.CreatePipelineRequest,
        lambda r: empty_pb2.Empty(),
    ),
}
"""Method -> (TransactionRequest field, request type, response maker) of the RPCs a transaction holds."""


def transaction_id(metadata: Any) -> str:
    """The ``pach-transaction`` value of a call's metadata, or ""."""
    for key, value in metadata or ():
        if key == TRANSACTION_HEADER:
            return str(value)
    return ""


class TransactionInterceptor(grpc.ServerInterceptor):
    """Routes a transactional RPC that names an active transaction to ``TransactionServicer.append``."""

    def __init__(self, servicer: TransactionServicer) -> None:
        self.servicer = servicer

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        """The append handler for a transactional call with the header, else the ordinary one."""
        entry = TRANSACTIONAL.get(handler_call_details.method)
        txn_id = transaction_id(handler_call_details.invocation_metadata) if entry else ""
        if not entry or not txn_id:
            return continuation(handler_call_details)
        field, request_type, make_response = entry

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            if self.servicer.state.stopping.is_set():
                context.abort(grpc.StatusCode.UNAVAILABLE, "pachlet serve is shutting down")
            try:
                resp = self.servicer.append(txn_id, transaction_pb2.TransactionRequest(**{field: request}))
            except Exception as exc:  # as ``rpc`` maps them: PachletError -> its code, RpcAbort as is
                code, details = status_for(exc)
                context.abort(code, details)
            return make_response(resp)

        return grpc.unary_unary_rpc_method_handler(
            handle,
            request_deserializer=request_type.FromString,
            response_serializer=lambda m: m.SerializeToString(),
        )
