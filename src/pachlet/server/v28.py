"""The 2.8+ methods that pachyderm-sdk and jupyterlab-pachyderm call and python-pachyderm 7.x's protos
lack: ``pps_v2.API/CreateDatum`` (the extension's test mode) and ``pps_v2.API/CreatePipelineV2``
(publish, ``pachctl`` 2.8+), served by a gRPC generic handler registered next to the 2.7 servicers.

Their messages are protobuf classes built from ``pachlet.server.v28protos`` (the 2.10 declarations, in
the descriptor pool of python-pachyderm's ``pps.proto``, so ``Input`` and ``DatumInfo`` are the 2.7
generated ones): pachyderm-sdk itself cannot live in pachlet's venv (it needs grpc-interceptor >=0.14.2,
python-pachyderm 7.6 <0.14), and its clients, run from their own venvs, are what the tests check the
wire format against.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from python_pachyderm.proto.v2.pps import pps_pb2

from pachlet import protos
from pachlet.server import v28protos
from pachlet.server.datumfiles import stamp_committed
from pachlet.server.errors import RpcAbort, status_for
from pachlet.server.state import ServerState

log = logging.getLogger("pachlet.server")

DEFAULT_DATUM_BATCH_SIZE = 100
"""pachd's ``DefaultDatumBatchSize``: CreateDatum's batch when a request asks for 0."""

METHODS = ("/pps_v2.API/CreateDatum", "/pps_v2.API/CreatePipelineV2")


def _has_cron(node: Any) -> bool:
    if isinstance(node, Mapping):
        return "cron" in node or any(_has_cron(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_cron(v) for v in node)
    return False


def _guard(method: str, context: grpc.ServicerContext, exc: BaseException) -> None:
    code, details = status_for(exc)
    if code == grpc.StatusCode.INTERNAL:
        log.exception("%s failed", method)
    else:
        log.info("%s: %s: %s", method, code.name, details)
    context.abort(code, details)


class V28Handler(grpc.GenericRpcHandler):
    """Answers the 2.8+ methods of ``METHODS``; every other method falls through to the next handler."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.p = state.p

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        """The handler of ``handler_call_details.method`` if it is one of ``METHODS``, else None."""
        method = handler_call_details.method
        if method == METHODS[0]:
            return grpc.stream_stream_rpc_method_handler(
                self.create_datum,
                request_deserializer=v28protos.CreateDatumRequest.FromString,
                response_serializer=pps_pb2.DatumInfo.SerializeToString,
            )
        if method == METHODS[1]:
            return grpc.unary_unary_rpc_method_handler(
                self.create_pipeline_v2,
                request_deserializer=v28protos.CreatePipelineV2Request.FromString,
                response_serializer=v28protos.CreatePipelineV2Response.SerializeToString,
            )
        return None

    # ---------------------------------------------------------------- CreateDatum
    def create_datum(self, requests: Iterator[Message], context: grpc.ServicerContext) -> Iterator[Message]:
        """pachd's CreateDatum: a Start message with the input and a batch size, then one batch per
        Continue message; the stream ends when the datums run out (or the client ends it)."""
        try:
            yield from self._create_datum(requests)
        except Exception as exc:  # noqa: BLE001 - every error becomes a status
            _guard("CreateDatum", context, exc)

    def _create_datum(self, requests: Iterator[Message]) -> Iterator[pps_pb2.DatumInfo]:
        first = next(requests, None)
        if first is None or first.WhichOneof("body") != "start":
            raise RpcAbort(
                grpc.StatusCode.INVALID_ARGUMENT, "first message must be a StartCreateDatumRequest message"
            )
        start = first.start
        if not start.HasField("input"):
            raise RpcAbort(grpc.StatusCode.INVALID_ARGUMENT, "first message must specify an input")
        input_spec = json_format.MessageToDict(start.input)
        if _has_cron(input_spec):
            raise RpcAbort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "can't create datums with a cron input, there will be no datums until the pipeline is created",
            )
        spec = {"pipeline": {"name": "create-datum"}, "transform": {"cmd": ["true"]}, "input": input_spec}
        datums = self.p.datums_for_spec(spec)
        number = start.number
        sent = 0
        while True:
            batch = datums[sent : sent + (number if number > 0 else DEFAULT_DATUM_BATCH_SIZE)]
            infos = [protos.planned_datum_info(d) for d in batch]
            stamp_committed(self.p, infos)
            yield from infos
            sent += len(batch)
            if sent >= len(datums):
                return
            msg = next(requests, None)
            if msg is None:
                return
            if msg.WhichOneof("body") != "continue":
                raise RpcAbort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "subsequent messages must be a ContinueCreateDatumRequest message",
                )
            number = getattr(msg, "continue").number

    # ---------------------------------------------------------------- CreatePipelineV2
    def create_pipeline_v2(self, request: Message, context: grpc.ServicerContext) -> Message:
        """pachd 2.8+'s CreatePipelineV2: the CreatePipelineRequest as JSON (``dry_run``, ``update``,
        ``reprocess`` beside it); answers the effective request (the spec with pachd's defaults)."""
        try:
            return self._create_pipeline_v2(request)
        except Exception as exc:  # noqa: BLE001 - every error becomes a status
            _guard("CreatePipelineV2", context, exc)
            raise  # unreachable: abort raises

    def _create_pipeline_v2(self, request: Message) -> Message:
        from pachlet.spec import normalize_spec

        try:
            spec = json.loads(request.create_pipeline_request_json or "")
        except json.JSONDecodeError as exc:
            raise RpcAbort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"create_pipeline_request_json is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            ) from None
        name = ((spec.get("pipeline") or {}).get("name") or "") if isinstance(spec, dict) else ""
        source = f"CreatePipelineV2 {name}".rstrip()
        effective = normalize_spec(spec, source=source)
        if not request.dry_run:
            with self.state.writing() as p:
                p.create_pipeline(spec, update=request.update, reprocess=request.reprocess, source=source)
        return v28protos.CreatePipelineV2Response(
            effective_create_pipeline_request_json=json.dumps(effective, sort_keys=True)
        )


def _unimplemented(method: str) -> Callable[[Any, grpc.ServicerContext], Any]:
    details = f"pachlet serve does not implement {method.lstrip('/')}"

    def answer(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, details)

    return answer


class UnknownMethodHandler(grpc.GenericRpcHandler):
    """The last handler: any method no servicer knows ends with UNIMPLEMENTED naming it
    (``pachlet serve does not implement pps_v2.API/RenderTemplate``) and a log line, instead of
    grpc's anonymous ``Method not found!``."""

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        """A handler that answers UNIMPLEMENTED whatever the call's shape (the request is not read)."""
        method = handler_call_details.method
        log.warning("unknown method %s: answered UNIMPLEMENTED", method)
        return grpc.stream_stream_rpc_method_handler(_unimplemented(method))
