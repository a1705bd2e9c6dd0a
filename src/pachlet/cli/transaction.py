"""``pachlet start/stop/finish/delete/inspect/list/resume transaction``, as pachctl 2.7.6
(``src/server/transaction/cmds/cmds.go``): the active transaction lives in the active context of
pachlet's config (``pachlet.cli.config``); while there is one, create/delete repo, start/finish commit,
create/delete branch and create pipeline are added to it ("Added to transaction: ID") instead of run.

Against the local root the transaction is kept in the root (``pachlet.transactions``); against a pachd
the requests carry the ``pach-transaction`` header (``pachlet.cli.txnbackend``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from pachlet.cli.config import active_context, update_active_context
from pachlet.cli.session import open_backend
from pachlet.cli.verbs import delete, finish, inspect, list_, start
from pachlet.errors import PachletError
from pachlet.timeutil import to_dt

TxnView = dict[str, Any]
"""id, started (UNIX time), requests (op names)."""


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
    """Transaction calls on whichever backend is open."""

    def __init__(self, backend: Any) -> None:
        self.remote = hasattr(backend, "c")
        if self.remote:
            self.c = backend.c
        else:
            from pachlet.transactions import Transactions

            self.t = Transactions(backend.p)

    def _view(self, info: Any) -> TxnView:
        if self.remote:
            return {
                "id": info.transaction.id,
                "started": info.started.seconds + info.started.nanos / 1e9,
                "requests": [next((f.name for f, _ in r.ListFields()), "") for r in info.requests],
            }
        return {"id": info.id, "started": info.started, "requests": [r["op"] for r in info.requests]}

    def start(self) -> str:
        return self.c.start_transaction().id if self.remote else self.t.start().id

    def inspect(self, txn: str) -> TxnView:
        return self._view(self.c.inspect_transaction(txn) if self.remote else self.t.inspect(txn))

    def list(self) -> list[TxnView]:
        return [self._view(i) for i in (self.c.list_transaction() if self.remote else self.t.list())]

    def delete(self, txn: str) -> None:
        if self.remote:
            self.c.delete_transaction(txn)
        else:
            self.t.delete(txn)

    def finish(self, txn: str) -> TxnView:
        return self._view(self.c.finish_transaction(txn) if self.remote else self.t.finish(txn))


@contextmanager
def _txns(ctx: click.Context) -> Iterator[_Txns]:
    with open_backend(ctx, write=True, transactional=False) as b:
        yield _Txns(b)


def _print_table(views: list[TxnView]) -> None:
    click.echo(f"{'TRANSACTION':<34}{'STARTED':<28}OPS")
    for v in views:
        started = to_dt(v["started"])
        click.echo(
            f"{v['id']:<34}{started.isoformat(timespec='seconds') if started else '-':<28}{len(v['requests'])}"
        )


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


@click.group("stop")
def stop() -> None:
    """Stop modifying the current transaction."""


@stop.command("transaction")
def stop_transaction() -> None:
    """Stop modifying the current transaction (it stays pending; ``resume transaction`` goes back)."""
    txn = require_active()
    update_active_context(active_transaction=None)
    click.echo(f"Cleared active transaction: {txn}")


@click.group("resume")
def resume() -> None:
    """Set an existing transaction as active."""


@resume.command("transaction")
@click.argument("txn")
@click.pass_context
def resume_transaction(ctx: click.Context, txn: str) -> None:
    """Set an existing transaction as active."""
    with _txns(ctx) as t:
        view = t.inspect(txn)
    update_active_context(active_transaction=view["id"])
    click.echo(f"Resuming existing transaction with {len(view['requests'])} requests: {view['id']}")


@finish.command("transaction")
@click.argument("txn", required=False)
@click.pass_context
def finish_transaction(ctx: click.Context, txn: str | None) -> None:
    """Execute and clear the currently active transaction (or the one named)."""
    txn = txn or require_active()
    with _txns(ctx) as t:
        view = t.finish(txn)
    update_active_context(active_transaction=None)
    click.echo(f"Completed transaction with {len(view['requests'])} requests: {view['id']}")


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
@click.option("-o", "--output", type=click.Choice(["", "json"]), default="", help="json: one JSON object.")
@click.pass_context
def inspect_transaction(ctx: click.Context, txn: str | None, output: str) -> None:
    """Print information about an open transaction (default: the active one)."""
    txn = txn or require_active()
    with _txns(ctx) as t:
        view = t.inspect(txn)
    if output == "json":
        click.echo(json.dumps(view, sort_keys=True))
        return
    started = to_dt(view["started"])
    click.echo(
        f"Transaction: {view['id']}\nStarted: {started.isoformat(timespec='seconds') if started else '-'}"
    )
    click.echo("Requests:")
    for op in view["requests"]:
        click.echo(f"  {op}")


@list_.command("transaction")
@click.pass_context
def list_transaction(ctx: click.Context) -> None:
    """List transactions."""
    with _txns(ctx) as t:
        _print_table(t.list())
