"""Commit commands: ``start|finish|list|inspect|wait|squash|delete|subscribe commit``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from pachlet import tables
from pachlet.cli import details
from pachlet.cli.output import ProgressBars, emit, emit_json, output_option, run_jobs, wait_option, want_json
from pachlet.cli.refs import Ref, RefError, parse_ref, resolve_ref
from pachlet.cli.session import open_backend
from pachlet.cli.verbs import delete, finish, inspect, list_, squash, start, subscribe, wait
from pachlet.errors import PachletError
from pachlet.names import COMMIT_ID_RE

if TYPE_CHECKING:
    from pachlet.cli.backend import Backend


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
@click.argument("target", required=False, metavar="[COMMIT_ID|REPO[@BRANCH_OR_COMMIT]]")
@click.option("-f", "--from", "from_", default="", help="List only the commits after this commit ID.")
@click.option("-n", "--number", type=int, default=0, help="At most this many results (0: all).")
@click.option(
    "--all", "all_", is_flag=True, help="Every origin (USER, AUTO, FSCK); the default lists all too."
)
@click.option("-x", "--expand", is_flag=True, help="With no argument: one line per commit, not per set.")
@click.option("--origin", default="", help="Only commits of this origin: USER, AUTO or FSCK.")
@output_option
@click.pass_context
def list_commit(
    ctx: click.Context,
    target: str | None,
    from_: str,
    number: int,
    all_: bool,
    expand: bool,
    origin: str,
    output: str,
    raw: bool,
    full_timestamps: bool,
) -> None:
    """List commits: every commit set (no argument), the commits of one global ID, or a repo's commits
    (``repo@branch``: the branch's history from its head), as pachctl 2.7.6's ``list commit``."""
    if all_ and origin:
        raise PachletError("cannot specify both --all and --origin")
    as_json = want_json(output, raw)
    with open_backend(ctx, write=False) as b:
        if target is None:
            if origin:
                raise PachletError("cannot specify --origin when listing all commits")
            if from_:
                raise PachletError("cannot specify --from when listing all commits")
            sets = b.commit_sets(None)
            if not expand:
                sets = sets[:number] if number else sets
                if as_json:
                    emit_json(sets)
                else:
                    click.echo(tables.commit_set_table(sets, full_timestamps), nl=False)
                return
            infos = [c for s in sets for c in s.commits]
        elif COMMIT_ID_RE.match(target):
            for flag, given in (("--from", from_), ("--all", all_), ("--origin", origin)):
                if given:
                    raise PachletError(f"cannot specify {flag} when listing subcommits")
            infos = b.commit_set(target)
        else:
            ref = parse_ref(target, allow_path=False)
            infos = commit_history(b, ref, from_, _origin_kind(origin), number)
    infos = infos[:number] if number else infos
    if as_json:
        emit_json(infos)
    else:
        click.echo(tables.commit_table(infos, full_timestamps), nl=False)


def _origin_kind(text: str) -> int:
    """pachctl's ``parseOriginKind``: case-insensitive USER / AUTO / FSCK, 0 for none."""
    if not text:
        return 0
    from python_pachyderm.proto.v2.pfs import pfs_pb2

    known = list(pfs_pb2.OriginKind.keys())
    kind = pfs_pb2.OriginKind.Value(text.upper()) if text.upper() in known else 0
    if not kind:
        names = ", ".join(n for n in known if n != "ORIGIN_KIND_UNKNOWN")
        raise PachletError(f"unknown commit origin type '{text}', must be one of: {names}")
    return kind


def commit_history(b: Backend, ref: Ref, from_: str, origin: int, number: int = 0) -> list[Any]:
    """pachd's ListCommit for one repo (src/server/pfs/server/driver.go ``listCommit``): without a ref
    every commit of the repo, newest first; with one, the parent chain from that commit back to (not
    including) ``from_``; only commits of ``origin`` when one is given; at most ``number`` (0: all).
    With a ``number`` the chain is walked one commit at a time, so ``-n 5`` does not read the repo."""
    if from_:
        if not ref.has_ref:
            raise PachletError("cannot use `from` commit without `to` commit")
        b.inspect_commit(ref.repo, from_)  # pachd checks that the `from` commit exists
    if not ref.has_ref:
        found = [c for c in b.list_commits(ref.repo, None, None) if not origin or c.origin.kind == origin]
        return found[:number] if number else found
    by_id = {} if number else {c.commit.id: c for c in b.list_commits(ref.repo, None, None)}
    cursor: Any = b.inspect_commit(ref.repo, resolve_ref(b, ref))
    chain: list[Any] = []
    while cursor is not None and cursor.commit.id != from_ and not (number and len(chain) >= number):
        if not origin or cursor.origin.kind == origin:
            chain.append(cursor)
        parent = cursor.parent_commit.id if cursor.HasField("parent_commit") else ""
        cursor = (by_id.get(parent) or b.inspect_commit(ref.repo, parent)) if parent else None
    return chain


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
    emit([info], output, raw, lambda: details.commit_details(info, full_timestamps))


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
    emit([info], output, raw, lambda: details.commit_details(info, full_timestamps))


def _commit_set_id(arg: str) -> str:
    if not COMMIT_ID_RE.match(arg):
        raise RefError(f'invalid commit ID "{arg}": expected a global ID (32 hex characters)')
    return arg


@squash.command("commit")
@click.argument("commit_id", metavar="COMMIT_ID")
@click.pass_context
def squash_commit(ctx: click.Context, commit_id: str) -> None:
    """Squash the sub-commits of a commit set: their data stays in their child commits (pachd refuses
    a set with a commit that has no children)."""
    with open_backend(ctx, write=True) as b:
        b.squash_commit(_commit_set_id(commit_id))


@delete.command("commit")
@click.argument("commit_id", metavar="COMMIT_ID")
@click.pass_context
def delete_commit(ctx: click.Context, commit_id: str) -> None:
    """Delete the sub-commits of a commit set with their data (pachd's DropCommitSet; none of them may
    have children)."""
    with open_backend(ctx, write=True) as b:
        b.drop_commit(_commit_set_id(commit_id))


ORIGINS = {"AUTO": 2, "FSCK": 3, "USER": 1}
"""``--origin`` values (``pfs.OriginKind``), as pachctl's ``parseOriginKind`` reads them."""


@subscribe.command("commit")
@click.argument("branch_ref", metavar="REPO[@BRANCH]")
@click.option("--from", "from_", default="", help="Leave out this commit (pachd's SubscribeCommit from).")
@click.option("--new", "new", is_flag=True, help="Only commits created from now on.")
@click.option("--all", "all_", is_flag=True, help="Every kind of commit (AUTO, FSCK, USER).")
@click.option("--origin", default="", help="Only commits of this origin: AUTO, FSCK or USER.")
@output_option
@click.pass_context
def subscribe_commit(
    ctx: click.Context,
    branch_ref: str,
    from_: str,
    new: bool,
    all_: bool,
    origin: str,
    output: str,
    raw: bool,
    full_timestamps: bool,
) -> None:
    """Print commits as they are created, without end (Ctrl-C stops): first the existing ones."""
    if new and from_:
        raise RefError("--new and --from cannot be used together")
    if all_ and origin:
        raise RefError("cannot specify both --all and --origin")
    if origin and origin.upper() not in ORIGINS:
        raise RefError(f"unrecognized origin: {origin}")
    ref = parse_ref(branch_ref, allow_path=False)
    as_json = want_json(output, raw)
    with open_backend(ctx, write=False) as b:
        skip = {c.commit.id for c in b.list_commits(ref.repo, ref.branch or None, None)} if new else set()
        first = True
        stream = b.subscribe_commits(ref.repo, ref.branch, from_, all_, ORIGINS.get(origin.upper(), 0))
        try:
            for info in stream:
                if info.commit.id in skip:
                    continue
                if as_json:
                    emit_json([info])
                else:
                    table = tables.commit_table([info], full_timestamps)
                    click.echo(table if first else table.split("\n", 1)[1], nl=False)
                    first = False
                sys.stdout.flush()
        except KeyboardInterrupt:
            return
