"""Output glue shared by the commands: ``-o/--output`` and ``--no-wait`` options, protobuf-JSON lines,
progress bars for the jobs a command runs. Table rendering itself lives in ``pachlet.tables``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import click

from pachlet import tables
from pachlet.errors import PachletError

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from pachlet.cli.backend import Backend

OUTPUT_FORMATS = ("table", "json", "yaml")

PROTOJSON_FORMAT_COMMANDS = frozenset({"logs"})
"""Commands whose ``--raw`` pachctl prints with ``protojson.Format`` (camelCase JSON names, one indented
document per line group, each followed by a newline) instead of cmdutil's encoder: ``getLogs``."""


def output_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """pachctl's ``--raw`` and ``-o/--output json|yaml`` (cmdutil.OutputFlags), plus ``--full-timestamps``.

    ``--raw`` prints what pachctl prints (indented protojson with .proto field names, or YAML with
    ``-o yaml``); ``-o json`` without ``--raw``, which pachctl refuses, prints one compact document per
    line with the same field names."""
    f = click.option("--raw", is_flag=True, help="Print the messages as pachctl --raw does (json or yaml).")(
        f
    )
    f = click.option(
        "-o", "--output", "output", type=click.Choice(OUTPUT_FORMATS), default="table", show_default=True,
        help="json: one protobuf-JSON document per line (pachctl's field names); with --raw, as pachctl.",
    )(f)  # fmt: skip
    return click.option("--full-timestamps", is_flag=True, help="Absolute timestamps.")(f)


def wait_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--no-wait``: leave the jobs this command queues for a later command (or ``pachlet serve``)."""
    return click.option("--no-wait", is_flag=True, help="Queue triggered jobs without running them now.")(f)


def emit_json(messages: Iterable[Message]) -> None:
    """Print the messages in the form the command's ``--raw`` / ``-o`` options ask for (read from the
    click context, so every verb gets the same forms): ``--raw`` [``-o json``] as pachctl (indented,
    concatenated), ``-o yaml`` as YAML documents, ``-o json`` alone one compact document per line."""
    from pachlet import protos  # python-pachyderm's protos: paid by commands that print, not by --help

    ctx = click.get_current_context(silent=True)
    params = ctx.params if ctx is not None else {}
    output, raw = params.get("output") or "json", bool(params.get("raw"))
    if raw and ctx is not None and ctx.info_name in PROTOJSON_FORMAT_COMMANDS:
        for m in messages:  # pachctl: fmt.Println(protojson.Format(msg)), JSON names, indented
            click.echo(json.dumps(protos.to_dict(m), indent=2, ensure_ascii=False))
    elif output == "yaml":
        click.echo("---\n".join(protos.to_pachctl_yaml(m) for m in messages), nl=False)
    elif raw:
        click.echo("".join(protos.to_pachctl_json(m) for m in messages), nl=False)
    else:
        for m in messages:
            click.echo(protos.to_json_line(m, proto_names=True))


def want_json(output: str, raw: bool) -> bool:
    """True when ``--raw``, ``-o json`` or ``-o yaml`` was given (any serialized form)."""
    return raw or output in ("json", "yaml")


def emit(messages: Iterable[Message], output: str, raw: bool, text: Callable[[], str]) -> None:
    """A listing or an inspection: the messages serialized when ``--raw`` / ``-o`` ask for it
    (``emit_json``), else ``text()`` (a table or a detail view) as it is."""
    if want_json(output, raw):
        emit_json(messages)
    else:
        click.echo(text(), nl=False)


class ProgressBars:
    """One click progress bar per running job on stderr (datums done / total)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._key: tuple[str, str] | None = None
        self._pos = 0

    def __call__(self, pipeline: str, job_id: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        key = (pipeline, job_id)
        if key != self._key:
            self.close()
            self._bar = click.progressbar(
                length=max(total, 1), label=f"{pipeline}@{job_id}", file=sys.stderr, show_pos=True,
                show_percent=False, show_eta=False,
            )  # fmt: skip
            self._bar.__enter__()
            self._key, self._pos = key, 0
        if total and self._bar.length != total:
            self._bar.length = total
        if done > self._pos:
            self._bar.update(done - self._pos)
            self._pos = done

    def close(self) -> None:
        """Finish the current bar."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
            self._key = None


def run_jobs(backend: Backend, no_wait: bool) -> None:
    """Run the jobs a mutation queued, with progress bars; summarize each job on stderr; exit 1 if any
    job failed (after printing its reason). Through a server the jobs run there, and the command
    returns as pachctl's does."""
    if no_wait or not backend.inline_jobs:
        return
    from python_pachyderm.proto.v2.pps import pps_pb2

    bars = ProgressBars(enabled=True)
    try:
        jobs = backend.run_until_idle(bars)
    finally:
        bars.close()
    failed = []
    for j in jobs:
        counts = tables.progress(j.data_processed, j.data_skipped, j.data_total, j.data_recovered)
        state = tables.job_state_name(j.state)
        click.echo(f"{j.job.pipeline.name}@{j.job.id}: {state} ({counts} datums)", err=True)
        if j.state != pps_pb2.JOB_SUCCESS:
            failed.append(j)
    if failed:
        j = failed[0]
        reason = f": {j.reason}" if j.reason else ""
        raise PachletError(
            f"job {j.job.pipeline.name}@{j.job.id} ended {tables.job_state_name(j.state)}{reason}"
            + (f" (and {len(failed) - 1} more failed)" if len(failed) > 1 else "")
        )
