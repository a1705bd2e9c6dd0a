"""The PFS service (``pfs_v2.API``) over the pachlet facade: repos, branches, commits and files.

A ModifyFile stream (python-pachyderm's ``put_file_bytes``, ``modify_file_client``, ``delete_file``) is
buffered (contents spooled to temporary files) and applied only when the client closes the stream
normally: a client that disconnects or fails mid-stream changes nothing. The whole stream is applied
under the server's write lock, into the open commit it names, or into one new commit on the branch
that is finished at the end (and dropped if applying fails).
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import grpc
from google.protobuf import empty_pb2, wrappers_pb2
from python_pachyderm.proto.v2.pfs import pfs_pb2, pfs_pb2_grpc

from pachlet import protos
from pachlet import records as r
from pachlet.api import Pachlet
from pachlet.errors import NotFoundError, PachletError
from pachlet.server.errors import RpcAbort, fill_unimplemented, rpc
from pachlet.server.state import ServerState

CHUNK = 1 << 20
SPOOL_IN_MEMORY = 8 << 20
STREAM_SETTLE_SECONDS = 0.02
FINISHED_STATES = (pfs_pb2.FINISHING, pfs_pb2.FINISHED)


# --------------------------------------------------------------------------- request helpers


def repo_name(repo: pfs_pb2.Repo) -> str:
    """The repo's name; only the default project exists in pachlet."""
    if repo.project.name not in ("", protos.DEFAULT_PROJECT):
        raise RpcAbort(
            grpc.StatusCode.NOT_FOUND,
            f"project {repo.project.name} not found (pachlet has only the {protos.DEFAULT_PROJECT!r} project)",
        )
    if not repo.name:
        raise RpcAbort(grpc.StatusCode.INVALID_ARGUMENT, "repo name is empty")
    return repo.name


def commit_ref(commit: pfs_pb2.Commit) -> tuple[str, str]:
    """(repo, ref) for a ``pfs.Commit``: the ref is the commit ID, else the branch name."""
    repo = commit.repo if commit.repo.name else commit.branch.repo
    name = repo_name(repo)
    ref = commit.id or commit.branch.name
    if not ref:
        raise RpcAbort(
            grpc.StatusCode.INVALID_ARGUMENT, f"commit in repo {name} has neither an ID nor a branch"
        )
    return name, ref


def commit_state_reached(info: r.CommitInfo, wanted: int) -> bool:
    """Whether a commit is in ``wanted`` (a ``pfs.CommitState``) or later; pachlet commits go straight
    from STARTED/READY to FINISHED."""
    return wanted not in FINISHED_STATES or info.finished is not None


def passes_origin(info: r.CommitInfo, all_: bool, origin_kind: int) -> bool:
    """pachd's filter for ListCommit / SubscribeCommit: ``all``, else the requested origin kind."""
    if all_ or origin_kind == pfs_pb2.ORIGIN_KIND_UNKNOWN:
        return True
    return protos.commit_info(info).origin.kind == origin_kind


def _walk_key(rec: r.FileRecord) -> str:
    return rec.path.rstrip("/") + "/" if rec.file_type == "dir" else rec.path


def _page(items: list[Any], number: int, reverse: bool) -> list[Any]:
    if reverse:
        items = list(reversed(items))
    return items[:number] if number > 0 else items


# --------------------------------------------------------------------------- ModifyFile buffering


@dataclass
class _Op:
    kind: str  # "put", "delete", "copy"
    path: str
    append: bool = False
    data: BinaryIO | None = None
    src: tuple[str, str, str] | None = None  # (repo, ref, path) for copies


@dataclass
class _Batch:
    commit: pfs_pb2.Commit
    ops: list[_Op] = field(default_factory=list)


def _spool() -> BinaryIO:
    """A temporary file for one file's contents (in memory up to 8 MiB); closed by ``_close_batches``."""
    return tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by _close_batches


