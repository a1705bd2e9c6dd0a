"""pachlet records -> python-pachyderm 7.6 proto messages, their JSON forms (one line, or pachctl's
``--raw``), and the one pachd version pachlet answers as (``PACHD_VERSION``).

The CLI's ``--raw`` / ``-o json`` output and the gRPC server both go through these converters, so a
script written against ``pachctl ... --raw`` or python-pachyderm sees the messages Pachyderm sends. This module
knows nothing about click or the command line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.pps import pps_pb2

from pachlet import projects
from pachlet import records as r

PACHD_VERSION = (2, 7, 6)
"""The pachd release pachlet answers as, everywhere (GetVersion, ``pachlet version``, ``-o json``): the
last 2.7 whose ``egress.sqlDatabase`` ships the Snowflake driver."""

DEFAULT_PROJECT = projects.DEFAULT_PROJECT
USER_REPO_TYPE = "user"

# CreatePipelineRequest fields that PipelineInfo.Details / JobInfo.Details carry under the same name.
_PIPELINE_DETAIL_FIELDS = (
    "transform", "tf_job", "parallelism_spec", "egress", "output_branch", "s3_out", "resource_requests",
    "resource_limits", "sidecar_resource_limits", "input", "description", "service", "spout",
    "datum_set_spec", "datum_timeout", "job_timeout", "datum_tries", "scheduling_spec", "pod_spec",
    "pod_patch", "metadata", "reprocess_spec", "autoscaling", "tolerations", "sidecar_resource_requests",
    "determined",
)  # fmt: skip
_JOB_DETAIL_FIELDS = (
    "transform", "parallelism_spec", "egress", "service", "spout", "resource_requests", "resource_limits",
    "sidecar_resource_limits", "input", "datum_set_spec", "datum_timeout", "job_timeout", "datum_tries",
    "scheduling_spec", "pod_spec", "pod_patch", "sidecar_resource_requests",
)  # fmt: skip


# --- small builders ---------------------------------------------------------------------------------

# Note (issue 12, one time converter): timestamp() and to_datetime() are one of the three time converters
# (with store.to_dt and engine._parse_time). They stay here until the core helper's time module lands;
# then they move there and this module imports them.


def timestamp(ts: datetime | None) -> Timestamp | None:
    """A protobuf Timestamp for an (aware or naive-UTC) datetime; None stays None."""
    if ts is None:
        return None
    out = Timestamp()
    out.FromDatetime(ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts)
    return out


def to_datetime(ts: Timestamp | None) -> datetime | None:
    """An aware UTC datetime for a Timestamp; None (or the zero timestamp) gives None."""
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return ts.ToDatetime().replace(tzinfo=UTC)


def _set_ts(msg: Message, name: str, ts: datetime | None) -> None:
    value = timestamp(ts)
    if value is not None:
        getattr(msg, name).CopyFrom(value)


def repo(name: str) -> pfs_pb2.Repo:
    """``pfs.Repo`` of an internal repo name (``project/repo`` outside the default project,
    ``pachlet.projects``), user type (as pachd 2.5+ reports every repo)."""
    project, bare = projects.split(name)
    return pfs_pb2.Repo(name=bare, type=USER_REPO_TYPE, project=pfs_pb2.Project(name=project))


def branch(repo_name: str, name: str) -> pfs_pb2.Branch:
    """``pfs.Branch``."""
    return pfs_pb2.Branch(repo=repo(repo_name), name=name)


def commit(repo_name: str, commit_id: str, branch_name: str = "") -> pfs_pb2.Commit:
    """``pfs.Commit``; the branch is set when known (pachd fills it in for every commit it returns)."""
    msg = pfs_pb2.Commit(repo=repo(repo_name), id=commit_id)
    if branch_name:
        msg.branch.CopyFrom(branch(repo_name, branch_name))
    return msg


def pipeline(name: str) -> pps_pb2.Pipeline:
    """``pps.Pipeline`` of an internal pipeline name (``project/pipeline`` outside the default one)."""
    project, bare = projects.split(name)
    return pps_pb2.Pipeline(name=bare, project=pfs_pb2.Project(name=project))


def job(pipeline_name: str, job_id: str) -> pps_pb2.Job:
    """``pps.Job``."""
    return pps_pb2.Job(pipeline=pipeline(pipeline_name), id=job_id)


# --- PFS ------------------------------------------------------------------------------------------


def project_info(rec: r.ProjectInfo) -> pfs_pb2.ProjectInfo:
    """``pfs.ProjectInfo``: project, description and creation time."""
    msg = pfs_pb2.ProjectInfo(project=pfs_pb2.Project(name=rec.name), description=rec.description)
    _set_ts(msg, "created_at", rec.created)
    return msg


def repo_info(rec: r.RepoInfo) -> pfs_pb2.RepoInfo:
    """``pfs.RepoInfo`` with size (upper bound and details), description and branches."""
    msg = pfs_pb2.RepoInfo(
        repo=repo(rec.name),
        description=rec.description,
        size_bytes_upper_bound=rec.size,
        branches=[branch(rec.name, b) for b in rec.branches],
    )
    _set_ts(msg, "created", rec.created)
    msg.details.size_bytes = rec.size
    return msg


def branch_info(rec: r.BranchInfo) -> pfs_pb2.BranchInfo:
    """``pfs.BranchInfo`` with head, direct and full provenance, and subvenance."""
    msg = pfs_pb2.BranchInfo(branch=branch(rec.repo, rec.name))
    if rec.head:
        msg.head.CopyFrom(commit(rec.repo, rec.head, rec.name))
    msg.direct_provenance.extend(branch(repo_name, branch_name) for repo_name, branch_name in rec.provenance)
    full = rec.full_provenance or rec.provenance
    msg.provenance.extend(branch(repo_name, branch_name) for repo_name, branch_name in full)
    msg.subvenance.extend(branch(repo_name, branch_name) for repo_name, branch_name in rec.subvenance)
    return msg


_ORIGINS = {r.ORIGIN_USER: pfs_pb2.USER, r.ORIGIN_AUTO: pfs_pb2.AUTO, "FSCK": pfs_pb2.FSCK}


def commit_info(rec: r.CommitInfo) -> pfs_pb2.CommitInfo:
    """``pfs.CommitInfo``: commit (with branch), origin, parent, children, started/finishing/finished,
    direct provenance (the input commits), size (upper bound and details) and error."""
    msg = pfs_pb2.CommitInfo(
        commit=commit(rec.repo, rec.id, rec.branch),
        description=rec.description,
        error=rec.error,
        size_bytes_upper_bound=rec.size,
    )
    # ALIAS commits (2.0-2.4) have no 2.5+ enum value; they are user-visible like USER commits.
    msg.origin.kind = _ORIGINS.get(rec.origin, pfs_pb2.USER)
    if rec.parent:
        msg.parent_commit.CopyFrom(commit(rec.repo, rec.parent, rec.branch))
    msg.child_commits.extend(commit(rec.repo, c, rec.branch) for c in rec.children)
    _set_ts(msg, "started", rec.started)
    if rec.finished is not None:
        _set_ts(msg, "finishing", rec.finished)
        _set_ts(msg, "finished", rec.finished)
        msg.details.size_bytes = rec.size
    msg.direct_provenance.extend(commit(p_repo, p_id, p_branch) for p_repo, p_branch, p_id in rec.provenance)
    return msg


def file_info(
    rec: r.FileRecord, repo_name: str = "", commit_id: str = "", branch_name: str = ""
) -> pfs_pb2.FileInfo:
    """``pfs.FileInfo``; directories get type DIR and (as in pachd) a path ending in ``/``."""
    is_dir = rec.file_type == "dir"
    path = rec.path
    if is_dir and not path.endswith("/"):
        path += "/"
    msg = pfs_pb2.FileInfo(
        file=pfs_pb2.File(
            commit=commit(rec.repo or repo_name, rec.commit or commit_id, branch_name), path=path
        ),
        file_type=pfs_pb2.DIR if is_dir else pfs_pb2.FILE,
        size_bytes=rec.size,
    )
    if rec.hash:
        msg.hash = bytes.fromhex(rec.hash) if _is_hex(rec.hash) else rec.hash.encode()
    _set_ts(msg, "committed", rec.committed)
    return msg


def commit_set_info(commits: Iterable[r.CommitInfo], global_id: str) -> pfs_pb2.CommitSetInfo:
    """``pfs.CommitSetInfo``: every commit of one global ID."""
    return pfs_pb2.CommitSetInfo(
        commit_set=pfs_pb2.CommitSet(id=global_id), commits=[commit_info(c) for c in commits]
    )


def _is_hex(text: str) -> bool:
    if len(text) % 2:
        return False
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


# --- PPS ------------------------------------------------------------------------------------------


def create_pipeline_request(spec: Mapping[str, Any]) -> pps_pb2.CreatePipelineRequest:
    """The spec (camelCase or snake_case dict) as python-pachyderm parses it; pachlet-only keys ignored."""
    return json_format.ParseDict(dict(spec), pps_pb2.CreatePipelineRequest(), ignore_unknown_fields=True)


def _copy_fields(src: Message, dst: Message, names: Iterable[str]) -> None:
    src_fields = src.DESCRIPTOR.fields_by_name
    dst_fields = dst.DESCRIPTOR.fields_by_name
    for name in names:
        if name not in src_fields or name not in dst_fields:
            continue
        fd = src_fields[name]
        value = getattr(src, name)
        if fd.label == fd.LABEL_REPEATED:
            getattr(dst, name).extend(value)
        elif fd.message_type is not None:
            if src.HasField(name):
                getattr(dst, name).CopyFrom(value)
        else:
            setattr(dst, name, value)


_PIPELINE_STATES = {
    r.PIPELINE_RUNNING: pps_pb2.PIPELINE_RUNNING,
    r.PIPELINE_STANDBY: pps_pb2.PIPELINE_STANDBY,
    r.PIPELINE_FAILURE: pps_pb2.PIPELINE_FAILURE,
    r.PIPELINE_PAUSED: pps_pb2.PIPELINE_PAUSED,
}


def job_state(name: str | None) -> int:
    """The ``pps.JobState`` value for a state name (JOB_STATE_UNKNOWN when unset or unknown)."""
    if not name:
        return pps_pb2.JOB_STATE_UNKNOWN
    try:
        return pps_pb2.JobState.Value(name)
    except ValueError:
        return pps_pb2.JOB_STATE_UNKNOWN


def pipeline_state(name: str | None) -> int:
    """The ``pps.PipelineState`` value for a state name."""
    if not name:
        return pps_pb2.PIPELINE_STATE_UNKNOWN
    if name in _PIPELINE_STATES:
        return _PIPELINE_STATES[name]
    try:
        return pps_pb2.PipelineState.Value(name)
    except ValueError:
        return pps_pb2.PIPELINE_STATE_UNKNOWN


def pipeline_info(rec: r.PipelineInfo) -> pps_pb2.PipelineInfo:
    """``pps.PipelineInfo`` with version, state, last job state, parallelism and Details from the spec
    (transform, input, egress, datum tries, salt, created_at, ...)."""
    msg = pps_pb2.PipelineInfo(
        pipeline=pipeline(rec.name),
        version=rec.version,
        state=pipeline_state(rec.state),
        last_job_state=job_state(rec.last_job_state),
        type=pps_pb2.PipelineInfo.PIPELINE_TYPE_TRANSFORM,
        stopped=rec.state == r.PIPELINE_PAUSED,
    )
    req = create_pipeline_request(projects.external_spec(rec.spec))
    _copy_fields(req, msg.details, _PIPELINE_DETAIL_FIELDS)
    if not msg.details.output_branch:
        msg.details.output_branch = "master"
    msg.details.salt = rec.salt
    if rec.description:
        msg.details.description = rec.description
    if req.HasField("spout"):
        msg.type = pps_pb2.PipelineInfo.PIPELINE_TYPE_SPOUT
    elif req.HasField("service"):
        msg.type = pps_pb2.PipelineInfo.PIPELINE_TYPE_SERVICE
    msg.parallelism = max(1, int(req.parallelism_spec.constant or 1))
    msg.details.workers_requested = msg.parallelism
    msg.details.workers_available = msg.parallelism
    _set_ts(msg.details, "created_at", rec.created)
    return msg


RUNTIME_WORKER_PREFIX = "pachlet-"
"""``JobInfo.details.worker_status[].worker_id`` of a job's worker: ``pachlet-<runtime>`` (host, sandbox or
container): where a cluster names the worker pod, pachlet names the runtime its datums ran in."""


def job_runtime(msg: pps_pb2.JobInfo) -> str:
    """The runtime a ``JobInfo`` names in its worker status ("" when none)."""
    for w in msg.details.worker_status:
        if w.worker_id.startswith(RUNTIME_WORKER_PREFIX):
            return w.worker_id.removeprefix(RUNTIME_WORKER_PREFIX)
    return ""


def job_info(rec: r.JobInfo, spec: Mapping[str, Any] | None = None, salt: str = "") -> pps_pb2.JobInfo:
    """``pps.JobInfo``: job, output commit, datum counts (processed/skipped/failed/recovered/total),
    state, reason, times and stats; Details from the pipeline spec when given (with the runtime as the
    worker's ID, ``RUNTIME_WORKER_PREFIX``)."""
    msg = pps_pb2.JobInfo(
        job=job(rec.pipeline, rec.id),
        pipeline_version=rec.pipeline_version,
        restart=rec.restart,
        data_processed=rec.data_processed,
        data_skipped=rec.data_skipped,
        data_failed=rec.data_failed,
        data_recovered=rec.data_recovered,
        data_total=rec.data_total,
        state=job_state(rec.state),
        reason=rec.reason,
    )
    msg.output_commit.CopyFrom(commit(rec.pipeline, rec.output_commit or rec.id, "master"))
    _set_ts(msg, "created", rec.created)
    _set_ts(msg, "started", rec.started)
    _set_ts(msg, "finished", rec.finished)
    msg.stats.download_bytes = rec.download_bytes
    msg.stats.upload_bytes = rec.upload_bytes
    if spec is not None:
        req = create_pipeline_request(projects.external_spec(spec))
        _copy_fields(req, msg.details, _JOB_DETAIL_FIELDS)
        msg.details.salt = salt
        if rec.runtime:
            msg.details.worker_status.add(worker_id=RUNTIME_WORKER_PREFIX + rec.runtime, job_id=rec.id)
        if req.output_branch:
            msg.output_commit.branch.name = req.output_branch
    return msg


_DATUM_STATES = {
    r.DATUM_SUCCESS: pps_pb2.SUCCESS,
    r.DATUM_FAILED: pps_pb2.FAILED,
    r.DATUM_SKIPPED: pps_pb2.SKIPPED,
    r.DATUM_RECOVERED: pps_pb2.RECOVERED,
    r.DATUM_STARTING: pps_pb2.STARTING,
}


def datum_state(name: str | None) -> int:
    """The ``pps.DatumState`` value for a state name (UNKNOWN when unset)."""
    return _DATUM_STATES.get(name or "", pps_pb2.UNKNOWN)


def datum_input_file(rec: r.DatumInputRecord) -> pfs_pb2.FileInfo:
    """One entry of ``DatumInfo.data``: the file's repo, commit (with branch), path, size and hash."""
    msg = pfs_pb2.FileInfo(
        file=pfs_pb2.File(commit=commit(rec.repo, rec.commit, rec.branch), path=rec.path),
        file_type=pfs_pb2.DIR if rec.path.endswith("/") else pfs_pb2.FILE,
        size_bytes=rec.size,
    )
    if rec.hash:
        msg.hash = bytes.fromhex(rec.hash) if _is_hex(rec.hash) else rec.hash.encode()
    return msg


def datum_info(rec: r.DatumRecord) -> pps_pb2.DatumInfo:
    """``pps.DatumInfo``: datum (job + ID), state, the input files and process time."""
    msg = pps_pb2.DatumInfo(
        datum=pps_pb2.Datum(job=job(rec.pipeline, rec.job_id), id=rec.datum_id),
        state=datum_state(rec.state),
        data=[datum_input_file(i) for i in rec.inputs],
    )
    if rec.duration:
        secs = int(rec.duration)
        msg.stats.process_time.seconds = secs
        msg.stats.process_time.nanos = int(round((rec.duration - secs) * 1e9))
    return msg


def planned_datum_info(datum: Any, pipeline_name: str = "") -> pps_pb2.DatumInfo:
    """DatumInfo for a ``pachlet.datums.Datum`` computed without running (``list datum -f``): ID, state
    UNKNOWN, and, as pachd's ListDatum gives it, one FileInfo per input: the glob match (a file, or a
    directory as ``/dir/``) with its repo, commit (and branch), size and content hash."""
    data = []
    for inp in datum.inputs:
        content = inp.content_hash()
        digest = content.decode() if isinstance(content, bytes) else str(content)
        data.append(
            datum_input_file(
                r.DatumInputRecord(
                    repo=inp.repo,
                    commit=inp.commit_id,
                    path=inp.path,
                    hash=digest,
                    size=sum(f.size for f in inp.files),
                    branch=inp.branch,
                    name=inp.name,
                )  # fmt: skip
            )
        )
    info = pps_pb2.DatumInfo(datum=pps_pb2.Datum(id=datum.id), data=data)
    if pipeline_name:
        info.datum.job.CopyFrom(job(pipeline_name, ""))
    return info


def log_message(rec: r.LogLine) -> pps_pb2.LogMessage:
    """``pps.LogMessage`` for one log line."""
    msg = pps_pb2.LogMessage(
        project_name=projects.project_of(rec.pipeline),
        pipeline_name=projects.bare(rec.pipeline),
        job_id=rec.job_id,
        datum_id=rec.datum_id,
        user=rec.user,
        message=rec.message,
    )
    _set_ts(msg, "ts", rec.ts)
    return msg


def secret_info(rec: r.SecretInfo) -> pps_pb2.SecretInfo:
    """``pps.SecretInfo``: name, type and creation time (never the values)."""
    msg = pps_pb2.SecretInfo(secret=pps_pb2.Secret(name=rec.name), type=rec.type)
    _set_ts(msg, "creation_timestamp", rec.created)
    return msg


def job_set_info(jobs: Iterable[r.JobInfo], global_id: str) -> pps_pb2.JobSetInfo:
    """``pps.JobSetInfo``: every job of one global ID."""
    return pps_pb2.JobSetInfo(job_set=pps_pb2.JobSet(id=global_id), jobs=[job_info(j) for j in jobs])


# --- JSON -----------------------------------------------------------------------------------------


def to_dict(msg: Message) -> dict[str, Any]:
    """The message as protobuf's JSON mapping gives it (camelCase names, enums by name, int64 as strings,
    default values omitted)."""
    return json_format.MessageToDict(msg, preserving_proto_field_name=False)


def to_json_line(msg: Message, *, proto_names: bool = False) -> str:
    """The message in protobuf's JSON mapping (camelCase, or with ``proto_names`` the .proto field names
    pachctl prints) as one compact line, without a newline."""
    doc = json_format.MessageToDict(msg, preserving_proto_field_name=proto_names)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def to_pachctl_json(msg: Message) -> str:
    """The message as ``pachctl ... --raw`` prints it (src/internal/serde/json_encoder.go: protojson
    with ``UseProtoNames`` and a 2-space indent, no newline after the closing brace)."""
    doc = json_format.MessageToDict(msg, preserving_proto_field_name=True)
    return json.dumps(doc, indent=2, ensure_ascii=False)


def to_pachctl_yaml(msg: Message) -> str:
    """The message as ``pachctl ... --raw -o yaml`` prints it (serde's YAML encoder: the proto-named JSON
    re-encoded as YAML, keys sorted, 4-space indent), ending in a newline."""
    import yaml

    doc = json_format.MessageToDict(msg, preserving_proto_field_name=True)
    return yaml.safe_dump(doc, indent=4, sort_keys=True, allow_unicode=True, default_flow_style=False)


def version_message() -> Any:
    """The ``versionpb.Version`` pachlet answers GetVersion with: pachd 2.7.6, ``additional`` naming
    pachlet (as pachd puts build details there)."""
    from python_pachyderm.proto.v2.version.versionpb import version_pb2

    from pachlet import __version__

    major, minor, micro = PACHD_VERSION
    return version_pb2.Version(
        major=major, minor=minor, micro=micro, additional=f"pachlet-{__version__}", platform="pachlet"
    )


def pretty_version(v: Any) -> str:
    """pachctl's ``version.PrettyPrintVersion``: ``major.minor.micro`` followed by ``additional``."""
    return f"{v.major}.{v.minor}.{v.micro}{v.additional}"
