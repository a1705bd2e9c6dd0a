"""``pachlet next datum [--error MSG]``: pachctl's hidden ``next datum`` (v2.7.6 ``pps/cmds/cmds.go``), for
shell user code of a ``datumBatching`` pipeline: report the current datum (``--error``: it failed) to the
worker API at ``127.0.0.1:$PPS_WORKER_GRPC_PORT`` and block until the next datum is laid out in ``/pfs``
(its variables are in ``/pfs/.env``: ``set -a; source /pfs/.env``)."""

from __future__ import annotations

import os

import click


@click.group(name="next")
def next_group() -> None:
    """Used by datum batching user code."""


@next_group.command(name="datum")
@click.option("--error", "error", default="", help="The current datum failed: this message is its reason.")
def next_datum(error: str) -> None:
    """Report the current datum and wait for the next (datumBatching user code only)."""
    import grpc
    from python_pachyderm.proto.v2.worker import worker_pb2, worker_pb2_grpc

    port = os.environ.get("PPS_WORKER_GRPC_PORT", "")
    if not port.isdigit():
        raise click.ClickException(
            "PPS_WORKER_GRPC_PORT is not set: next datum runs in the user code of a datumBatching pipeline"
        )
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            worker_pb2_grpc.WorkerStub(channel).NextDatum(worker_pb2.NextDatumRequest(error=error))
        except grpc.RpcError as exc:
            raise click.ClickException(f"next datum: {exc.details() or exc.code()}") from None
