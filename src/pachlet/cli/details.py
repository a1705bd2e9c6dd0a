"""The detailed (``inspect``) views of the CLI, as pachctl 2.7.6's templates print them
(src/server/pfs/pretty/pretty.go ``PrintDetailed*Info`` and src/server/pps/pretty/pretty.go), each
followed by the lines pachlet adds; the aligned tables and the time and size formats are in
``pachlet.tables``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pachlet.tables import (
    ago,
    bytes_size,
    full_timestamp,
    human_duration,
    job_state_name,
    message_project,
    origin_name,
    pipeline_state_name,
    proto_datetime,
    render_table,
    secret_table,
    tabwrite,
    time_difference,
    when,
)


def _has(msg: Any, name: str) -> bool:
    return msg.HasField(name)


def repo_details(i: Any, full: bool = False) -> str:
    """``inspect repo`` as pachctl's ``PrintDetailedRepoInfo``: Name, Description, Created, Size of HEAD
    on master (when the message has details); then pachlet's Branches line."""
    lines = [f"Name: {i.repo.name}"]
    if i.description:
        lines.append(f"Description: {i.description}")
    lines.append(f"Created: {when(proto_datetime(i.created), full)}")
    if _has(i, "details"):
        lines.append(f"Size of HEAD on master: {bytes_size(i.details.size_bytes)}")
    if i.branches:
        lines.append("Branches: " + ", ".join(b.name for b in i.branches))
    return "\n".join(lines) + "\n"


def branch_details(i: Any) -> str:
    """``inspect branch`` as pachctl's ``PrintDetailedBranchInfo`` template prints it (the blank after
    the head commit and after each provenance entry included)."""
    lines = [f"Name: {i.branch.repo.name}@{i.branch.name}"]
    if _has(i, "head"):
        lines.append(f"Head Commit: {i.head.branch.repo.name or i.branch.repo.name}@{i.head.id} ")
    if i.provenance:
        lines.append("Provenance: " + "".join(f"{p.repo.name}@{p.name} " for p in i.provenance))
    if _has(i, "trigger"):
        lines.append(f"Trigger: {trigger_text(i.trigger)} ")
    return "\n".join(lines) + "\n"


def trigger_text(t: Any) -> str:
    """pachctl's ``printTrigger``: ``branch on Cron(spec)`` or ``branch on Size(1MB) or Commits(3)``."""
    if t.cron_spec:
        return f"{t.branch} on Cron({t.cron_spec})"
    conds = []
    if t.rate_limit_spec:
        conds.append(f"Rate Limit({t.rate_limit_spec})")
    if t.size:
        conds.append(f"Size({t.size})")
    if t.commits:
        conds.append(f"Commits({t.commits})")
    return f"{t.branch} on " + (" and " if t.all else " or ").join(conds)


def commit_details(i: Any, full: bool = False) -> str:
    """``inspect commit`` as pachctl's ``PrintDetailedCommitInfo`` (Commit, Original Branch, Description,
    Parent, Started, Finished, Size), then pachlet's Origin, Children, Error and Provenance lines."""
    lines = [f"Commit: {i.commit.branch.repo.name or i.commit.repo.name}@{i.commit.id}"]
    lines.append(f"Original Branch: {i.commit.branch.name}")
    if i.description:
        lines.append(f"Description: {i.description}")
    if _has(i, "parent_commit"):
        lines.append(f"Parent: {i.parent_commit.id}")
    lines.append(f"Started: {when(proto_datetime(i.started), full)}")
    if _has(i, "finished"):
        lines.append(f"Finished: {when(proto_datetime(i.finished), full)}")
    if _has(i, "details"):
        lines.append(f"Size: {bytes_size(i.details.size_bytes)}")
    lines.append(f"Origin: {origin_name(i.origin.kind)}")
    if i.child_commits:
        lines.append("Children: " + ", ".join(c.id for c in i.child_commits))
    if i.error:
        lines.append(f"Error: {i.error}")
    if i.direct_provenance:
        lines.append("Provenance:")
        for p in i.direct_provenance:
            lines.append(f"  {p.repo.name}@{p.id} ({p.branch.name or '-'})")
    else:
        lines.append("Provenance: none")
    return "\n".join(lines) + "\n"


def file_details(i: Any) -> str:
    """``inspect file`` as pachctl's ``PrintDetailedFileInfo`` (Path, Datum, Type, Size), then pachlet's
    Hash line."""
    from python_pachyderm.proto.v2.pfs import pfs_pb2

    kind = "file" if i.file_type == pfs_pb2.FILE else "dir"
    text = f"Path: {i.file.path}\nDatum: {i.file.datum}\nType: {kind}\nSize: {bytes_size(i.size_bytes)}\n"
    return text + (f"Hash: {i.hash.hex()}\n" if i.hash else "")


