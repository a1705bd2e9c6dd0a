"""Human-readable output shaped like pachctl's: aligned tables, relative times and binary sizes.

pachctl 2.7.6 writes its list tables through src/internal/tabwriter (Go's ``text/tabwriter`` with
minimum cell width 0 and padding 1, the header repeated every 50 lines; ``version`` uses width 20 and
padding 3), its times through ``pretty.Ago`` (docker/go-units ``HumanDuration`` + " ago") and its sizes through
go-units ``BytesSize`` ("%.4g" with binary units). This module reproduces those formats.

The proto modules are imported inside the functions that need their enums: importing
python-pachyderm's protos loads its whole client (grpc included), which ``pachlet --help`` and the
``pachlet`` command modules should not pay for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

MIN_WIDTH = 20
PADDING = 3

_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")

# pachctl's headers (src/server/pfs/pretty/pretty.go and src/server/pps/pretty/pretty.go, v2.7.6)
REPO_HEADER = ("PROJECT", "NAME", "CREATED", "SIZE (MASTER)", "DESCRIPTION")
BRANCH_HEADER = ("BRANCH", "HEAD", "TRIGGER")
COMMIT_HEADER = ("PROJECT", "REPO", "BRANCH", "COMMIT", "FINISHED", "SIZE", "ORIGIN", "DESCRIPTION")
COMMIT_SET_HEADER = ("ID", "SUBCOMMITS", "PROGRESS", "CREATED", "MODIFIED")
FILE_HEADER = ("NAME", "TYPE", "SIZE")
PIPELINE_HEADER = ("PROJECT", "NAME", "VERSION", "INPUT", "CREATED", "STATE / LAST JOB", "DESCRIPTION")
JOB_HEADER = ("PROJECT", "PIPELINE", "ID", "STARTED", "DURATION", "RESTART", "PROGRESS", "DL", "UL", "STATE")
JOB_SET_HEADER = ("ID", "SUBJOBS", "PROGRESS", "CREATED", "MODIFIED")
DATUM_HEADER = ("ID", "FILES", "STATUS", "TIME")
SECRET_HEADER = ("NAME", "TYPE", "CREATED", "KEYS")


def tabwrite(lines: Sequence[Sequence[str]], min_width: int, padding: int) -> str:
    """Elastic tab stops as Go's ``text/tabwriter`` sets them (padchar ' ', no flags), over lines
    already split at their tabs: every cell but a line's last is tab-terminated. Column ``j`` of a
    line is padded to the width of its block: the longest run of adjacent lines around it that all
    have a terminated cell ``j`` (max of min_width and widest such cell + padding)."""
    widths = [[0] * max(len(line) - 1, 0) for line in lines]
    columns = max((len(w) for w in widths), default=0)
    for j in range(columns):
        i = 0
        while i < len(lines):
            if len(widths[i]) <= j:
                i += 1
                continue
            end = i
            while end < len(lines) and len(widths[end]) > j:
                end += 1
            width = max([min_width] + [len(lines[k][j]) + padding for k in range(i, end)])
            for k in range(i, end):
                widths[k][j] = width
            i = end
    out = []
    for line, w in zip(lines, widths, strict=True):
        out.append("".join(cell.ljust(w[j]) if j < len(w) else cell for j, cell in enumerate(line)))
    return "".join(text + "\n" for text in out)


def _cells(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[list[str]]:
    return [[str(c) for c in header]] + [["" if c is None else str(c) for c in row] for row in rows]


def render_table(header: Sequence[str], rows: Iterable[Sequence[object]], *, strip: bool = True) -> str:
    """Rows under a header as the ``ansiterm.NewTabWriter(w, 20, 1, 3, ' ', 0)`` pachctl's ``version``
    and ``inspect job``'s worker status use: columns max(widest + 3, 20) wide; trailing blanks stripped
    unless ``strip`` is false (pachctl's rows end in a tab, so it pads the last column too)."""
    text = tabwrite([[*line, ""] for line in _cells(header, rows)], MIN_WIDTH, PADDING)
    return "".join(line.rstrip() + "\n" for line in text.splitlines()) if strip else text


PACHCTL_PAGE = 50
"""pachctl's ``tabwriter.Writer`` flushes and repeats the header every 50 lines (``termHeight``)."""


def pachctl_table(header: Sequence[str], rows: Iterable[Sequence[object]], *, header_tab: bool = True) -> str:
    """A list table exactly as pachctl 2.7.6 prints it (src/internal/tabwriter: text/tabwriter with
    min width 0 and padding 1 over tab-terminated cells, so the last column is padded too; the header
    again after every 49 rows, each block aligned on its own). ``header_tab=False`` for the headers that
    do not end in a tab (JobSetHeader), whose last title then stays unpadded."""
    cells = _cells(header, rows)
    head = [*cells[0], ""] if header_tab else cells[0]
    body = [[*row, ""] for row in cells[1:]]
    step = PACHCTL_PAGE - 1
    blocks = [body[i : i + step] for i in range(0, len(body), step)] or [[]]
    return "".join(tabwrite([head, *block], 0, 1) for block in blocks)


def bytes_size(size: int | float) -> str:
    """Binary size like go-units ``BytesSize``: 0B, 512B, 1KiB, 1.205KiB, 3.5MiB."""
    value = float(size)
    i = 0
    while value >= 1024.0 and i < len(_BINARY_UNITS) - 1:
        value /= 1024.0
        i += 1
    return f"{value:.4g}{_BINARY_UNITS[i]}"


def human_duration(delta: timedelta | float) -> str:
    """A duration in words like go-units ``HumanDuration`` ("3 seconds", "About a minute", "2 hours")."""
    seconds_f = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    seconds = int(seconds_f)
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = int(seconds_f // 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(round(seconds_f / 3600.0))
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds_f // 3600) // 24 // 365} years"


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def ago(ts: datetime | None, *, now: datetime | None = None) -> str:
    """Relative time like pachctl's ``pretty.Ago``: "2 minutes ago"; "-" when unset."""
    if ts is None:
        return "-"
    now = _aware(now) if now is not None else datetime.now(UTC)
    return f"{human_duration(now - _aware(ts))} ago"


def time_difference(start: datetime | None, end: datetime | None) -> str:
    """Elapsed time between two instants ("3 seconds"), "-" if either is unset."""
    if start is None or end is None:
        return "-"
    return human_duration(_aware(end) - _aware(start))


def full_timestamp(ts: datetime | None) -> str:
    """An absolute RFC3339 UTC timestamp (for ``--full-timestamps``), "-" when unset."""
    if ts is None:
        return "-"
    return _aware(ts).astimezone(UTC).isoformat().replace("+00:00", "Z")


def when(ts: datetime | None, full: bool) -> str:
    """``full_timestamp`` or ``ago`` depending on ``--full-timestamps``."""
    return full_timestamp(ts) if full else ago(ts)


def progress(processed: int, skipped: int, total: int, recovered: int = 0) -> str:
    """Datum progress like pachctl's job table: "3 + 1 / 4" (or "p + s + r / t" with recovered)."""
    if recovered:
        return f"{processed} + {skipped} + {recovered} / {total}"
    return f"{processed} + {skipped} / {total}"


def progress_bar(width: int, success: int, in_progress: int, failure: int) -> str:
    """pachctl's ``pretty.ProgressBar`` as it prints without a terminal (no colours): ``width`` cells,
    cell i is '▇' while ``i * total`` is below ``(success + in_progress + failure) * width`` and blank
    after; with any failure the last cell is always '▇' (red on a terminal)."""
    total = success + in_progress + failure
    cells = []
    for i in range(width):
        if (i == width - 1 and failure != 0) or i * total < total * width:
            cells.append("▇")
        else:
            cells.append(" ")
    return "".join(cells)


# --- tables from proto messages (the same for a local root and a pachd) ----------------------------


def proto_datetime(ts: Any) -> datetime | None:
    """A protobuf Timestamp as an aware datetime; None when unset (zero)."""
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return ts.ToDatetime().replace(tzinfo=UTC)


def _has(msg: Any, name: str) -> bool:
    return msg.HasField(name)


def message_project(msg: Any) -> str:
    """The project a message names (``default`` when unset)."""
    return msg.project.name or "default"


def _repo_name(repo: Any) -> str:
    """A repo as pachctl's tables name it: ``name``, or ``name.type`` for a non-user repo (spec, meta)."""
    return repo.name if repo.type in ("", "user") else f"{repo.name}.{repo.type}"


def _size(info: Any) -> str:
    """SIZE cells: the details' size, or "≤ upper bound" when the message carries no details."""
    if _has(info, "details"):
        return bytes_size(info.details.size_bytes)
    return f"\u2264 {bytes_size(info.size_bytes_upper_bound)}"


def repo_table(infos: Iterable[Any], full: bool = False) -> str:
    """``list repo``: PROJECT, NAME, CREATED, SIZE (MASTER), DESCRIPTION."""
    rows = [
        (
            message_project(i.repo),
            _repo_name(i.repo),
            when(proto_datetime(i.created), full),
            _size(i),
            i.description,
        )
        for i in infos
    ]
    return pachctl_table(REPO_HEADER, rows)


def branch_table(infos: Iterable[Any]) -> str:
    """``list branch``: BRANCH, HEAD, TRIGGER."""
    rows = [(i.branch.name, i.head.id if _has(i, "head") and i.head.id else "-", "-") for i in infos]
    return pachctl_table(BRANCH_HEADER, rows)


def origin_name(kind: int) -> str:
    """USER / AUTO / FSCK (ORIGIN_KIND_UNKNOWN for 0) for a pfs.OriginKind value, as Go's ``%v``."""
    from python_pachyderm.proto.v2.pfs import pfs_pb2

    return pfs_pb2.OriginKind.Name(kind)


def commit_table(infos: Iterable[Any], full: bool = False) -> str:
    """``list commit``: PROJECT, REPO, BRANCH, COMMIT, FINISHED, SIZE, ORIGIN, DESCRIPTION."""
    rows = []
    for i in infos:
        repo = i.commit.branch.repo if i.commit.branch.repo.name else i.commit.repo
        finished = proto_datetime(i.finished) if _has(i, "finished") else None
        rows.append(
            (
                message_project(repo),
                _repo_name(repo),
                i.commit.branch.name,
                i.commit.id,
                when(finished, full) if _has(i, "finished") else "-",
                _size(i),
                origin_name(i.origin.kind),
                i.description,
            )
        )
    return pachctl_table(COMMIT_HEADER, rows)


def commit_set_table(sets: Iterable[Any], full: bool = False) -> str:
    """``list commit`` (no argument): ID, SUBCOMMITS, PROGRESS, CREATED, MODIFIED."""
    rows = []
    for s in sets:
        commits = list(s.commits)
        done = sum(1 for c in commits if _has(c, "finished") and not c.error)
        failed = sum(1 for c in commits if _has(c, "finished") and c.error)
        starts = [t for t in (proto_datetime(c.started) for c in commits) if t is not None]
        rows.append(
            (
                s.commit_set.id,
                len(commits),
                progress_bar(8, done, len(commits) - done - failed, failed),
                when(min(starts), full) if starts else "-",
                when(max(starts), full) if starts else "-",
            )
        )
    return pachctl_table(COMMIT_SET_HEADER, rows)


def file_table(infos: Iterable[Any]) -> str:
    """``list file`` / ``glob file``: NAME, TYPE, SIZE."""
    from python_pachyderm.proto.v2.pfs import pfs_pb2

    rows = [
        (i.file.path, "dir" if i.file_type == pfs_pb2.DIR else "file", bytes_size(i.size_bytes))
        for i in infos
    ]
    return pachctl_table(FILE_HEADER, rows)


def shorthand_input(inp: Any) -> str:
    """pachctl's ``ShorthandInput``: ``project/repo:glob``, ``(a ⨯ b)``, ``(a ⋈ b)``, ``(a ∪ b)``,
    ``(Group: a, b)``, ``name:spec`` for a cron, ``none`` without an input."""
    if inp is None:
        return "none"
    if inp.HasField("pfs"):
        return f"{inp.pfs.project or 'default'}/{inp.pfs.repo}:{inp.pfs.glob}"
    for kind, sep in (("cross", " ⨯ "), ("join", " ⋈ "), ("group", ", "), ("union", " ∪ ")):
        parts = list(getattr(inp, kind))
        if parts:
            text = sep.join(shorthand_input(p) for p in parts)
            return f"(Group: {text})" if kind == "group" else f"({text})"
    if inp.HasField("cron"):
        return f"{inp.cron.name}:{inp.cron.spec}"
    return ""


def job_state_name(state: int) -> str:
    """ "success", "failure", "running", ... for a pps.JobState value, as pachctl's ``pretty.JobState``
    ("-" for JOB_CREATED and unknown states)."""
    from python_pachyderm.proto.v2.pps import pps_pb2

    if state in (pps_pb2.JOB_STATE_UNKNOWN, pps_pb2.JOB_CREATED):
        return "-"
    return pps_pb2.JobState.Name(state).removeprefix("JOB_").lower()


def pipeline_state_name(state: int) -> str:
    """ "running", "standby", "failure", ... for a pps.PipelineState value."""
    from python_pachyderm.proto.v2.pps import pps_pb2

    return pps_pb2.PipelineState.Name(state).removeprefix("PIPELINE_").lower() if state else "-"


def datum_state_name(state: int) -> str:
    """ "success", "skipped", "failed", "recovered" or "-" for a pps.DatumState value."""
    from python_pachyderm.proto.v2.pps import pps_pb2

    return pps_pb2.DatumState.Name(state).lower() if state else "-"


def pipeline_table(infos: Iterable[Any], full: bool = False) -> str:
    """``list pipeline``: PROJECT, NAME, VERSION, INPUT, CREATED, STATE / LAST JOB, DESCRIPTION."""
    rows = []
    for i in infos:
        state = f"{pipeline_state_name(i.state)} / {job_state_name(i.last_job_state)}"
        head = (message_project(i.pipeline), i.pipeline.name, i.version)
        if not _has(i, "details"):
            rows.append((*head, "-", "-", state, "pipeline details unavailable"))
            continue
        d = i.details
        input_ = shorthand_input(d.input) if _has(d, "input") else "none"
        rows.append((*head, input_, when(proto_datetime(d.created_at), full), state, d.description))
    return pachctl_table(PIPELINE_HEADER, rows)


def _trim(text: str, n: int = 25) -> str:
    return text if len(text) < n else text[:n].strip() + "..."


def job_table(infos: Iterable[Any], full: bool = False) -> str:
    """``list job -p P``: PROJECT, PIPELINE, ID, STARTED, DURATION, RESTART, PROGRESS, DL, UL, STATE."""
    from python_pachyderm.proto.v2.pps import pps_pb2

    rows = []
    for i in infos:
        started = proto_datetime(i.started) if _has(i, "started") else None
        finished = proto_datetime(i.finished) if _has(i, "finished") else None
        state = job_state_name(i.state)
        if i.reason:
            state = f"{state}: {_trim(i.reason)}"
        elif i.state == pps_pb2.JOB_SUCCESS and i.data_skipped == i.data_total:
            state = "success: there were no datums to process"
        rows.append(
            (
                message_project(i.job.pipeline),
                i.job.pipeline.name,
                i.job.id,
                when(started, full) if started else "-",
                time_difference(started, finished),
                i.restart,
                progress(i.data_processed, i.data_skipped, i.data_total, i.data_recovered),
                bytes_size(i.stats.download_bytes),
                bytes_size(i.stats.upload_bytes),
                state,
            )
        )
    return pachctl_table(JOB_HEADER, rows)


def job_set_table(sets: Iterable[Any], full: bool = False) -> str:
    """``list job`` (no filter): ID, SUBJOBS, PROGRESS, CREATED, MODIFIED."""
    from python_pachyderm.proto.v2.pps import pps_pb2

    terminal = {pps_pb2.JOB_SUCCESS, pps_pb2.JOB_FAILURE, pps_pb2.JOB_KILLED, pps_pb2.JOB_UNRUNNABLE}
    rows = []
    for s in sets:
        jobs = list(s.jobs)
        ok = sum(1 for j in jobs if j.state == pps_pb2.JOB_SUCCESS)
        bad = sum(1 for j in jobs if j.state in terminal and j.state != pps_pb2.JOB_SUCCESS)
        created = [t for t in (proto_datetime(j.created) for j in jobs) if t is not None]
        rows.append(
            (
                s.job_set.id,
                len(jobs),
                progress_bar(8, ok, len(jobs) - ok - bad, bad),
                when(min(created), full) if created else "-",
                when(max(created), full) if created else "-",
            )
        )
    return pachctl_table(JOB_SET_HEADER, rows, header_tab=False)


def datum_files(info: Any) -> str:
    """The FILES cell of ``list datum``: pachctl's ``CompactPrintFile`` (``project/repo@commit:/path``)
    of each input file, comma-separated."""
    cells = []
    for f in info.data:
        c = f.file.commit
        repo = c.branch.repo if c.branch.repo.name else c.repo
        cells.append(f"{message_project(repo)}/{_repo_name(repo)}@{c.id}:{f.file.path}")
    return ", ".join(cells)


def datum_table(infos: Iterable[Any]) -> str:
    """``list datum``: ID, FILES, STATUS, TIME."""
    rows = []
    for i in infos:
        t = i.stats.process_time
        secs = t.seconds + t.nanos / 1e9
        rows.append(
            (
                i.datum.id or "-",
                datum_files(i),
                datum_state_name(i.state),
                human_duration(secs) if secs else "-",
            )
        )
    return pachctl_table(DATUM_HEADER, rows)


def secret_table(infos: Iterable[Any], keys: Mapping[str, Sequence[str]] | None = None) -> str:
    """``list secret``: NAME, TYPE, CREATED, KEYS (key names only; values are never shown)."""
    keys = keys or {}
    rows = [
        (
            i.secret.name,
            i.type,
            ago(proto_datetime(i.creation_timestamp)),
            ",".join(keys.get(i.secret.name, ())) or "-",
        )
        for i in infos
    ]
    return pachctl_table(SECRET_HEADER, rows)
