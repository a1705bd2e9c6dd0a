"""Maintenance commands of the root or pachd: ``fsck``, ``mount`` and ``version``."""

from __future__ import annotations

from pathlib import Path

import click

from pachlet import __version__, tables
from pachlet.cli.output import emit_json, output_option, want_json
from pachlet.cli.refs import parse_ref
from pachlet.cli.session import open_backend
from pachlet.errors import PachletError


@click.command("fsck")
@click.option("--fix", is_flag=True, help="Repair what can be repaired (orphans, dead open commits).")
@click.pass_context
def fsck(ctx: click.Context, fix: bool) -> None:
    """Check the root's integrity; exit 1 if problems remain."""
    with open_backend(ctx, write=True) as b:
        problems, fixed = b.fsck(fix)
        for line in fixed:
            click.echo(f"fixed: {line}")
        if fix and (problems or fixed):
            problems, _ = b.fsck(False)
    for line in problems:
        click.echo(line)
    if problems:
        raise PachletError(
            f"fsck found {len(problems)} problem(s)" + ("" if fix else "; run pachlet fsck --fix")
        )
    click.echo("No errors found.")


@click.command("mount")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.argument("repos", nargs=-1, metavar="[REPO[@REF]]...")
@click.option(
    "-r", "--repos", "repo_opts", multiple=True, help="REPO[@REF] to mount (default: all at master)."
)
@click.pass_context
def mount(ctx: click.Context, directory: Path, repos: tuple[str, ...], repo_opts: tuple[str, ...]) -> None:
    """Materialize repos read-only under DIR/<repo>/ (hard links; rerun to refresh)."""
    wanted = list(repos) + list(repo_opts)
    for item in wanted:
        parse_ref(item, allow_path=False)
    with open_backend(ctx, write=False) as b:
        written = b.mount(directory, wanted or None)
    for path in written:
        click.echo(str(path))


@click.command("version")
@output_option
@click.option("--client-only", is_flag=True, help="Only print pachlet's version; do not open the root.")
@click.option("--timeout", default="default", help="Accepted for pachctl.")
@click.option("--enterprise", is_flag=True, help="Accepted for pachctl.")
@click.pass_context
def version(
    ctx: click.Context,
    output: str,
    raw: bool,
    full_timestamps: bool,
    client_only: bool,
    timeout: str,
    enterprise: bool,
) -> None:
    """Print version information: pachlet's, and the pachd version the root or server answers."""
    if client_only and not want_json(output, raw):
        click.echo(__version__)
        return
    from python_pachyderm.proto.v2.version.versionpb import version_pb2

    from pachlet import protos

    major, minor, micro = (int(x) for x in __version__.split(".")[:3])
    messages = [version_pb2.Version(major=major, minor=minor, micro=micro, platform="pachlet")]
    if not client_only:
        with open_backend(ctx, write=False) as b:
            messages.append(b.server_version())
    if want_json(output, raw):
        emit_json(messages)
        return
    # pachctl flushes its tabwriter (min width 20, padding 3, cells tab-terminated) after its own row,
    # then writes the pachd row as a block of its own
    head = tables.tabwrite([["COMPONENT", "VERSION", ""], ["pachlet", __version__, ""]], 20, 3)
    click.echo(head + tables.tabwrite([["pachd", protos.pretty_version(messages[1]), ""]], 20, 3), nl=False)
