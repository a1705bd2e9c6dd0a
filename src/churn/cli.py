"""The `churn` command: warehouse, render, validate, deploy, demo, explain."""

from __future__ import annotations

import click

from churn.lazycli import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy_subcommands={
        "warehouse": "churn.warehouse.cli:warehouse",
        "render": "churn.specs:render_command",
        "validate": "churn.specs:validate_command",
        "deploy": "churn.deploy:deploy_command",
        "demo": "churn.demo:demo_command",
        "explain": "churn.lineage:explain_command",
    },
)
@click.version_option(package_name="churn-pachlet")
def cli() -> None:
    """Churn prediction on Snowflake, run the Pachyderm way (locally on pachlet or on a cluster)."""


def main() -> None:
    """Console-script entry point."""
    cli()
