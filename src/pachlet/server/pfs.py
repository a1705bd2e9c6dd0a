"""The PFS service (``pfs_v2.API``) over the pachlet facade: repos, branches, commits and files.

Requests name repos and commits as ``pachlet.server.refs`` reads them; a ModifyFile stream is buffered
and applied by ``pachlet.server.modify`` (nothing is written unless the client ends the stream
normally).
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import threading
from collections.abc import Iterator

import grpc
from google.protobuf import empty_pb2, wrappers_pb2
from python_pachyderm.proto.v2.pfs import pfs_pb2, pfs_pb2_grpc

from pachlet import protos
from pachlet import records as r
from pachlet.errors import NotFoundError
from pachlet.server.errors import RpcAbort, fill_unimplemented, rpc
from pachlet.server.modify import (
    SPOOL_IN_MEMORY,
    ModifyBatch,
    apply_batch,
    buffer_modify_stream,
    close_batches,
)
from pachlet.server.pagination import paginate
from pachlet.server.pfs_ops import PFSOpsMixin
from pachlet.server.projects import ProjectRPCs
from pachlet.server.refs import commit_ref, commit_state_reached, in_projects, page, passes_origin, repo_name
from pachlet.server.state import ServerState

CHUNK = 1 << 20
STREAM_SETTLE_SECONDS = 0.02


def _walk_key(rec: r.FileRecord) -> str:
    return rec.path.rstrip("/") + "/" if rec.file_type == "dir" else rec.path


# --------------------------------------------------------------------------- the servicer


@fill_unimplemented(pfs_pb2_grpc.APIServicer, "pfs_v2.API")
class PFSServicer(ProjectRPCs, PFSOpsMixin, pfs_pb2_grpc.APIServicer):
    """pfs_v2.API for python-pachyderm 7.x (the project RPCs come from ``pachlet.server.projects``, the
    commit-set and file operations from ``pachlet.server.pfs_ops``)."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.p = state.p

    # ---------------------------------------------------------------- repos
    @rpc
    def CreateRepo(
        self, request: pfs_pb2.CreateRepoRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        name = repo_name(request.repo)
        with self.state.writing() as p:
            p.create_repo(name, request.description, update=request.update)
        return empty_pb2.Empty()

    @rpc
    def InspectRepo(
        self, request: pfs_pb2.InspectRepoRequest, context: grpc.ServicerContext
    ) -> pfs_pb2.RepoInfo:
        return protos.repo_info(self.p.inspect_repo(repo_name(request.repo)))

    @rpc
    def ListRepo(
        self, request: pfs_pb2.ListRepoRequest, context: grpc.ServicerContext
    ) -> Iterator[pfs_pb2.RepoInfo]:
        if request.type not in ("", "user", "all"):
            return
        for info in self.p.list_repos():
            if not request.projects or in_projects(info.name, request.projects):
                yield protos.repo_info(info)

    @rpc
    def DeleteRepo(
        self, request: pfs_pb2.DeleteRepoRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        name = repo_name(request.repo)
        with self.state.writing(exclusive=True) as p:
            p.delete_repo(name, force=request.force)
        return empty_pb2.Empty()

    @rpc
    def DeleteRepos(
        self, request: pfs_pb2.DeleteReposRequest, context: grpc.ServicerContext
    ) -> pfs_pb2.DeleteReposResponse:
        if request.projects:  # the repos of some projects (pachd's driver.deleteRepos)
            deleted = []
            with self.state.writing(exclusive=True) as p:
                for info in p.list_repos():
                    if in_projects(info.name, request.projects) and not info.pipeline:
                        p.delete_repo(info.name, force=request.force)
                        deleted.append(info.name)
            return pfs_pb2.DeleteReposResponse(repos=[protos.repo(n) for n in deleted])
        deleted = self._delete_all_repos(request.force or request.all)
        return pfs_pb2.DeleteReposResponse(repos=[protos.repo(n) for n in deleted])

    @rpc
    def DeleteAll(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> empty_pb2.Empty:
        self._delete_all_repos(True)
        return empty_pb2.Empty()

    def _delete_all_repos(self, force: bool) -> list[str]:
        deleted = []
        with self.state.writing(exclusive=True) as p:
            for info in p.list_repos():
                if info.pipeline and info.name == info.pipeline:
                    continue  # output repos go with their pipelines (PPS DeleteAll) or by force below
                p.delete_repo(info.name, force=force)
                deleted.append(info.name)
            if force:
                for info in p.list_repos():
                    p.delete_repo(info.name, force=True)
                    deleted.append(info.name)
        return deleted

    # ---------------------------------------------------------------- commits
    @rpc
    def StartCommit(
        self, request: pfs_pb2.StartCommitRequest, context: grpc.ServicerContext
    ) -> pfs_pb2.Commit:
        repo = repo_name(request.branch.repo)
        branch = request.branch.name or "master"
        parent = None
        if request.HasField("parent") and (request.parent.id or request.parent.branch.name):
            parent = request.parent.id or request.parent.branch.name
        with self.state.writing() as p:
            info = p.start_commit(repo, branch, description=request.description, parent=parent)
        return protos.commit(repo, info.id, info.branch)

    @rpc
    def FinishCommit(
        self, request: pfs_pb2.FinishCommitRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        repo, ref = commit_ref(request.commit)
        with self.state.writing() as p:
            p.finish_commit(repo, ref, description=request.description or None)
        return empty_pb2.Empty()

    def _wait_commit(self, repo: str, ref: str, wanted: int, context: grpc.ServicerContext) -> r.CommitInfo:
        first = self.p.inspect_commit(repo, ref)
        if commit_state_reached(first, wanted):
            return first
        self.state.wake.set()

        def check() -> r.CommitInfo | None:
            info = self.p.inspect_commit(repo, first.id)
            return info if commit_state_reached(info, wanted) else None

        return self.state.wait_until(check, context, what=f"commit {repo}@{first.id}")

    @rpc
    def InspectCommit(
        self, request: pfs_pb2.InspectCommitRequest, context: grpc.ServicerContext
    ) -> pfs_pb2.CommitInfo:
        repo, ref = commit_ref(request.commit)
        return protos.commit_info(self._wait_commit(repo, ref, request.wait, context))

    @rpc
    def ListCommit(
        self, request: pfs_pb2.ListCommitRequest, context: grpc.ServicerContext
    ) -> Iterator[pfs_pb2.CommitInfo]:
        repo = repo_name(request.repo)
        to = request.to if request.HasField("to") else None
        from_ = getattr(request, "from") if request.HasField("from") else None
        if to is not None and (to.id or to.branch.name):
            chain: list[r.CommitInfo] = []
            stop = commit_ref(from_)[1] if from_ is not None and (from_.id or from_.branch.name) else None
            stop_id = self.p.inspect_commit(repo, stop).id if stop else None
            to_ref = commit_ref(to)[1]
            branches = {b.name: b for b in self.p.list_branches(repo)}
            if not to.id and to_ref in branches and branches[to_ref].head is None:
                return  # a branch without commits lists nothing
            cursor: str | None = self.p.inspect_commit(repo, to_ref).id
            while cursor is not None and cursor != stop_id:
                info = self.p.inspect_commit(repo, cursor)
                chain.append(info)
                cursor = info.parent
            commits = chain
        else:
            commits = self.p.list_commits(repo)
        if request.HasField("started_time"):
            since = protos.to_datetime(request.started_time)
            if since is not None:
                commits = [c for c in commits if c.started <= since]
        commits = [c for c in commits if passes_origin(c, request.all, request.origin_kind)]
        for info in page(commits, request.number, request.reverse):
            yield protos.commit_info(info)

    @rpc
    def InspectCommitSet(
        self, request: pfs_pb2.InspectCommitSetRequest, context: grpc.ServicerContext
    ) -> Iterator[pfs_pb2.CommitInfo]:
        gid = request.commit_set.id
        for info in self.p.commit_set(gid):
            if request.wait:
                info = self._wait_commit(info.repo, info.id, pfs_pb2.FINISHED, context)
            yield protos.commit_info(info)

    @rpc
    def ListCommitSet(
        self, request: pfs_pb2.ListCommitSetRequest, context: grpc.ServicerContext
    ) -> Iterator[pfs_pb2.CommitSetInfo]:
        groups: dict[str, list[r.CommitInfo]] = {}
        for info in self.p.list_commits():
            groups.setdefault(info.id, []).append(info)
        for gid, commits in groups.items():
            if request.project.name and not any(in_projects(c.repo, [request.project]) for c in commits):
                continue  # commit_set.go listCommitSet: the sets with a commit in the project
            yield protos.commit_set_info(list(reversed(commits)), gid)

    # ---------------------------------------------------------------- branches
    @rpc
    def CreateBranch(
        self, request: pfs_pb2.CreateBranchRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        repo = repo_name(request.branch.repo)
        if request.HasField("trigger") and request.trigger.branch:
            raise RpcAbort(grpc.StatusCode.UNIMPLEMENTED, "pachlet serve does not implement branch triggers")
        head = None
        if request.HasField("head") and (request.head.id or request.head.branch.name):
            head = commit_ref(request.head)[1]
        provenance = [(repo_name(b.repo), b.name) for b in request.provenance]
        with self.state.writing() as p:
            p.create_branch(repo, request.branch.name, head, provenance=provenance)
        return empty_pb2.Empty()

    @rpc
    def InspectBranch(
        self, request: pfs_pb2.InspectBranchRequest, context: grpc.ServicerContext
    ) -> pfs_pb2.BranchInfo:
        return protos.branch_info(self.p.inspect_branch(repo_name(request.branch.repo), request.branch.name))

    @rpc
    def ListBranch(
        self, request: pfs_pb2.ListBranchRequest, context: grpc.ServicerContext
    ) -> Iterator[pfs_pb2.BranchInfo]:
        branches = self.p.list_branches(repo_name(request.repo))
        for info in page(branches, 0, request.reverse):
            yield protos.branch_info(info)

    @rpc
    def DeleteBranch(
        self, request: pfs_pb2.DeleteBranchRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        with self.state.writing() as p:
            p.delete_branch(repo_name(request.branch.repo), request.branch.name, force=request.force)
        return empty_pb2.Empty()

    # ---------------------------------------------------------------- files
    @rpc
    def ModifyFile(
        self, request_iterator: Iterator[pfs_pb2.ModifyFileRequest], context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        batches: list[ModifyBatch] = []
        ended = threading.Event()
        context.add_callback(ended.set)
        try:
            batches = buffer_modify_stream(request_iterator)
            # grpc ends the request iterator the same way for a half-close and for a client that went
            # away; a cancellation is reported a moment later. Give it that moment before writing.
            if ended.wait(STREAM_SETTLE_SECONDS) or not context.is_active():
                raise RpcAbort(grpc.StatusCode.CANCELLED, "client went away before the end of the stream")
            with self.state.writing() as p:
                for batch in batches:
                    apply_batch(p, batch)
        except grpc.RpcError as exc:
            raise RpcAbort(
                grpc.StatusCode.CANCELLED, "ModifyFile stream broken; nothing was written"
            ) from exc
        finally:
            close_batches(batches)
        return empty_pb2.Empty()

    def _file_target(self, f: pfs_pb2.File) -> tuple[str, str, str]:
        repo, ref = commit_ref(f.commit)
        return repo, ref, f.path or "/"

    @rpc
    def GetFile(
        self, request: pfs_pb2.GetFileRequest, context: grpc.ServicerContext
    ) -> Iterator[wrappers_pb2.BytesValue]:
        if request.URL:
            raise RpcAbort(
                grpc.StatusCode.UNIMPLEMENTED, "pachlet serve does not implement get file to a URL"
            )
        repo, ref, path = self._file_target(request.file)
        obj = self.p.file_object_path(repo, ref, path)
        with open(obj, "rb") as fh:
            if request.offset:
                fh.seek(request.offset)
            sent = False
            while chunk := fh.read(CHUNK):
                sent = True
                yield wrappers_pb2.BytesValue(value=chunk)
            if not sent:
                yield wrappers_pb2.BytesValue(value=b"")

    @rpc
    def GetFileTAR(
        self, request: pfs_pb2.GetFileRequest, context: grpc.ServicerContext
    ) -> Iterator[wrappers_pb2.BytesValue]:
        repo, ref, path = self._file_target(request.file)
        with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY) as buf:
            with tarfile.open(fileobj=buf, mode="w") as tar:
                for f in self.p.walk_files(repo, ref, path):
                    data = self.p.get_file(repo, ref, f.path)
                    ti = tarfile.TarInfo(f.path.lstrip("/"))
                    ti.size = len(data)
                    ti.mode = 0o644
                    tar.addfile(ti, io.BytesIO(data))
            buf.seek(0)
            while chunk := buf.read(CHUNK):
                yield wrappers_pb2.BytesValue(value=chunk)

    @rpc
    def InspectFile(
        self, request: pfs_pb2.InspectFileRequest, context: grpc.ServicerContext
    ) -> pfs_pb2.FileInfo:
        repo, ref, path = self._file_target(request.file)
        commit = self.p.inspect_commit(repo, ref)
        try:
            rec = self.p.inspect_file(repo, commit.id, path)
        except NotFoundError:
            # pachd's wording, which python-pachyderm's path_exists() matches
            raise NotFoundError(f"file {path} not found in repo {repo} at commit {commit.id}") from None
        return protos.file_info(rec, repo, commit.id, commit.branch)

    def _files(self, records: list[r.FileRecord], repo: str, ref: str) -> list[pfs_pb2.FileInfo]:
        branch = self.p.inspect_commit(repo, ref).branch
        return [protos.file_info(rec, repo, rec.commit, branch) for rec in records]

    @rpc
    def ListFile(
        self, request: pfs_pb2.ListFileRequest, context: grpc.ServicerContext
    ) -> Iterator[pfs_pb2.FileInfo]:
        repo, ref, path = self._file_target(request.file)
        records = self.p.list_files(repo, ref, path)
        marker = request.paginationMarker if request.HasField("paginationMarker") else None
        yield from paginate(self._files(records, repo, ref), marker, request.number, request.reverse)

    @rpc
    def WalkFile(
        self, request: pfs_pb2.WalkFileRequest, context: grpc.ServicerContext
    ) -> Iterator[pfs_pb2.FileInfo]:
        repo, ref, path = self._file_target(request.file)
        files = self.p.walk_files(repo, ref, path)
        records: dict[str, r.FileRecord] = {}
        for f in files:
            records[f.path] = f
            parts = f.path.strip("/").split("/")[:-1]
            for i in range(len(parts)):
                d = "/" + "/".join(parts[: i + 1])
                if d not in records and d.startswith(path.rstrip("/")):
                    records[d] = self.p.inspect_file(repo, ref, d)
        if path in ("", "/") and files:
            records["/"] = self.p.inspect_file(repo, ref, "/")
        ordered = sorted(records.values(), key=_walk_key)
        marker = request.paginationMarker if request.HasField("paginationMarker") else None
        yield from paginate(self._files(ordered, repo, ref), marker, request.number, request.reverse)

    @rpc
    def GlobFile(
        self, request: pfs_pb2.GlobFileRequest, context: grpc.ServicerContext
    ) -> Iterator[pfs_pb2.FileInfo]:
        repo, ref = commit_ref(request.commit)
        yield from self._files(self.p.glob_files(repo, ref, request.pattern or "/"), repo, ref)

    # ---------------------------------------------------------------- maintenance
    @rpc
    def Fsck(
        self, request: pfs_pb2.FsckRequest, context: grpc.ServicerContext
    ) -> Iterator[pfs_pb2.FsckResponse]:
        if request.fix:
            with self.state.writing(exclusive=True) as p:
                report = p.fsck(fix=True)
        else:
            report = self.p.fsck(fix=False)
        for fixed in report.fixed:
            yield pfs_pb2.FsckResponse(fix=fixed)
        for problem in report.problems:
            yield pfs_pb2.FsckResponse(error=problem)
