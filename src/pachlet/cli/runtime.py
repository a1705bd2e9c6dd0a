"""``pachlet runtime``: show or change the root's runtime settings (``<root>/runtime.json``)."""

from __future__ import annotations

import json
import os

import click

from pachlet.cli.session import State, check_not_served
from pachlet.errors import PachletError


@click.command("runtime")
@click.option(
    "--set",
    "set_runtime",
    type=click.Choice(["host", "sandbox", "container", "auto"]),
    default=None,
    help="The root's runtime (PACHLET_RUNTIME and --runtime still override it).",
)
@click.option("--engine", default=None, help="Container engine for the container runtime (podman or docker).")
@click.option(
    "--env", "env", multiple=True, metavar="NAME=VALUE", help="A variable for every sandbox/container datum."
)
@click.option(
    "--mount",
    "mounts",
    multiple=True,
    metavar="DIR",
    help="A host directory mounted read-write at its own path.",
)
@click.option(
    "--network",
    "network",
    multiple=True,
    metavar="PIPELINE",
    help="A pipeline whose containers get a network.",
)
@click.option("--user", default=None, help="Container datums' user (UID[:GID]) when the spec sets none.")
@click.option("--clear", is_flag=True, help="Start from the defaults instead of the current settings.")
@click.pass_context
def runtime(
    ctx: click.Context,
    set_runtime: str | None,
    engine: str | None,
    env: tuple[str, ...],
    mounts: tuple[str, ...],
    network: tuple[str, ...],
    user: str | None,
    clear: bool,
) -> None:
    """Show the root's runtime settings, or change them (local root only; before `pachlet serve`)."""
    from pachlet.api import Pachlet
    from pachlet.runtimes import RuntimeSettings

    state: State = ctx.find_object(State)
    if state.pachd:
        raise PachletError(
            "pachlet runtime: runtime settings belong to a local root; not available with --pachd"
        )
    changing = bool(
        set_runtime or engine is not None or env or mounts or network or user is not None or clear
    )
    check_not_served(state.root)
    with Pachlet.open(state.root, read_only=not changing and (state.root / "pachlet.db").exists()) as p:
        s = RuntimeSettings() if clear else p.runtime_settings()
        if changing:
            if set_runtime:
                s.runtime = set_runtime
            if engine is not None:
                s.engine = engine
            if user is not None:
                s.user = user
            for item in env:
                name, sep, value = item.partition("=")
                if not sep or not name:
                    raise PachletError(f"--env {item!r}: expected NAME=VALUE")
                s.env[name] = value
            s.mounts += [a for a in map(os.path.abspath, mounts) if a not in s.mounts]
            s.network += [n for n in network if n not in s.network]
            p.set_runtime_settings(s)
        click.echo(json.dumps(s.to_dict(), indent=2, sort_keys=True))
