"""Plain records the facade (``pachlet.api.Pachlet``) returns.

They mirror Pachyderm's own messages (RepoInfo, BranchInfo, CommitInfo, FileInfo, PipelineInfo, JobInfo,
DatumInfo) closely enough for ``pachlet.protos`` to turn them into python-pachyderm proto messages.
Times are timezone-aware UTC datetimes (or None when unset). IDs are 32 lower-case hex characters.
In Pachyderm 2.x a commit is named by (repo, global ID): the commit ID *is* the global ID of the change
that produced it, and a job's ID is the global ID of its output commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Commit origins (pfs.OriginKind). ALIAS is kept for completeness (Pachyderm 2.0-2.4); pachlet creates
# USER commits (put file, start commit, cron ticks) and AUTO commits (pipeline output commits).
ORIGIN_USER = "USER"
ORIGIN_AUTO = "AUTO"
ORIGIN_ALIAS = "ALIAS"

# Job states (pps.JobState names).
JOB_CREATED = "JOB_CREATED"
JOB_STARTING = "JOB_STARTING"
JOB_RUNNING = "JOB_RUNNING"
JOB_EGRESSING = "JOB_EGRESSING"
JOB_FINISHING = "JOB_FINISHING"
JOB_SUCCESS = "JOB_SUCCESS"
JOB_FAILURE = "JOB_FAILURE"
JOB_KILLED = "JOB_KILLED"
JOB_UNRUNNABLE = "JOB_UNRUNNABLE"
JOB_TERMINAL_STATES = frozenset({JOB_SUCCESS, JOB_FAILURE, JOB_KILLED, JOB_UNRUNNABLE})

# Datum states (pps.DatumState names).
DATUM_SUCCESS = "SUCCESS"
DATUM_FAILED = "FAILED"
DATUM_SKIPPED = "SKIPPED"
DATUM_RECOVERED = "RECOVERED"
DATUM_STARTING = "STARTING"

# Pipeline states (pps.PipelineState names).
PIPELINE_RUNNING = "PIPELINE_RUNNING"
PIPELINE_STANDBY = "PIPELINE_STANDBY"
PIPELINE_FAILURE = "PIPELINE_FAILURE"
PIPELINE_PAUSED = "PIPELINE_PAUSED"

# Repo types (Pachyderm 2.x repo types: user repos, pipeline output repos; cron repos are user repos
# created by the pipeline, as in Pachyderm).
REPO_USER = "user"


@dataclass(frozen=True)
class ProjectInfo:
    """A project (pachd 2.5+): its name, description and creation time."""

    name: str
    description: str
    created: datetime


@dataclass(frozen=True)
class RepoInfo:
    """A repo: its name, creation time, size of its master head, description and branch names."""

    name: str
    created: datetime
    description: str = ""
    size: int = 0
    branches: tuple[str, ...] = ()
    pipeline: str | None = None  # the pipeline whose output (or cron) repo this is, else None


@dataclass(frozen=True)
class BranchInfo:
    """A branch: its head commit (None before the first commit) and direct provenance (repo, branch)."""

    repo: str
    name: str
    head: str | None
    provenance: tuple[tuple[str, str], ...] = ()
    created: datetime | None = None
    full_provenance: tuple[tuple[str, str], ...] = ()
    """Every branch upstream, transitively (pachd's ``BranchInfo.provenance``); empty: as ``provenance``."""
    subvenance: tuple[tuple[str, str], ...] = ()
    """Every branch downstream, transitively (pachd's ``BranchInfo.subvenance``)."""


@dataclass(frozen=True)
class CommitInfo:
    """A commit. ``id`` is the global ID of its commit set. ``finished`` is None while the commit is open.

    ``provenance`` lists the (repo, branch, commit id) the commit was computed from (for output commits:
    the input commits of the job). ``error`` is non-empty for an output commit whose job did not succeed.
    """

    id: str
    repo: str
    branch: str
    origin: str
    parent: str | None
    started: datetime
    finished: datetime | None = None
    provenance: tuple[tuple[str, str, str], ...] = ()
    size: int = 0
    description: str = ""
    error: str = ""
    children: tuple[str, ...] = ()

    @property
    def global_id(self) -> str:
        """The commit set (global ID) this commit belongs to; the same as ``id``."""
        return self.id


@dataclass(frozen=True)
class FileRecord:
    """A file (or directory, ``file_type == "dir"``) in a commit. Paths start with ``/``; directories
    have no hash and their size is the sum of the sizes below them."""

    path: str
    hash: str
    size: int
    committed: datetime | None = None
    file_type: str = "file"
    repo: str = ""
    commit: str = ""


@dataclass(frozen=True)
class PipelineInfo:
    """A pipeline: its normalized spec (camelCase dict as ``pachlet.spec.normalize_spec`` returns),
    version (1 on create, +1 per update), salt (kept by updates unless reprocess), state, and times."""

    name: str
    spec: dict[str, Any]
    version: int
    salt: str
    state: str
    created: datetime
    updated: datetime | None = None
    last_job_state: str | None = None
    last_job_id: str | None = None
    output_repo: str = ""
    description: str = ""


@dataclass(frozen=True)
class JobInfo:
    """A job of a pipeline; ``id`` is the global ID; the output commit is (``pipeline``, ``id``)."""

    pipeline: str
    id: str
    state: str
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    data_processed: int = 0
    data_skipped: int = 0
    data_failed: int = 0
    data_recovered: int = 0
    data_total: int = 0
    reason: str = ""
    output_commit: str = ""
    pipeline_version: int = 1
    restart: int = 0
    upload_bytes: int = 0
    download_bytes: int = 0
    runtime: str = ""
    """Where its datums ran: ``host``, ``sandbox`` or ``container`` ("" before it ran)."""

    @property
    def global_id(self) -> str:
        """The commit set (global ID) of this job; the same as ``id``."""
        return self.id


@dataclass(frozen=True)
class DatumInputRecord:
    """One input of a datum, as in Pachyderm's DatumInfo.data: repo, commit, the matched path (a file
    ``/a.csv``, a directory ``/dir/``, the root ``/``), its content hash and total size, branch and
    input name."""

    repo: str
    commit: str
    path: str
    hash: str = ""
    size: int = 0
    branch: str = "master"
    name: str = ""


@dataclass(frozen=True)
class DatumRecord:
    """A datum of a job: Pachyderm datum ID, state (SUCCESS, FAILED, SKIPPED, RECOVERED), datum hash,
    the files it read, how long it ran (seconds) and where its log is kept."""

    pipeline: str
    job_id: str
    datum_id: str
    state: str
    hash: str = ""
    inputs: tuple[DatumInputRecord, ...] = ()
    duration: float = 0.0
    logs_path: str = ""
    attempts: int = 0
    reason: str = ""


@dataclass(frozen=True)
class LogLine:
    """One line of a datum's output (stdout and stderr, interleaved as captured)."""

    pipeline: str
    job_id: str
    datum_id: str
    message: str
    ts: datetime | None = None
    user: bool = True


@dataclass(frozen=True)
class SecretInfo:
    """A secret's metadata; values are never part of this record (see ``Pachlet.secret_value``)."""

    name: str
    type: str
    keys: tuple[str, ...]
    created: datetime


@dataclass(frozen=True)
class CronTick:
    """A cron tick the scheduler owes: pipeline, cron input name and the tick's time (UTC)."""

    pipeline: str
    input_name: str
    at: datetime


@dataclass
class FsckReport:
    """What ``Pachlet.fsck`` found. ``problems``: damage left (after a fix, what could not be repaired);
    ``fixed``: what ``fix=True`` repaired. Clean when ``problems`` is empty."""

    problems: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # information, not damage (e.g. queued jobs)

    @property
    def clean(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems
