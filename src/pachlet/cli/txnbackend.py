"""``TransactionalBackend``: while a transaction is active (``pachlet start transaction``), the
transactional calls of a backend (create/delete repo, start/finish commit, create/delete branch, create
pipeline) go into it, as pachctl's ``WithActiveTransaction`` does; everything else passes through.
Imported by ``pachlet.cli.session`` only when a transaction is active."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.pps import pps_pb2

from pachlet import protos
from pachlet.names import COMMIT_ID_RE


def _commit(repo: str, ref: str) -> pfs_pb2.Commit:
    if COMMIT_ID_RE.match(ref):
        return pfs_pb2.Commit(repo=protos.repo(repo), id=ref)
    return pfs_pb2.Commit(repo=protos.repo(repo), branch=protos.branch(repo, ref))


class TransactionalBackend:
    """A backend whose transactional calls go into transaction ``txn``; everything else passes through."""

    def __init__(self, inner: Any, txn: str) -> None:
        self.inner = inner
        self.txn = txn
        self.remote = hasattr(inner, "c")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _append(self, req: Mapping[str, Any]) -> dict[str, Any]:
        if self.remote:
            resp = self._remote_append(req)
        else:
            from pachlet.transactions import Transactions

            resp = Transactions(self.inner.p).append(self.txn, req)
        click.echo(f"Added to transaction: {self.txn}")
        return resp

    def _remote_append(self, req: Mapping[str, Any]) -> dict[str, Any]:
        c = self.inner.c
        old, c.transaction_id = c.transaction_id, self.txn
        try:
            op = req["op"]
            if op == "create_repo":
                c.create_repo(req["repo"], description=req["description"] or None, update=req["update"])
            elif op == "delete_repo":
                c.delete_repo(req["repo"], force=req["force"])
            elif op == "start_commit":
                commit = c.start_commit(req["repo"], req["branch"], description=req["description"] or None)
                return {"commit": {"repo": req["repo"], "branch": req["branch"], "id": commit.id}}
            elif op == "finish_commit":
                c.finish_commit(_commit(req["repo"], req["ref"]), description=req["description"])
            elif op == "create_branch":
                c.create_branch(
                    req["repo"], req["branch"],
                    head_commit=_commit(req["repo"], req["head"]) if req["head"] else None,
                    provenance=[protos.branch(r, b) for r, b in req["provenance"]] or None,
                )  # fmt: skip
            elif op == "delete_branch":
                c.delete_branch(req["repo"], req["branch"])
            else:
                import python_pachyderm

                request = python_pachyderm.parse_dict_pipeline_spec(req["spec"])
                request.update, request.reprocess = req["update"], req["reprocess"]
                c.create_pipeline_from_request(request)
            return {}
        finally:
            c.transaction_id = old

    def create_repo(self, name: str, description: str, update: bool) -> Any:
        self._append({"op": "create_repo", "repo": name, "description": description, "update": update})
        return pfs_pb2.RepoInfo(repo=protos.repo(name), description=description)

    def delete_repo(self, name: str, force: bool) -> None:
        self._append({"op": "delete_repo", "repo": name, "force": force})

    def start_commit(self, repo: str, branch: str, description: str) -> Any:
        resp = self._append(
            {"op": "start_commit", "repo": repo, "branch": branch, "description": description, "parent": None}
        )
        return pfs_pb2.CommitInfo(commit=protos.commit(repo, resp["commit"]["id"], branch))

    def finish_commit(self, repo: str, ref: str, description: str | None) -> Any:
        self._append({"op": "finish_commit", "repo": repo, "ref": ref, "description": description})
        return pfs_pb2.CommitInfo(commit=protos.commit(repo, ref))

    def create_branch(self, repo: str, branch: str, head: str | None, provenance: Any) -> Any:
        self._append(
            {"op": "create_branch", "repo": repo, "branch": branch, "head": head,
             "provenance": [list(p) for p in provenance]}
        )  # fmt: skip
        return pfs_pb2.BranchInfo(branch=protos.branch(repo, branch))

    def delete_branch(self, repo: str, branch: str) -> None:
        self._append({"op": "delete_branch", "repo": repo, "branch": branch})

    def create_pipeline(
        self, spec: Mapping[str, Any], update: bool, reprocess: bool, source: str | None
    ) -> Any:
        self._append({"op": "create_pipeline", "spec": dict(spec), "update": update, "reprocess": reprocess})
        name = (spec.get("pipeline") or {}).get("name", "")
        return pps_pb2.PipelineInfo(pipeline=pps_pb2.Pipeline(name=name))
