"""Repo commands: ``create|update|list|inspect|delete repo``."""

from __future__ import annotations

import click

from pachlet import tables
from pachlet.cli import details
from pachlet.cli.output import emit, output_option
from pachlet.cli.refs import RefError
from pachlet.cli.session import open_backend
from pachlet.cli.verbs import create, delete, inspect, list_, update
from pachlet.names import NAME_RE


@create.command("repo")
@click.argument("name")
@click.option("-d", "--description", default="", help="A description of the repo.")
@click.pass_context
def create_repo(ctx: click.Context, name: str, description: str) -> None:
    """Create a new repo."""
    if not NAME_RE.match(name):
        raise RefError(f'repo name {name!r} may only contain letters, digits, "_" and "-"')
    with open_backend(ctx, write=True) as b:
        b.create_repo(name, description, False)


@update.command("repo")
@click.argument("name")
@click.option("-d", "--description", default="", help="A description of the repo.")
@click.pass_context
def update_repo(ctx: click.Context, name: str, description: str) -> None:
    """Update a repo's description."""
    with open_backend(ctx, write=True) as b:
        b.create_repo(name, description, True)


@list_.command("repo")
@output_option
@click.pass_context
def list_repo(ctx: click.Context, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return a list of repos."""
    with open_backend(ctx, write=False) as b:
        infos = b.list_repos()
    emit(infos, output, raw, lambda: tables.repo_table(infos, full_timestamps))


@inspect.command("repo")
@click.argument("name")
@output_option
@click.pass_context
def inspect_repo(ctx: click.Context, name: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return info about a repo."""
    with open_backend(ctx, write=False) as b:
        info = b.inspect_repo(name)
    emit([info], output, raw, lambda: details.repo_details(info, full_timestamps))


@delete.command("repo")
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Delete even if pipelines use the repo.")
@click.pass_context
def delete_repo(ctx: click.Context, name: str, force: bool) -> None:
    """Delete a repo."""
    with open_backend(ctx, write=True) as b:
        b.delete_repo(name, force)
