"""`churn render`: Jsonnet -> specs/<target>/*.json (or the specs in dependency order on stdout)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from churn.cli.errors import one_line_errors
from churn.render import (
    display_path,
    drift,
    dump_spec,
    find_project,
    render_target,
    target_names,
    write_specs,
)
from churn.specs import dependency_order


def _parse_tla(values: tuple[str, ...]) -> dict[str, str]:
    tla: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--tla")
        tla[key] = value
    return tla


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
@one_line_errors
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
    project = find_project(project_dir)
    overrides = _parse_tla(tla)
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
        click.echo(f"{name}: {len(specs)} specs in {display_path(dest)} ({len(changed)} changed)", err=True)
    if problems:
        for line in problems:
            click.echo(line, err=True)
        sys.exit(1)
    if check:
        click.echo(f"no drift: {', '.join(targets)}", err=True)