def _go_text(msg: Any, parent: Any = None, name: str = "") -> str:
    """A small message as Go's ``%v`` prints it in pachctl's templates (``constant:2``, ``seconds:60``),
    ``<nil>`` when unset."""
    if parent is not None and not parent.HasField(name):
        return "<nil>"
    return " ".join(f"{f.name}:{v}" for f, v in msg.ListFields())


def _go_json(msg: Any) -> str:
    """``json.MarshalIndent(msg, "", "  ")`` of a generated Go struct: .proto field names, 2-space
    indent, the first line unindented (pachctl's ``pipelineInput`` / ``prettyTransform``)."""
    import json

    from google.protobuf import json_format

    doc = json_format.MessageToDict(msg, preserving_proto_field_name=True, use_integers_for_enums=True)
    return json.dumps(doc, indent=2, ensure_ascii=False)


def pipeline_details(i: Any, full: bool = False) -> str:
    """``inspect pipeline`` in the order and labels of pachctl's ``PrintDetailedPipelineInfo`` (Name,
    Description, Created, State, Reason, Workers Available, Stopped, Parallelism Spec, Datum / Job
    Timeout, Input, Output Branch, Transform, Egress, Recent Error); then pachlet's Version, Last Job
    State and Datum Tries."""
    d = i.details
    lines = [f"Name: {i.pipeline.name}"]
    if d.description:
        lines.append(f"Description: {d.description}")
    lines += [
        f"Created: {full_timestamp(proto_datetime(d.created_at))}"
        if full
        else f"Created: {ago(proto_datetime(d.created_at))} ",
        f"State: {pipeline_state_name(i.state)}",
        f"Reason: {i.reason}",
        f"Workers Available: {d.workers_available}/{d.workers_requested}",
        f"Stopped: {str(i.stopped).lower()}",
        f"Parallelism Spec: {_go_text(d.parallelism_spec, d, 'parallelism_spec')}",
        f"Datum Timeout: {_go_text(d.datum_timeout, d, 'datum_timeout')}",
        f"Job Timeout: {_go_text(d.job_timeout, d, 'job_timeout')}",
        f"Input: {_go_json(d.input) if d.HasField('input') else ''}",
        f"Output Branch: {d.output_branch}",
        f"Transform: {_go_json(d.transform)}",
    ]
    if d.HasField("egress"):
        lines.append(f"Egress: {_egress_text(d.egress)} ")
    if d.recent_error:
        lines.append(f" Recent Error: {d.recent_error} ")
    lines += [
        f"Version: {i.version}",
        f"Last Job State: {job_state_name(i.last_job_state)}",
        f"Datum Tries: {d.datum_tries}",
    ]
    return "\n".join(lines) + "\n"


def _egress_text(egress: Any) -> str:
    """pachctl's ``egress``: the URL, else the target as indented JSON (passwords are secret names)."""
    which = egress.WhichOneof("target")
    if which is None:
        return egress.URL
    return _go_json(getattr(egress, which))


