"""PFS RPCs for commit sets and file diffs, mixed into ``pachlet.server.pfs.PFSServicer``:
SquashCommitSet, DropCommitSet, DiffFile and SubscribeCommit, each as pachd v2.7.6's
``src/server/pfs/server/api_server.go`` answers them (the semantics live in ``pachlet.pfs``)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from google.protobuf import empty_pb2
from python_pachyderm.proto.v2.pfs import pfs_pb2

from pachlet import protos
from pachlet import records as r
from pachlet.server.errors import RpcAbort, rpc
from pachlet.server.refs import commit_ref, commit_state_reached, passes_origin, repo_name
from pachlet.server.state import ServerState


class PFSOpsMixin:
    """SquashCommitSet, DropCommitSet, DiffFile, SubscribeCommit."""

    state: ServerState

    @rpc
    def SquashCommitSet(
        self, request: pfs_pb2.SquashCommitSetRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        with self.state.writing(exclusive=True) as p:
            p.squash_commit(request.commit_set.id)
        return empty_pb2.Empty()

    @rpc
    def DropCommitSet(
        self, request: pfs_pb2.DropCommitSetRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        with self.state.writing(exclusive=True) as p:
            p.drop_commit(request.commit_set.id)
        return empty_pb2.Empty()

    @rpc
    def DiffFile(
        self, request: pfs_pb2.DiffFileRequest, context: grpc.ServicerContext
    ) -> Iterator[pfs_pb2.DiffFileResponse]:
        new_repo, new_ref = commit_ref(request.new_file.commit)
        old = None
        if request.HasField("old_file") and request.old_file.HasField("commit"):
            old_repo, old_ref = commit_ref(request.old_file.commit)
            old = (old_repo, old_ref, request.old_file.path or "/")
        p = self.state.p
        branches: dict[tuple[str, str], str] = {}

        def info(rec: r.FileRecord) -> pfs_pb2.FileInfo:
            key = (rec.repo, rec.commit)
            if key not in branches:
                branches[key] = p.inspect_commit(rec.repo, rec.commit).branch
            return protos.file_info(rec, rec.repo, rec.commit, branches[key])

        for o, n in p.diff_file((new_repo, new_ref, request.new_file.path or "/"), old):
            resp = pfs_pb2.DiffFileResponse()
            if n is not None:
                resp.new_file.CopyFrom(info(n))
            if o is not None:
                resp.old_file.CopyFrom(info(o))
            yield resp

    @rpc
    def SubscribeCommit(
        self, request: pfs_pb2.SubscribeCommitRequest, context: grpc.ServicerContext
    ) -> Iterator[pfs_pb2.CommitInfo]:
        """pachd's ``subscribeCommit``: every commit of the repo (on ``branch`` if given) passing the
        origin filter, oldest first, each once it reaches ``state``, then each new one as it comes,
        until the client goes away. ``from`` leaves out that one commit (pachd skips only it)."""
        repo = repo_name(request.repo)
        p = self.state.p
        p.inspect_repo(repo)
        skip = ""
        if request.HasField("from"):
            from_ = getattr(request, "from")
            from_repo = from_.repo if from_.repo.name else from_.branch.repo
            if from_repo.name and from_repo.name != repo:
                raise RpcAbort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"the `from` commit needs to be from repo {repo}"
                )
            skip = from_.id
        seen: set[str] = {skip} if skip else set()

        def unseen() -> list[r.CommitInfo] | None:
            out = []
            for info in reversed(p.list_commits(repo, request.branch or None)):
                if info.id in seen or not passes_origin(info, request.all, request.origin_kind):
                    continue
                if not commit_state_reached(info, request.state):
                    break  # pachd waits for each commit in creation order
                out.append(info)
            return out or None

        while True:
            for info in self.state.wait_until(unseen, context, what=f"new commits in {repo}"):
                seen.add(info.id)
                yield protos.commit_info(info)
