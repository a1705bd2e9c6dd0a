"""Commit commands: ``start|finish|list|inspect|wait commit``."""

from __future__ import annotations

import click

from pachlet import tables
from pachlet.cli.output import ProgressBars, emit_json, output_option, run_jobs, wait_option, want_json
from pachlet.cli.refs import RefError, parse_ref, resolve_ref
from pachlet.cli.session import open_backend
from pachlet.cli.verbs import finish, inspect, list_, start, wait
from pachlet.names import COMMIT_ID_RE


@start.command("commit")
@click.argument("branch_ref", metavar="REPO@BRANCH")
@click.option("-m", "--message", "--description", "description", default="", help="Commit description.")
@click.pass_context
def start_commit(ctx: click.Context, branch_ref: str, description: str) -> None:
    """Start a new commit; prints its ID."""
    ref = parse_ref(branch_ref, allow_path=False, require_ref=True)
    with open_backend(ctx, write=True) as b:
        info = b.start_commit(ref.repo, ref.branch or "master", description)
    click.echo(info.commit.id)


@finish.command("commit")
@click.argument("commit_ref", metavar="REPO@BRANCH_OR_COMMIT")
@click.option("-m", "--message", "--description", "description", default=None, help="Commit description.")
@wait_option
@click.pass_context
def finish_commit(ctx: click.Context, commit_ref: str, description: str | None, no_wait: bool) -> None:
    """Finish an open commit (its files become visible and jobs run)."""
    ref = parse_ref(commit_ref, allow_path=False, require_ref=True)
    with open_backend(ctx, write=True) as b:
        b.finish_commit(ref.repo, ref.ref, description)
        run_jobs(b, no_wait)


@list_.command("commit")
@click.argument("target", required=False, metavar="[REPO[@BRANCH]|GLOBAL_ID]")
@click.option("-n", "--number", type=int, default=None, help="At most this many commits (newest first).")
@output_option
@click.pass_context
def list_commit(
    ctx: click.Context, target: str | None, number: int | None, output: str, raw: bool, full_timestamps: bool
) -> None:
    """List commits of a repo/branch, the commits of one global ID, or (no argument) every commit set."""
    as_json = want_json(output, raw)
    with open_backend(ctx, write=False) as b:
        if target is None:
            sets = b.commit_sets(number)
            if as_json:
                emit_json(sets)
            else:
                click.echo(tables.commit_set_table(sets, full_timestamps), nl=False)
            return
        if COMMIT_ID_RE.match(target):
            infos = b.commit_set(target)
        else:
            ref = parse_ref(target, allow_path=False)
            if ref.commit_id:
                raise RefError(f'invalid format "{target}": list commit takes repo[@branch] or a global ID')
            infos = b.list_commits(ref.repo, ref.branch or None, number)
    if as_json:
        emit_json(infos)
    else:
        click.echo(tables.commit_table(infos, full_timestamps), nl=False)


@inspect.command("commit")
@click.argument("commit_ref", metavar="REPO@BRANCH_OR_COMMIT")
@output_option
@click.pass_context
def inspect_commit(
    ctx: click.Context, commit_ref: str, output: str, raw: bool, full_timestamps: bool
) -> None:
    """Return info about a commit, with its provenance."""
    ref = parse_ref(commit_ref, allow_path=False, require_ref=True)
    with open_backend(ctx, write=False) as b:
        info = b.inspect_commit(ref.repo, resolve_ref(b, ref))
    if want_json(output, raw):
        emit_json([info])
    else:
        click.echo(tables.commit_details(info, full_timestamps), nl=False)


@wait.command("commit")
@click.argument("commit_ref", metavar="REPO@BRANCH_OR_COMMIT")
@output_option
@click.pass_context
def wait_commit(ctx: click.Context, commit_ref: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Run pending jobs, then wait for the commit to finish and print it."""
    ref = parse_ref(commit_ref, allow_path=False, require_ref=True)
    with open_backend(ctx, write=True) as b:
        bars = ProgressBars()
        try:
            info = b.wait_commit(ref.repo, resolve_ref(b, ref), bars)
        finally:
            bars.close()
    if want_json(output, raw):
        emit_json([info])
    else:
        click.echo(tables.commit_table([info], full_timestamps), nl=False)
