"""`churn validate`: the rendered specs against Pachyderm's proto, its JSON schema and the DAG's rules."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from churn.cli.errors import one_line_errors
from churn.pachyderm_schema import SCHEMA_ENV, load_schema, locate_schema
from churn.render import display_path, find_project, target_names, target_params
from churn.validate import Policy, validate_files


@click.command("validate")
@click.option("--target", "-t", "targets", multiple=True, help="Target(s) to validate (default: all).")
@click.option(
    "--specs-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Root holding <target>/ dirs (default specs/); or one target's dir when it holds *.json.",
)
@click.option(
    "--schema", type=click.Path(path_type=Path, dir_okay=False), help="CreatePipelineRequest.schema.json."
)
@click.option("--project-dir", type=click.Path(path_type=Path, file_okay=False), help="Project checkout.")
@one_line_errors
def validate_command(
    targets: tuple[str, ...], specs_dir: Path | None, schema: Path | None, project_dir: Path | None
) -> None:
    """Validate rendered specs: python-pachyderm 7.6, Pachyderm's JSON schema, and the DAG's semantics."""
    project = find_project(project_dir)
    schema_path = locate_schema(project.root, schema)
    schema_doc = load_schema(schema_path) if schema_path is not None else None
    if schema_doc is None:
        click.echo(
            "warning: Pachyderm's CreatePipelineRequest.schema.json not found (set "
            f"${SCHEMA_ENV} or --schema); checked the 2.7 proto and the DAG's semantics only",
            err=True,
        )
    known = target_names(project)
    root = specs_dir if specs_dir is not None else project.specs_dir
    single = any(root.glob("*.json"))
    if single:
        chosen = list(targets) or [root.name]
        if len(chosen) != 1:
            raise click.UsageError(f"{root} holds one set of specs: give one --target")
        plan = [(chosen[0], root)]
    else:
        plan = [(t, root / t) for t in (targets or known)]
    failed = 0
    for target, directory in plan:
        if target not in known:
            raise click.UsageError(f"unknown target {target!r} (known: {', '.join(known)})")
        files = {display_path(p): p for p in sorted(directory.glob("*.json"))}
        if not files:
            raise click.ClickException(
                f"{display_path(directory)}: no specs (run `churn render --target {target}`)"
            )
        policy = Policy.from_params(target_params(project, target))
        issues = validate_files(files, policy, schema_doc)
        for issue in issues:
            click.echo(str(issue), err=True)
        failed += len(issues)
        status = "ok" if not issues else f"{len(issues)} problem(s)"
        click.echo(f"{target}: {len(files)} specs in {display_path(directory)}: {status}")
    if failed:
        sys.exit(1)