def job_details(i: Any, full: bool = False) -> str:
    """``inspect job`` in the order and labels of pachctl's ``PrintDetailedJobInfo`` (ID, Pipeline,
    Project, Started, Duration, State, Reason, datum counts, data and times, timeouts, Worker Status,
    Restarts, ParallelismSpec, Input, Transform, Output Commit, Egress); then pachlet's Pipeline
    Version, Created and Runtime lines."""
    started = proto_datetime(i.started) if _has(i, "started") else None
    finished = proto_datetime(i.finished) if _has(i, "finished") else None
    d, st = i.details, i.stats
    lines = [
        f"ID: {i.job.id}",
        f"Pipeline: {i.job.pipeline.name}",
        f"Project: {message_project(i.job.pipeline)}",
    ]
    lines.append(f"Started: {full_timestamp(started)}" if full else f"Started: {ago(started)} ")
    if finished:
        lines.append(f"Duration: {time_difference(started, finished)} ")
    lines += [
        f"State: {job_state_name(i.state)}",
        f"Reason: {i.reason}",
        f"Processed: {i.data_processed}",
        f"Failed: {i.data_failed}",
        f"Skipped: {i.data_skipped}",
        f"Recovered: {i.data_recovered}",
        f"Total: {i.data_total}",
        f"Data Downloaded: {bytes_size(st.download_bytes)}",
        f"Data Uploaded: {bytes_size(st.upload_bytes)}",
        f"Download Time: {human_duration(st.download_time.ToTimedelta())}",
        f"Process Time: {human_duration(st.process_time.ToTimedelta())}",
        f"Upload Time: {human_duration(st.upload_time.ToTimedelta())}",
        f"Datum Timeout: {_go_text(d.datum_timeout, d, 'datum_timeout')}",
        f"Job Timeout: {_go_text(d.job_timeout, d, 'job_timeout')}",
        "Worker Status:",
    ]
    workers = [(w.worker_id, w.job_id, "", "") for w in d.worker_status]
    lines.append(render_table(("WORKER", "JOB", "DATUM", "STARTED"), workers).rstrip("\n"))
    lines += [
        f"Restarts: {i.restart}",
        f"ParallelismSpec: {_go_text(d.parallelism_spec, d, 'parallelism_spec')}",
        f"Input: {_go_json(d.input) if d.HasField('input') else ''}",
        f"Transform: {_go_json(d.transform)} ",
    ]
    if _has(i, "output_commit"):
        lines.append(f"Output Commit: {i.output_commit.id} ")
    if d.HasField("egress"):
        lines.append(f"Egress: {_egress_text(d.egress)} ")
    lines += [f"Pipeline Version: {i.pipeline_version}", f"Created: {when(proto_datetime(i.created), full)}"]
    runtime = next(
        (w.worker_id.removeprefix("pachlet-") for w in d.worker_status if w.worker_id.startswith("pachlet-")),
        "",
    )
    if runtime:
        lines.append(f"Runtime: {runtime}")
    return "\n".join(lines) + "\n"


def secret_details(i: Any, keys: Sequence[str] = ()) -> str:
    """``inspect secret`` as pachctl prints it: the ``list secret`` table with one row (pachlet's KEYS
    column included: key names, never values)."""
    return secret_table([i], {i.secret.name: keys})


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String``: ``0s``, ``150ms``, ``1.5s``, ``2m3.25s``, ``1h0m0s``."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)

    def frac(value: int, unit: int) -> str:
        whole, rest = divmod(value, unit)
        digits = str(rest).rjust(len(str(unit)) - 1, "0").rstrip("0")
        return f"{whole}.{digits}" if digits else str(whole)

    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{frac(u, 1_000)}µs"
    if u < 1_000_000_000:
        return f"{sign}{frac(u, 1_000_000)}ms"
    minutes, rest = divmod(u, 60_000_000_000)
    hours, minutes = divmod(minutes, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "")
    return f"{sign}{text}{frac(rest, 1_000_000_000)}s"


def _ns(d: Any) -> int:
    return d.seconds * 1_000_000_000 + d.nanos


def datum_details(i: Any) -> str:
    """``inspect datum`` as pachctl's ``PrintDetailedDatumInfo`` writes it straight to stdout: ``label<TAB>
    value`` lines (the tabs are not aligned), Go durations, and the PFS State and Inputs tables through
    a tabwriter of width 10, padding 3."""
    from python_pachyderm.proto.v2.pps import pps_pb2

    st = i.stats
    total = _ns(st.download_time) + _ns(st.process_time) + _ns(st.upload_time)
    lines = [
        f"ID\t{i.datum.id}",
        f"Job ID\t{i.datum.job.id}",
        f"Image ID\t{i.image_id}",
        f"State\t{pps_pb2.DatumState.Name(i.state)}",
        f"Data Downloaded\t{bytes_size(st.download_bytes)}",
        f"Data Uploaded\t{bytes_size(st.upload_bytes)}",
        f"Total Time\t{go_duration(total)}",
        f"Download Time\t{go_duration(_ns(st.download_time))}",
        f"Process Time\t{go_duration(_ns(st.process_time))}",
        f"Upload Time\t{go_duration(_ns(st.upload_time))}",
    ]
    text = "\n".join(lines) + "\nPFS State:\n"
    states = [i.pfs_state] if _has(i, "pfs_state") else []
    text += _file_table(states) + "Inputs:\n" + _file_table([d.file for d in i.data])
    return text


def _file_table(files: Sequence[Any]) -> str:
    """pachctl's ``PrintFileHeader`` / ``PrintFile`` rows (``  REPO COMMIT PATH``, the repo as
    ``project/repo``) through ``ansiterm.NewTabWriter(w, 10, 1, 3, ' ', 0)``."""
    rows = [["  REPO", "COMMIT", "PATH", ""]]
    for f in files:
        c = f.commit
        repo = c.branch.repo if c.branch.repo.name else c.repo
        rows.append([f"  {message_project(repo)}/{repo.name}", c.id, f.path, ""])
    return tabwrite(rows, 10, 3)
