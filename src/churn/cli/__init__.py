"""The `churn` command: warehouse, render, validate, deploy, demo, explain, jupyter, monitor (one module per command)."""

from __future__ import annotations

import click

from pachlet.cli.lazy import LazyGroup


@click.group(
    cls=LazyGroup,
    sort_commands=True,
    lazy_subcommands={
        "warehouse": "churn.cli.warehouse:warehouse",
        "render": "churn.cli.render:render_command",
        "validate": "churn.cli.validate:validate_command",
        "deploy": "churn.cli.deploy:deploy_command",
        "demo": "churn.cli.demo:demo_command",
        "explain": "churn.cli.explain:explain_command",
        "jupyter": "churn.cli.jupyter:jupyter_command",
        "monitor": "churn.stages.monitor:cli",
    },
)
@click.version_option(package_name="churn-pachlet")
def cli() -> None:
    """Churn prediction on Snowflake, run the Pachyderm way (locally on pachlet or on a cluster)."""


def main() -> None:
    """Console-script entry point."""
    cli()