def buffer_modify_stream(requests: Iterable[pfs_pb2.ModifyFileRequest]) -> list[_Batch]:
    """Read a whole ModifyFile stream into batches (one per ``set_commit``), spooling file contents.
    A delete of a path followed by adds to it becomes one overwrite; adds without a delete append,
    as in pachd. Raises whatever the stream raises when the client goes away."""
    batches: list[_Batch] = []
    for req in requests:
        body = req.WhichOneof("body")
        if body == "set_commit":
            batches.append(_Batch(commit=req.set_commit))
            continue
        if not batches:
            raise RpcAbort(
                grpc.StatusCode.INVALID_ARGUMENT, "ModifyFile: the first message must set the commit"
            )
        ops = batches[-1].ops
        if body == "add_file":
            add = req.add_file
            if add.WhichOneof("source") == "url":
                raise RpcAbort(
                    grpc.StatusCode.UNIMPLEMENTED,
                    f"pachlet serve does not implement put file from a URL ({add.url.URL})",
                )
            last = ops[-1] if ops else None
            if last is not None and last.kind == "put" and last.path == add.path:
                op = last
            elif last is not None and last.kind == "delete" and last.path == add.path:
                op = _Op("put", add.path, append=False, data=_spool())
                ops[-1] = op
            else:
                op = _Op("put", add.path, append=True, data=_spool())
                ops.append(op)
            if add.raw.value:
                assert op.data is not None
                op.data.write(add.raw.value)
        elif body == "delete_file":
            ops.append(_Op("delete", req.delete_file.path))
        elif body == "copy_file":
            cp = req.copy_file
            src_repo, src_ref = commit_ref(cp.src.commit)
            ops.append(_Op("copy", cp.dst, append=cp.append, src=(src_repo, src_ref, cp.src.path)))
    return batches


def _close_batches(batches: list[_Batch]) -> None:
    for b in batches:
        for op in b.ops:
            if op.data is not None:
                op.data.close()


def _apply_op(p: Pachlet, repo: str, ref: str, op: _Op) -> None:
    if op.kind == "delete":
        p.delete_file(repo, ref, op.path)
    elif op.kind == "put":
        assert op.data is not None
        op.data.seek(0)
        p.put_file(repo, ref, op.path, op.data, append=op.append)
    elif op.kind == "copy":
        assert op.src is not None
        src_repo, src_ref, src_path = op.src
        info = p.inspect_file(src_repo, src_ref, src_path)
        if info.file_type != "dir":
            p.put_file(repo, ref, op.path, p.get_file(src_repo, src_ref, src_path), append=op.append)
            return
        base = info.path.rstrip("/")
        for f in p.walk_files(src_repo, src_ref, src_path):
            dst = op.path.rstrip("/") + f.path[len(base) :]
            p.put_file(repo, ref, dst, p.get_file(src_repo, src_ref, f.path), append=op.append)


def _abandon(p: Pachlet, repo: str, commit_id: str) -> None:
    """Drop an open commit this server started (the facade has no public call for it yet)."""
    drop = getattr(p, "abandon_commit", None)
    if drop is None:
        drop = p.abandon_commit
    drop(repo, commit_id)


def apply_batch(p: Pachlet, batch: _Batch) -> None:
    """Apply one batch: into the open commit it names, else into one new commit on the branch that is
    finished at the end (a single write uses the facade's own auto-commit)."""
    repo, ref = commit_ref(batch.commit)
    if not batch.ops:
        return
    p.inspect_repo(repo)
    try:
        info: r.CommitInfo | None = p.inspect_commit(repo, ref)
    except NotFoundError:
        if batch.commit.id:
            raise
        info = None
    if info is not None and info.finished is None:
        if info.origin == r.ORIGIN_AUTO:
            raise PachletError(f"commit {repo}@{info.id} is a pipeline output commit; pachlet finishes it")
        for op in batch.ops:
            _apply_op(p, repo, info.id, op)
        return
    if info is not None and ref == info.id:
        raise PachletError(f"commit {info.id} in repo {repo} has already finished")
    branch = ref
    if len(batch.ops) == 1 and batch.ops[0].kind in ("put", "delete"):
        _apply_op(p, repo, branch, batch.ops[0])
        return
    opened = p.start_commit(repo, branch)
    try:
        for op in batch.ops:
            _apply_op(p, repo, opened.id, op)
        p.finish_commit(repo, opened.id)
    except BaseException:
        _abandon(p, repo, opened.id)
        raise


