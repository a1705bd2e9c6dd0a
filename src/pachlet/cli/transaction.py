"""``pachlet start/stop/finish/delete/inspect/list/resume transaction``, as pachctl 2.7.6
(``src/server/transaction/cmds/cmds.go``): the active transaction lives in the active context of
pachlet's config (``pachlet.cli.config``); while there is one, create/delete repo, start/finish commit,
create/delete branch and create pipeline are added to it ("Added to transaction: ID") instead of run.

Against the local root the transaction is kept in the root (``pachlet.transactions``); against a pachd
the requests carry the ``pach-transaction`` header (``pachlet.cli.txnbackend``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from pachlet.cli.config import active_context, update_active_context
from pachlet.cli.output import emit_json, output_option, want_json
from pachlet.cli.session import open_backend
from pachlet.cli.verbs import delete, finish, inspect, list_, resume, start, stop
from pachlet.errors import PachletError


def active_transaction() -> str:
    """The active context's transaction ID, or ""."""
    return str(active_context()[1].get("active_transaction") or "")


def require_active() -> str:
    """The active transaction, or pachctl's error."""
    txn = active_transaction()
    if not txn:
        raise PachletError("no active transaction")
    return txn


class _Txns:
    """Transaction calls on whichever backend is open; every answer is pachd's ``TransactionInfo``."""

    def __init__(self, backend: Any) -> None:
        self.remote = hasattr(backend, "c")
        if self.remote:
            self.c = backend.c
        else:
            from pachlet.transactions import Transactions

            self.t = Transactions(backend.p)

    @staticmethod
    def _proto(info: Any) -> Any:
        from pachlet.txnprotos import info_proto

        return info_proto(info)

    def start(self) -> str:
        return self.c.start_transaction().id if self.remote else self.t.start().id

    def inspect(self, txn: str) -> Any:
        return self.c.inspect_transaction(txn) if self.remote else self._proto(self.t.inspect(txn))

    def list(self) -> list[Any]:
        return list(self.c.list_transaction()) if self.remote else [self._proto(i) for i in self.t.list()]

    def delete(self, txn: str) -> None:
        if self.remote:
            self.c.delete_transaction(txn)
        else:
            self.t.delete(txn)

    def finish(self, txn: str) -> Any:
        return self.c.finish_transaction(txn) if self.remote else self._proto(self.t.finish(txn))


@contextmanager
def _txns(ctx: click.Context) -> Iterator[_Txns]:
    with open_backend(ctx, write=True, transactional=False) as b:
        yield _Txns(b)


def _started(info: Any, full_timestamps: bool) -> str:
    from pachlet import protos, tables

    when = protos.to_datetime(info.started) if info.HasField("started") else None
    if when is None:
        return "-"
    return tables.when(when, full_timestamps)


@start.command("transaction")
@click.pass_context
def start_transaction(ctx: click.Context) -> None:
    """Start a new transaction."""
    txn = active_transaction()
    if txn:
        raise PachletError(
            f'cannot start a new transaction, since transaction with ID "{txn}" already exists'
        )
    with _txns(ctx) as t:
        txn = t.start()
    update_active_context(active_transaction=txn)
    click.echo(f'started new transaction: "{txn}"')


@stop.command("transaction")
def stop_transaction() -> None:
    """Stop modifying the current transaction (it stays pending; ``resume transaction`` goes back)."""
    txn = require_active()
    update_active_context(active_transaction=None)
    click.echo(f"Cleared active transaction: {txn}")


@resume.command("transaction")
@click.argument("txn")
@click.pass_context
def resume_transaction(ctx: click.Context, txn: str) -> None:
    """Set an existing transaction as active."""
    with _txns(ctx) as t:
        info = t.inspect(txn)
    update_active_context(active_transaction=info.transaction.id)
    click.echo(f"Resuming existing transaction with {len(info.requests)} requests: {info.transaction.id}")


@finish.command("transaction")
@click.argument("txn", required=False)
@click.pass_context
def finish_transaction(ctx: click.Context, txn: str | None) -> None:
    """Execute and clear the currently active transaction (or the one named)."""
    txn = txn or require_active()
    with _txns(ctx) as t:
        info = t.finish(txn)
    if txn == active_transaction():
        update_active_context(active_transaction=None)
    click.echo(f"Completed transaction with {len(info.responses)} requests: {info.transaction.id}")


@delete.command("transaction")
@click.argument("txn", required=False)
@click.pass_context
def delete_transaction(ctx: click.Context, txn: str | None) -> None:
    """Cancel and delete an existing transaction (default: the active one)."""
    active = active_transaction()
    txn = txn or require_active()
    with _txns(ctx) as t:
        t.delete(txn)
    if txn == active:
        update_active_context(active_transaction=None)


@inspect.command("transaction")
@click.argument("txn", required=False)
@output_option
@click.pass_context
def inspect_transaction(
    ctx: click.Context, txn: str | None, output: str, raw: bool, full_timestamps: bool
) -> None:
    """Print information about an open transaction (default: the active one)."""
    txn = txn or require_active()
    with _txns(ctx) as t:
        info = t.inspect(txn)
    if want_json(output, raw):
        emit_json([info])
        return
    from pachlet.txnprotos import describe

    click.echo(f"ID: {info.transaction.id}\nStarted: {_started(info, full_timestamps)}\nRequests:")
    responses = list(info.responses)
    lines = [describe(r, responses[i] if i < len(responses) else None) for i, r in enumerate(info.requests)]
    click.echo("\n".join(f"  {line}" for line in lines) or "  -")


@list_.command("transaction")
@output_option
@click.pass_context
def list_transaction(ctx: click.Context, output: str, raw: bool, full_timestamps: bool) -> None:
    """List transactions."""
    with _txns(ctx) as t:
        infos = t.list()
    if want_json(output, raw):
        emit_json(infos)
        return
    from pachlet import tables

    rows = [[i.transaction.id, _started(i, full_timestamps), str(len(i.requests))] for i in infos]
    click.echo(tables.render_table(["TRANSACTION", "STARTED", "OPS"], rows), nl=False)
