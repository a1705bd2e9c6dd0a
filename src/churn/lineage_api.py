"""Lineage through the Pachyderm API: the reads ``churn.lineage.explain`` makes, done with
python-pachyderm calls only (inspect repo / commit / job / pipeline, list job / datum / file, get
file), so ``churn explain --pachd`` and the console's score lookup trace a score on any pachd (a
cluster, or ``pachlet serve``) as they do on a local root. The answers have the attributes of
pachlet's records that ``explain`` reads, so both paths give the same lineage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
import python_pachyderm
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.pps import pps_pb2

from churn.errors import LineageError
from pachlet.errors import NotFoundError

T = TypeVar("T")
_NOT_FOUND = re.compile(r"not (be )?found|does not exist", re.IGNORECASE)


@dataclass(frozen=True)
class Repo:
    """A repo: its name and the pipeline it belongs to (output or cron repo), if any."""

    name: str
    pipeline: str | None


@dataclass(frozen=True)
class Commit:
    """A commit as ``pachlet.records.CommitInfo`` names its fields (direct provenance only)."""

    id: str
    repo: str
    branch: str
    origin: str
    provenance: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class Job:
    """A job as ``pachlet.records.JobInfo`` names the fields lineage reads."""

    pipeline: str
    id: str
    state: str
    started: datetime | None
    finished: datetime | None
    data_processed: int
    data_skipped: int
    data_failed: int
    data_total: int
    reason: str


@dataclass(frozen=True)
class File:
    """A file or directory (paths as pachlet's records give them: no trailing ``/``)."""

    path: str
    file_type: str


@dataclass(frozen=True)
class DatumInput:
    """One input of a datum: its matched path."""

    path: str


@dataclass(frozen=True)
class Datum:
    """A datum of a job."""

    datum_id: str
    state: str
    duration: float
    inputs: tuple[DatumInput, ...] = field(default=())


def _ts(ts: Any) -> datetime | None:
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return ts.ToDatetime().replace(tzinfo=UTC)


def _call(what: str, fn: Callable[[], T]) -> T:
    """Run one API call; NOT_FOUND (or pachd's UNKNOWN "... not found") becomes ``NotFoundError``,
    anything else a one-line ``LineageError`` naming the call."""
    try:
        try:
            return fn()
        except ConnectionError as wrapped:  # python-pachyderm's PFSFile wraps the RPC's error
            cause = wrapped.__cause__ or wrapped.__context__
            if isinstance(cause, grpc.RpcError):
                raise cause from None
            raise LineageError(f"{what} failed: {wrapped}") from None
    except grpc.RpcError as exc:
        details = exc.details() if hasattr(exc, "details") else str(exc)
        code = exc.code() if hasattr(exc, "code") else None
        if code == grpc.StatusCode.NOT_FOUND or _NOT_FOUND.search(details or ""):
            raise NotFoundError(f"{what}: {details}") from None
        raise LineageError(f"{what} failed: {getattr(code, 'name', code)}: {details}") from None


def _cron_repos(node: pps_pb2.Input) -> Iterator[str]:
    if node.HasField("cron"):
        yield node.cron.repo
    for child in (*node.join, *node.group, *node.cross, *node.union):
        yield from _cron_repos(child)


class ApiLineageSource:
    """The reads of ``churn.lineage.explain`` over a python-pachyderm ``Client``."""

    def __init__(self, client: python_pachyderm.Client) -> None:
        self.client = client
        self._pipelines: dict[str, str] | None = None

    @classmethod
    def connect(cls, address: str | None) -> ApiLineageSource:
        """A source for ``address`` (``host:port`` or ``grpc://host:port``), else as pachctl picks one:
        the active context of ``$PACH_CONFIG`` / ``~/.pachyderm/config.json``, else localhost:30650."""
        try:
            if address:
                if "://" not in address:
                    address = f"grpc://{address}"
                return cls(python_pachyderm.Client.new_from_pachd_address(address))
            return cls(python_pachyderm.Client())
        except Exception as exc:  # a bad address, an unreadable config
            raise LineageError(f"cannot connect to pachd {address or '(from the context)'}: {exc}") from None

    def _pipeline_of(self) -> dict[str, str]:
        """repo -> pipeline for every pipeline's output repo and cron repos."""
        if self._pipelines is None:
            owners: dict[str, str] = {}
            for info in _call("list pipeline", lambda: list(self.client.list_pipeline(details=True))):
                name = info.pipeline.name
                owners[name] = name
                for repo in _cron_repos(info.details.input):
                    owners.setdefault(repo, name)
            self._pipelines = owners
        return self._pipelines

    def inspect_repo(self, name: str) -> Repo:
        """The repo and its pipeline (``NotFoundError`` if it does not exist)."""
        _call(f"inspect repo {name}", lambda: self.client.inspect_repo(name))
        return Repo(name, self._pipeline_of().get(name))

    def inspect_commit(self, repo: str, ref: str) -> Commit:
        """A commit by ID or branch, with its direct provenance (the input commits of its job)."""
        info = _call(
            f"inspect commit {repo}@{ref}", lambda: next(iter(self.client.inspect_commit((repo, ref))))
        )
        prov = tuple((c.branch.repo.name or c.repo.name, c.branch.name, c.id) for c in info.direct_provenance)
        origin = pfs_pb2.OriginKind.Name(info.origin.kind)
        return Commit(info.commit.id, repo, info.commit.branch.name, origin, prov)

    def _job(self, info: pps_pb2.JobInfo) -> Job:
        return Job(
            pipeline=info.job.pipeline.name,
            id=info.job.id,
            state=pps_pb2.JobState.Name(info.state),
            started=_ts(info.started) if info.HasField("started") else None,
            finished=_ts(info.finished) if info.HasField("finished") else None,
            data_processed=info.data_processed,
            data_skipped=info.data_skipped,
            data_failed=info.data_failed,
            data_total=info.data_total,
            reason=info.reason,
        )

    def inspect_job(self, pipeline: str, job_id: str) -> Job:
        """One job (``NotFoundError`` if absent)."""
        return self._job(
            _call(
                f"inspect job {pipeline}@{job_id}",
                lambda: next(iter(self.client.inspect_job(job_id, pipeline))),
            )
        )

    def list_jobs(self, pipeline: str) -> list[Job]:
        """The pipeline's jobs, newest first (pachd's order)."""
        return [
            self._job(j) for j in _call(f"list job {pipeline}", lambda: list(self.client.list_job(pipeline)))
        ]

    def list_datums(self, pipeline: str, job_id: str) -> list[Datum]:
        """The datums of a job with their input paths and process time."""
        infos = _call(
            f"list datum {pipeline}@{job_id}", lambda: list(self.client.list_datum(pipeline, job_id))
        )
        return [
            Datum(
                datum_id=d.datum.id,
                state=pps_pb2.DatumState.Name(d.state),
                duration=d.stats.process_time.seconds + d.stats.process_time.nanos / 1e9,
                inputs=tuple(DatumInput(f.file.path) for f in d.data),
            )
            for d in infos
        ]

    def list_files(self, repo: str, ref: str, path: str) -> list[File]:
        """The entries directly under ``path``."""
        infos = _call(
            f"list file {repo}@{ref}:{path}", lambda: list(self.client.list_file((repo, ref), path))
        )
        return [
            File(fi.file.path.rstrip("/") or "/", "dir" if fi.file_type == pfs_pb2.DIR else "file")
            for fi in infos
        ]

    def get_file(self, repo: str, ref: str, path: str) -> bytes:
        """A file's content (``NotFoundError`` if absent)."""
        return _call(f"get file {repo}@{ref}:{path}", lambda: self.client.get_file((repo, ref), path).read())