# --------------------------------------------------------------------------- the servicer


@fill_unimplemented(pfs_pb2_grpc.APIServicer, "pfs_v2.API")
class PFSServicer(pfs_pb2_grpc.APIServicer):
    """pfs_v2.API for python-pachyderm 7.x."""

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

    # ---------------------------------------------------------------- projects (only "default")
    @rpc
    def ListProject(
        self, request: pfs_pb2.ListProjectRequest, context: grpc.ServicerContext
    ) -> Iterator[pfs_pb2.ProjectInfo]:
        yield pfs_pb2.ProjectInfo(project=pfs_pb2.Project(name=protos.DEFAULT_PROJECT))

    @rpc
    def InspectProject(
        self, request: pfs_pb2.InspectProjectRequest, context: grpc.ServicerContext
    ) -> pfs_pb2.ProjectInfo:
        if request.project.name not in ("", protos.DEFAULT_PROJECT):
            raise NotFoundError(f"project {request.project.name} not found")
        return pfs_pb2.ProjectInfo(project=pfs_pb2.Project(name=protos.DEFAULT_PROJECT))

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
        for info in _page(commits, request.number, request.reverse):
            yield protos.commit_info(info)

    @rpc
    def SubscribeCommit(
        self, request: pfs_pb2.SubscribeCommitRequest, context: grpc.ServicerContext
    ) -> Iterator[pfs_pb2.CommitInfo]:
        repo = repo_name(request.repo)
        self.p.inspect_repo(repo)
        seen: set[str] = set()
        if request.HasField("from") and getattr(request, "from").id:
            start = self.p.inspect_commit(repo, getattr(request, "from").id)
            cursor: str | None = start.parent
            seen.add(start.id)
            while cursor is not None:
                seen.add(cursor)
                cursor = self.p.inspect_commit(repo, cursor).parent
        while True:
            found = self.state.wait_until(
                lambda: self._unseen_commits(repo, request, seen) or None,
                context,
                what=f"new commits in {repo}",
            )
            for info in found:
                seen.add(info.id)
                yield protos.commit_info(info)

    def _unseen_commits(
        self, repo: str, request: pfs_pb2.SubscribeCommitRequest, seen: set[str]
    ) -> list[r.CommitInfo]:
        out = []
        for info in reversed(self.p.list_commits(repo, request.branch or None)):
            if info.id in seen or not passes_origin(info, request.all, request.origin_kind):
                continue
            if not commit_state_reached(info, request.state):
                break  # keep the stream in commit order
            out.append(info)
        return out

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
        for info in _page(branches, 0, request.reverse):
            yield protos.branch_info(info)

    @rpc
    def DeleteBranch(
        self, request: pfs_pb2.DeleteBranchRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        with self.state.writing() as p:
            p.delete_branch(repo_name(request.branch.repo), request.branch.name)
        return empty_pb2.Empty()

    # ---------------------------------------------------------------- files
    @rpc
    def ModifyFile(
        self, request_iterator: Iterator[pfs_pb2.ModifyFileRequest], context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        batches: list[_Batch] = []
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
            _close_batches(batches)
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
        yield from _page(self._files(records, repo, ref), request.number, request.reverse)

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
        yield from _page(self._files(ordered, repo, ref), request.number, request.reverse)

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
