"""ModifyFile (python-pachyderm's ``put_file_bytes``, ``modify_file_client``, ``delete_file``): buffering
the stream and applying it.

The stream is buffered (contents spooled to temporary files) and applied only when the client closes
it normally: a client that disconnects or fails mid-stream changes nothing. The PFS servicer applies
the whole stream under the server's write lock, into the open commit it names, or into one new commit
on the branch that is finished at the end (and dropped if applying fails).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

import grpc
from python_pachyderm.proto.v2.pfs import pfs_pb2

from pachlet import records as r
from pachlet.api import Pachlet
from pachlet.errors import NotFoundError, PachletError
from pachlet.pfs.urls import open_url
from pachlet.server.errors import RpcAbort
from pachlet.server.refs import commit_ref

SPOOL_IN_MEMORY = 8 << 20


@dataclass
class FileOp:
    """One buffered change to a file: ``put`` (spooled ``data``), ``delete`` or ``copy`` (from ``src``)."""

    kind: str  # "put", "delete", "copy"
    path: str
    append: bool = False
    data: BinaryIO | None = None
    src: tuple[str, str, str] | None = None  # (repo, ref, path) for copies


@dataclass
class ModifyBatch:
    """The changes of one ``set_commit`` section of the stream."""

    commit: pfs_pb2.Commit
    ops: list[FileOp] = field(default_factory=list)


def _spool() -> BinaryIO:
    """A temporary file for one file's contents (in memory up to 8 MiB); closed by ``close_batches``."""
    return tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by close_batches


def buffer_modify_stream(requests: Iterable[pfs_pb2.ModifyFileRequest]) -> list[ModifyBatch]:
    """Read a whole ModifyFile stream into batches (one per ``set_commit``), spooling file contents.
    A delete of a path followed by adds to it becomes one overwrite; adds without a delete append,
    as in pachd. Raises whatever the stream raises when the client goes away."""
    batches: list[ModifyBatch] = []
    for req in requests:
        body = req.WhichOneof("body")
        if body == "set_commit":
            batches.append(ModifyBatch(commit=req.set_commit))
            continue
        if not batches:
            raise RpcAbort(
                grpc.StatusCode.INVALID_ARGUMENT, "ModifyFile: the first message must set the commit"
            )
        ops = batches[-1].ops
        if body == "add_file":
            add = req.add_file
            last = ops[-1] if ops else None
            if add.WhichOneof("source") == "url":
                # fetched now, before the server's write lock is taken (pachd's putFileURL appends)
                overwrite = last is not None and last.kind == "delete" and last.path == add.path
                for dst, stream in open_url(add.url.URL, add.path, recursive=add.url.recursive):
                    spool = _spool()
                    shutil.copyfileobj(stream, spool)
                    ops.append(FileOp("put", dst, append=not overwrite, data=spool))
                continue
            if last is not None and last.kind == "put" and last.path == add.path:
                op = last
            elif last is not None and last.kind == "delete" and last.path == add.path:
                op = FileOp("put", add.path, append=False, data=_spool())
                ops[-1] = op
            else:
                op = FileOp("put", add.path, append=True, data=_spool())
                ops.append(op)
            if add.raw.value:
                assert op.data is not None
                op.data.write(add.raw.value)
        elif body == "delete_file":
            ops.append(FileOp("delete", req.delete_file.path))
        elif body == "copy_file":
            cp = req.copy_file
            src_repo, src_ref = commit_ref(cp.src.commit)
            ops.append(FileOp("copy", cp.dst, append=cp.append, src=(src_repo, src_ref, cp.src.path)))
    return batches


def close_batches(batches: list[ModifyBatch]) -> None:
    """Close the spooled contents of every batch (whether or not it was applied)."""
    for b in batches:
        for op in b.ops:
            if op.data is not None:
                op.data.close()


def _apply_op(p: Pachlet, repo: str, ref: str, op: FileOp) -> None:
    if op.kind == "delete":
        p.delete_file(repo, ref, op.path)
    elif op.kind == "put":
        assert op.data is not None
        op.data.seek(0)
        p.put_file(repo, ref, op.path, op.data, append=op.append)
    elif op.kind == "copy":
        assert op.src is not None
        p.copy_file(op.src, (repo, ref, op.path), append=op.append)


def _abandon(p: Pachlet, repo: str, commit_id: str) -> None:
    """Drop an open commit this server started."""
    p.abandon_commit(repo, commit_id)


def apply_batch(p: Pachlet, batch: ModifyBatch) -> None:
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
        if info.origin == r.ORIGIN_AUTO and p.inspect_repo(repo).pipeline is not None:
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
