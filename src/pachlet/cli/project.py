"""Project commands: ``create|update|list|inspect|delete project`` (pachctl 2.7.6
src/server/pfs/cmds/cmds.go; the table and details as its pfs/pretty/pretty.go prints them). The
``--project`` flag of the other commands is ``pachlet.cli.projectscope``'s."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import click

from pachlet import tables
from pachlet.cli.output import emit, emit_json, output_option, want_json
from pachlet.cli.projectscope import PROJECT_ENV, ProjectBackend
from pachlet.cli.session import open_backend
from pachlet.cli.verbs import create, delete, inspect, list_, update
from pachlet.projects import DEFAULT_PROJECT, qualify

PROJECT_HEADER = ("ACTIVE", "PROJECT", "CREATED", "DESCRIPTION")
"""pachctl's ``pretty.ProjectHeader``."""


# --------------------------------------------------------------------------- project commands


def project_table(infos: Iterable[Any], active: str, full: bool = False) -> str:
    """``list project``: ACTIVE (``*`` for the active project), PROJECT, CREATED, DESCRIPTION."""
    rows = [
        (
            "*" if i.project.name == active else "",
            i.project.name,
            tables.when(i.created_at.ToDatetime(), full) if i.HasField("created_at") else "-",
            i.description or "-",
        )
        for i in infos
    ]
    return tables.render_table(PROJECT_HEADER, rows)


def project_details(info: Any, full: bool = False) -> str:
    """``inspect project``: pachctl's ``PrintDetailedProjectInfo``."""
    lines = [f"Name: {info.project.name}"]
    if info.description:
        lines.append(f"Description: {info.description}")
    if info.HasField("created_at"):
        lines.append(f"Created at: {tables.full_timestamp(info.created_at.ToDatetime())}")
    return "\n".join(lines) + "\n"


@create.command("project")
@click.argument("name")
@click.option("-d", "--description", default="", help="Set a description for the newly-created project.")
@click.pass_context
def create_project(ctx: click.Context, name: str, description: str) -> None:
    """Create a new project."""
    with open_backend(ctx, write=True) as b:
        b.create_project(name, description, False)


@update.command("project")
@click.argument("name")
@click.option("-d", "--description", default="", help="Set a new description of the updated project.")
@click.pass_context
def update_project(ctx: click.Context, name: str, description: str) -> None:
    """Update a project's description."""
    with open_backend(ctx, write=True) as b:
        b.create_project(name, description, True)


@list_.command("project")
@output_option
@click.pass_context
def list_project(ctx: click.Context, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return all projects."""
    with open_backend(ctx, write=False) as b:
        infos = b.list_projects()
    if want_json(output, raw):
        emit_json(infos)
    else:
        click.echo(
            project_table(infos, os.environ.get(PROJECT_ENV) or DEFAULT_PROJECT, full_timestamps), nl=False
        )


@inspect.command("project")
@click.argument("name")
@output_option
@click.pass_context
def inspect_project(ctx: click.Context, name: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Inspect a project."""
    with open_backend(ctx, write=False) as b:
        info = b.inspect_project(name)
    emit([info], output, raw, lambda: project_details(info, full_timestamps))


@delete.command("project")
@click.argument("name")
@click.option(
    "-f", "--force", is_flag=True, help="Force delete the project regardless of errors; use with caution."
)
@click.pass_context
def delete_project(ctx: click.Context, name: str, force: bool) -> None:
    """Delete a project: as pachctl, after confirming, its pipelines and repos first."""
    with open_backend(ctx, write=True) as b:
        inner = ProjectBackend(b, name)
        pipelines = inner.list_pipelines()
        for p in pipelines:
            click.echo(f"This will delete pipeline {qualify(name, p.pipeline.name)}")
        if pipelines and not click.confirm("Are you sure you want to do this?", default=False):
            raise click.ClickException(f"cannot delete project with {len(pipelines)} pipelines")
        for p in pipelines:
            b.delete_pipeline(qualify(name, p.pipeline.name), True, False)
        repos = inner.list_repos()
        for r in repos:
            click.echo(f"This will delete repo {name}/{r.repo.name}")
        if repos and not click.confirm("Are you sure you want to do this?", default=False):
            raise click.ClickException(f"cannot delete project with {len(repos)} repos")
        for r in repos:
            b.delete_repo(qualify(name, r.repo.name), True)
        b.delete_project(name, force)
