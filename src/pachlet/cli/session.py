"""Opening a backend for a command: the global options (``State``), ``--pachd`` or the local root, and
the guard that refuses to open a root a running ``pachlet serve`` owns."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pachlet.cli.projectscope import scoped
from pachlet.errors import PachletError

if TYPE_CHECKING:
    from pachlet.cli.backend import Backend


@dataclass
class State:
    """Global options, shared by every command through click's context."""

    root: Path
    lock_timeout: float | None
    pachd: str | None = None
    runtime: str | None = None


@contextmanager
def open_backend(ctx: click.Context, write: bool, *, transactional: bool = True) -> Iterator[Backend]:
    """Yield a backend: a client of ``--pachd`` when given, else of the active context's
    ``pachd_address`` (``pachlet config``), else the local root (opened read-only for reads when it
    already exists, so reads never wait for a writer). With an active transaction in the context
    (``pachlet start transaction``), a writing backend adds the transactional calls to it. Names are
    read in the command's ``--project`` (``pachlet.cli.projectscope``)."""
    with _open_backend(ctx, write) as b:
        txn = _active_transaction() if write and transactional else ""
        if txn:
            from pachlet.cli.txnbackend import TransactionalBackend

            b = TransactionalBackend(b, txn)  # type: ignore[assignment]
        yield scoped(ctx, b)  # names read in the command's --project, outermost


def _active_transaction() -> str:
    from pachlet.cli.config import active_context

    return str(active_context()[1].get("active_transaction") or "")


@contextmanager
def _open_backend(ctx: click.Context, write: bool) -> Iterator[Backend]:
    state: State = ctx.find_object(State)
    pachd = state.pachd
    if not pachd:
        from pachlet.cli.config import context_pachd

        pachd = context_pachd()
    if not pachd:
        served = serving_address(state.root)
        if served is not None and served[1]:
            pachd = served[1]  # the root is served: talk to the server, as pachctl talks to pachd
    if pachd:
        from pachlet.cli.remote import RemoteBackend  # grpc and python-pachyderm's client: only here

        yield RemoteBackend(pachd)
        return
    from pachlet.api import Pachlet
    from pachlet.cli.local import LocalBackend

    check_not_served(state.root)
    read_only = not write and (state.root / "pachlet.db").exists()
    kwargs: dict[str, Any] = {"read_only": read_only}
    if state.lock_timeout is not None:
        kwargs["timeout"] = state.lock_timeout
    if state.runtime is not None:
        kwargs["runtime"] = state.runtime
    with Pachlet.open(state.root, **kwargs) as p:
        yield LocalBackend(p)


def serving_address(root: Path) -> tuple[int, str] | None:
    """(pid, HOST:PORT) of a running ``pachlet serve`` that holds ``root``, else None. Read from the
    lock holder's record (``lock.info``) and confirmed by the lock being held right now."""
    import filelock

    try:
        info = json.loads((root / "lock.info").read_text())
    except (OSError, ValueError):
        return None
    cmd = str(info.get("cmd", ""))
    if not re.search(r"(^|\s)serve(\s|$)", cmd):
        return None
    bound = ""
    try:  # written by pachlet serve once bound (pachlet.server.serve.SERVE_INFO)
        serve_info = json.loads((root / "serve.json").read_text())
        if serve_info.get("pid") == info.get("pid"):
            bound = str(serve_info.get("address") or "")
    except (OSError, ValueError, AttributeError):
        pass
    probe = filelock.FileLock(str(root / "lock"), thread_local=False)
    try:
        probe.acquire(timeout=0)
    except filelock.Timeout:
        port = re.search(r"--port[= ](\d+)", cmd)
        host = re.search(r"--(?:address|bind)[= ](\S+)", cmd)
        address = host.group(1) if host and host.group(1) not in ("0.0.0.0", "::") else "127.0.0.1"
        port_text = port.group(1) if port else "30650"
        return int(info.get("pid") or 0), bound or ("" if port_text == "0" else f"{address}:{port_text}")
    probe.release()
    return None


def check_not_served(root: Path) -> None:
    """Refuse to open a root that a running ``pachlet serve`` owns, saying how to reach the server."""
    served = serving_address(root)
    if served is not None:
        pid, address = served
        how = (
            f"--pachd {address} (or export PACHD_ADDRESS={address})"
            if address
            else "--pachd HOST:PORT (the address it printed when it started)"
        )
        raise PachletError(
            f"pachlet root {root} is owned by a running pachlet serve (pid {pid}); talk to it with {how}"
        )
