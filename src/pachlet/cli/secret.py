"""Secret commands: ``create|list|inspect|delete secret`` (Kubernetes Secret manifests)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pachlet import tables
from pachlet.cli import details
from pachlet.cli.output import emit, output_option
from pachlet.cli.session import open_backend
from pachlet.cli.verbs import create, delete, inspect, list_
from pachlet.errors import PachletError
from pachlet.secrets import SecretManifest, load_manifest_text


def load_manifest(file: str) -> SecretManifest:
    """A Kubernetes Secret manifest (YAML or JSON; ``-`` is stdin); errors name the file and field."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
    except OSError as exc:
        raise PachletError(f"{file}: {exc.strerror or exc}") from None
    try:
        return load_manifest_text(text)
    except PachletError as exc:
        raise PachletError(f"{file}: {exc}") from None


@create.command("secret")
@click.option("-f", "--file", "file", required=True, help="Kubernetes Secret manifest (YAML or JSON).")
@click.pass_context
def create_secret(ctx: click.Context, file: str) -> None:
    """Create (or replace) a secret from a Kubernetes Secret manifest."""
    manifest = load_manifest(file)
    with open_backend(ctx, write=True) as b:
        b.create_secret(manifest)


@list_.command("secret")
@output_option
@click.pass_context
def list_secret(ctx: click.Context, output: str, raw: bool, full_timestamps: bool) -> None:
    """List secrets (names, types and key names; never values)."""
    with open_backend(ctx, write=False) as b:
        items = b.list_secrets()
    emit(
        [i for i, _ in items],
        output,
        raw,
        lambda: tables.secret_table([i for i, _ in items], {i.secret.name: k for i, k in items}),
    )


@inspect.command("secret")
@click.argument("name")
@output_option
@click.pass_context
def inspect_secret(ctx: click.Context, name: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return a secret's metadata and key names (never values)."""
    with open_backend(ctx, write=False) as b:
        info, keys = b.inspect_secret(name)
    emit([info], output, raw, lambda: details.secret_details(info, keys))


@delete.command("secret")
@click.argument("name")
@click.pass_context
def delete_secret(ctx: click.Context, name: str) -> None:
    """Delete a secret."""
    with open_backend(ctx, write=True) as b:
        b.delete_secret(name)
