"""Branch commands: ``create|list|inspect|delete branch``."""

from __future__ import annotations

import click

from pachlet import tables
from pachlet.cli import details
from pachlet.cli.output import emit, output_option, run_jobs, wait_option
from pachlet.cli.refs import RefError, parse_ref, resolve_ref
from pachlet.cli.session import open_backend
from pachlet.cli.verbs import create, delete, inspect, list_


@create.command("branch")
@click.argument("branch_ref", metavar="REPO@BRANCH")
@click.option("--head", default=None, help="The commit (ID or branch) the branch points at.")
@click.option("-p", "--provenance", multiple=True, help="REPO@BRANCH the branch is provenant on.")
@wait_option
@click.pass_context
def create_branch(
    ctx: click.Context, branch_ref: str, head: str | None, provenance: tuple[str, ...], no_wait: bool
) -> None:
    """Create a new branch, or update an existing one."""
    ref = parse_ref(branch_ref, allow_path=False, require_ref=True)
    if ref.commit_id and not ref.branch:
        raise RefError(f'invalid format "{branch_ref}": expected repo@branch, not a commit ID')
    provs = []
    for p in provenance:
        pr = parse_ref(p, allow_path=False, require_ref=True)
        provs.append((pr.repo, pr.branch or "master"))
    with open_backend(ctx, write=True) as b:
        head_ref = None
        if head:
            hr = parse_ref(head if "@" in head else f"{ref.repo}@{head}", allow_path=False)
            head_ref = resolve_ref(b, hr)
        b.create_branch(ref.repo, ref.branch, head_ref, provs)
        run_jobs(b, no_wait)


@list_.command("branch")
@click.argument("repo")
@output_option
@click.pass_context
def list_branch(ctx: click.Context, repo: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return all branches on a repo."""
    r = parse_ref(repo, allow_path=False)
    with open_backend(ctx, write=False) as b:
        infos = b.list_branches(r.repo)
    emit(infos, output, raw, lambda: tables.branch_table(infos))


@inspect.command("branch")
@click.argument("branch_ref", metavar="REPO@BRANCH")
@output_option
@click.pass_context
def inspect_branch(
    ctx: click.Context, branch_ref: str, output: str, raw: bool, full_timestamps: bool
) -> None:
    """Return info about a branch."""
    ref = parse_ref(branch_ref, allow_path=False, require_ref=True)
    with open_backend(ctx, write=False) as b:
        info = b.inspect_branch(ref.repo, ref.branch or ref.ref)
    emit([info], output, raw, lambda: details.branch_details(info))


@delete.command("branch")
@click.argument("branch_ref", metavar="REPO@BRANCH")
@click.option("-f", "--force", is_flag=True, help="Delete it even if other branches are provenant on it.")
@click.pass_context
def delete_branch(ctx: click.Context, branch_ref: str, force: bool) -> None:
    """Delete a branch (its commits stay reachable by ID)."""
    ref = parse_ref(branch_ref, allow_path=False, require_ref=True)
    with open_backend(ctx, write=True) as b:
        b.delete_branch(ref.repo, ref.branch or ref.ref, force)
