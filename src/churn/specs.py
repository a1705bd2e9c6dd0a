"""`churn render` and `churn validate`: Jsonnet -> specs/<target>/*.json, and checks of those specs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from churn.render import (
    Project,
    RenderError,
    dependency_order,
    display_path,
    drift,
    dump_spec,
    find_project,
    render_target,
    target_names,
    target_params,
    write_specs,
)
from churn.validate import SCHEMA_ENV, Policy, SchemaNotFoundError, load_schema, locate_schema, validate_files


def _parse_tla(values: tuple[str, ...]) -> dict[str, str]:
    tla: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--tla")
        tla[key] = value
    return tla


def _project(project_dir: Path | None) -> Project:
    try:
        return find_project(project_dir)
    except RenderError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("render")
@click.option("--target", "-t", "target", help="Target to render (local, cluster, cluster-v2.8).")
@click.option("--all", "all_targets", is_flag=True, help="Render every target into specs/<target>/.")
@click.option(
    "--out", type=click.Path(path_type=Path), help="Directory to write into (default specs/<target>)."
)
@click.option(
    "--stdout", "to_stdout", is_flag=True, help="Print the specs in dependency order (pachctl -f -)."
)
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 if the committed specs drift from the Jsonnet."
)
@click.option(
    "--tla", multiple=True, metavar="KEY=VALUE", help="Override a target parameter (account, user, ...)."
)
@click.option("--project-dir", type=click.Path(path_type=Path, file_okay=False), help="Project checkout.")
def render_command(
    target: str | None,
    all_targets: bool,
    out: Path | None,
    to_stdout: bool,
    check: bool,
    tla: tuple[str, ...],
    project_dir: Path | None,
) -> None:
    """Render pipelines/*.jsonnet into Pachyderm specs, one canonical JSON file per pipeline."""
    if bool(target) == all_targets:
        raise click.UsageError("give exactly one of --target T or --all")
    if to_stdout and (out or check or all_targets):
        raise click.UsageError("--stdout renders one target and writes no files")
    project = _project(project_dir)
    overrides = _parse_tla(tla)
    try:
        targets = target_names(project) if all_targets else [str(target)]
        problems: list[str] = []
        for name in targets:
            specs = render_target(project, name, overrides)
            if to_stdout:
                for pipeline in dependency_order(specs):
                    sys.stdout.write(dump_spec(specs[pipeline]))
                continue
            base = out if out is not None else project.specs_dir
            dest = base / name if (all_targets or out is None) else base
            if check:
                problems.extend(drift(specs, dest))
                continue
            changed = write_specs(specs, dest)
            click.echo(
                f"{name}: {len(specs)} specs in {display_path(dest)} ({len(changed)} changed)", err=True
            )
    except RenderError as exc:
        raise click.ClickException(str(exc)) from exc
    if problems:
        for line in problems:
            click.echo(line, err=True)
        sys.exit(1)
    if check:
        click.echo(f"no drift: {', '.join(targets)}", err=True)


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
def validate_command(
    targets: tuple[str, ...], specs_dir: Path | None, schema: Path | None, project_dir: Path | None
) -> None:
    """Validate rendered specs: python-pachyderm 7.6, Pachyderm's JSON schema, and the DAG's semantics."""
    project = _project(project_dir)
    try:
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
    except (RenderError, SchemaNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    if failed:
        sys.exit(1)
