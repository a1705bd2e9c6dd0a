"""Transactions, as pachd 2.7.6 has them (``src/server/transaction/server/driver.go``,
``src/internal/transactionenv/env.go``): a pending list of requests that apply together, atomically,
in one global ID (the transaction's ID), when the transaction finishes.

A transaction lives in the root's ``transactions`` table (so ``pachlet start transaction`` in one
process and ``finish transaction`` in another work, as pachctl's do against pachd). Appending a
request dry-runs the whole transaction, that request included, inside the store transaction and rolls
it back (pachd's ``appendTransaction`` dry-runs in a read-only SQL transaction): a request that cannot
apply is refused and not appended, and the dry-run gives the response (``start_commit``: the commit,
whose ID is the transaction's). ``finish`` applies every request and deletes the transaction in ONE
store transaction (``Pachlet.atomically``), so nothing of it is visible before, and a failure or a crash
mid-finish leaves nothing half applied (the transaction stays, as pachd's does when a request fails).

Requests are plain dicts, one per operation pachd's ``runTransaction`` accepts and pachlet's facade
has (``OPS``)::

    {"op": "create_repo", "repo": NAME, "description": "", "update": False}
    {"op": "delete_repo", "repo": NAME, "force": False}
    {"op": "start_commit", "repo": NAME, "branch": "master", "description": "", "parent": None}
    {"op": "finish_commit", "repo": NAME, "ref": ID_OR_BRANCH, "description": None}
    {"op": "create_branch", "repo": NAME, "branch": NAME, "head": None, "provenance": [[REPO, BRANCH]]}
    {"op": "delete_branch", "repo": NAME, "branch": NAME}
    {"op": "create_pipeline", "spec": {...}, "update": False, "reprocess": False}

Responses are dicts too: ``{"commit": {"repo", "branch", "id"}}`` for ``start_commit``, else ``{}``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pachlet.api import Pachlet
from pachlet.errors import AlreadyExistsError, NotFoundError, PachletError
from pachlet.store import new_id
from pachlet.timeutil import now_ts

OPS = (
    "create_repo",
    "delete_repo",
    "start_commit",
    "finish_commit",
    "create_branch",
    "delete_branch",
    "create_pipeline",
)
"""The requests a transaction can hold (pachd's also: SquashCommitSet, StopJob, UpdateJobState)."""

Request = dict[str, Any]
Response = dict[str, Any]


@dataclass
class TransactionInfo:
    """One pending (or just finished) transaction: its requests and their dry-run responses."""

    id: str
    started: float
    requests: list[Request] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    version: int = 0


class _DryRunDone(Exception):
    """Raised to roll a dry run back."""


def _str(req: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    value = req.get(key)
    if value is None or value == "":
        if required:
            raise PachletError(f"transaction request {req.get('op')}: field {key!r} is required")
        return ""
    if not isinstance(value, str):
        raise PachletError(f"transaction request {req.get('op')}: field {key!r} must be a string")
    return value


def check_request(req: Mapping[str, Any]) -> Request:
    """A request validated (op known, required fields present), as a plain dict."""
    if not isinstance(req, Mapping):
        raise PachletError("a transaction request must be a mapping")
    op = req.get("op")
    if op not in OPS:
        raise PachletError(f"unrecognized transaction request type {op!r} (supported: {', '.join(OPS)})")
    if op == "create_pipeline":
        if not isinstance(req.get("spec"), Mapping):
            raise PachletError("transaction request create_pipeline: field 'spec' must be a mapping")
    else:
        _str(req, "repo")
    if op in ("create_branch", "delete_branch"):
        _str(req, "branch")
    if op == "finish_commit":
        _str(req, "ref")
    return json.loads(json.dumps(dict(req)))


def apply_request(p: Pachlet, req: Mapping[str, Any]) -> Response:
    """Run one request through the facade; its response."""
    op = req["op"]
    if op == "create_repo":
        p.create_repo(req["repo"], req.get("description") or "", update=bool(req.get("update")))
    elif op == "delete_repo":
        p.delete_repo(req["repo"], force=bool(req.get("force")))
    elif op == "start_commit":
        try:
            info = p.start_commit(
                req["repo"],
                req.get("branch") or "master",
                description=req.get("description") or "",
                parent=req.get("parent") or None,
            )
        except sqlite3.IntegrityError:  # the repo has a commit of this global ID already (pfs.go)
            raise PachletError(
                f"inconsistent dependencies: cannot create commit from {req['repo']}@{req.get('branch') or 'master'};"
                f" repo ({req['repo']}) already has a commit in this transaction"
            ) from None
        return {"commit": {"repo": info.repo, "branch": info.branch, "id": info.id}}
    elif op == "finish_commit":
        p.finish_commit(req["repo"], req["ref"], description=req.get("description"))
    elif op == "create_branch":
        provenance = [(str(r), str(b)) for r, b in req.get("provenance") or []]
        p.create_branch(req["repo"], req["branch"], req.get("head") or None, provenance=provenance)
    elif op == "delete_branch":
        p.delete_branch(req["repo"], req["branch"])
    else:
        spec = req["spec"]
        name = (spec.get("pipeline") or {}).get("name", "")
        p.create_pipeline(
            spec,
            update=bool(req.get("update")),
            reprocess=bool(req.get("reprocess")),
            source=f"pipeline {name}",
        )
    return {}


def _wrap(exc: PachletError, i: int, n: int) -> PachletError:
    """pachd's ``error running request %d of %d``, keeping not-found / already-exists."""
    msg = f"error running request {i} of {n}: {exc}"
    if isinstance(exc, NotFoundError):
        return NotFoundError(msg)
    if isinstance(exc, AlreadyExistsError):
        return AlreadyExistsError(msg)
    return PachletError(msg)


def run_requests(p: Pachlet, requests: Sequence[Request]) -> list[Response]:
    """Apply requests in order (inside the caller's ``atomically``); the responses."""
    responses = []
    for i, req in enumerate(requests, start=1):
        try:
            responses.append(apply_request(p, req))
        except PachletError as exc:
            raise _wrap(exc, i, len(requests)) from exc
    return responses


def _not_found(txn_id: str) -> NotFoundError:
    # pachd: the collection's ErrNotFound ("<table> <key> not found")
    return NotFoundError(f"transactions {txn_id} not found")


def _info(row: sqlite3.Row) -> TransactionInfo:
    return TransactionInfo(
        id=row["id"],
        started=row["started"],
        requests=json.loads(row["requests"]),
        responses=json.loads(row["responses"]),
        version=row["version"],
    )


class Transactions:
    """The pending transactions of one open root."""

    def __init__(self, p: Pachlet) -> None:
        self.p = p

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection | None]:
        with self.p.snapshot() as c:
            try:
                c.execute("SELECT 1 FROM transactions LIMIT 0")
            except sqlite3.OperationalError:  # a read-only root made before transactions existed
                yield None
                return
            yield c

    def start(self) -> TransactionInfo:
        """A new, empty transaction (pachd's ``startTransaction``)."""
        info = TransactionInfo(id=new_id(), started=now_ts())
        with self.p.atomically() as c:
            c.execute("INSERT INTO transactions(id, started) VALUES(?, ?)", (info.id, info.started))
        return info

    def inspect(self, txn_id: str) -> TransactionInfo:
        """One pending transaction; ``NotFoundError`` (pachd's text) if there is none."""
        with self._read() as c:
            row = (
                None
                if c is None
                else c.execute("SELECT * FROM transactions WHERE id=?", (txn_id,)).fetchone()
            )
        if row is None:
            raise _not_found(txn_id)
        return _info(row)

    def list(self) -> list[TransactionInfo]:
        """Every pending transaction, oldest first."""
        with self._read() as c:
            rows = (
                [] if c is None else c.execute("SELECT * FROM transactions ORDER BY started, id").fetchall()
            )
        return [_info(row) for row in rows]

    def delete(self, txn_id: str) -> None:
        """Drop a pending transaction and its requests (nothing of it is applied)."""
        with self.p.atomically() as c:
            if c.execute("DELETE FROM transactions WHERE id=?", (txn_id,)).rowcount == 0:
                raise _not_found(txn_id)

    def delete_all(self) -> int:
        """Drop every pending transaction; how many there were."""
        with self.p.atomically() as c:
            return c.execute("DELETE FROM transactions").rowcount

    def append(self, txn_id: str, request: Mapping[str, Any]) -> Response:
        """Add a request to a pending transaction after a dry run of the whole transaction with it
        (rolled back); the request's response. A request that fails the dry run is not added."""
        req = check_request(request)
        with self.p.atomically(txn_id) as c:
            row = c.execute("SELECT * FROM transactions WHERE id=?", (txn_id,)).fetchone()
            if row is None:
                raise _not_found(txn_id)
            info = _info(row)
            info.requests.append(req)
            c.execute("SAVEPOINT pachlet_txn_dry_run")
            try:
                responses = run_requests(self.p, info.requests)
            finally:
                c.execute("ROLLBACK TO pachlet_txn_dry_run")
                c.execute("RELEASE pachlet_txn_dry_run")
            c.execute(
                "UPDATE transactions SET requests=?, responses=?, version=version+1 WHERE id=?",
                (json.dumps(info.requests), json.dumps(responses), txn_id),
            )
        return responses[-1]

    def finish(self, txn_id: str) -> TransactionInfo:
        """Apply every request of a pending transaction in one global ID (its own) and delete it, all in
        one store transaction; on an error nothing applies and the transaction stays."""
        with self.p.atomically(txn_id) as c:
            row = c.execute("SELECT * FROM transactions WHERE id=?", (txn_id,)).fetchone()
            if row is None:
                raise _not_found(txn_id)
            info = _info(row)
            info.responses = run_requests(self.p, info.requests)
            c.execute("DELETE FROM transactions WHERE id=?", (txn_id,))
        return info

    def batch(self, requests: Sequence[Mapping[str, Any]]) -> TransactionInfo:
        """Run requests as one transaction at once (pachd's ``BatchTransaction``: never stored)."""
        reqs = [check_request(r) for r in requests]
        info = TransactionInfo(id=new_id(), started=now_ts(), requests=reqs)
        with self.p.atomically(info.id):
            info.responses = run_requests(self.p, reqs)
        return info
