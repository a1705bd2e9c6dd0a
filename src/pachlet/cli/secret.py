"""Secret commands: ``create|list|inspect|delete secret`` (Kubernetes Secret manifests)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from pachlet import tables
from pachlet.cli.output import emit_json, output_option, want_json
from pachlet.cli.session import open_backend
from pachlet.cli.verbs import create, delete, inspect, list_
from pachlet.errors import PachletError


def load_manifest(file: str) -> dict[str, Any]:
    """A Kubernetes Secret manifest (YAML or JSON; ``-`` is stdin); errors name the file and field."""
    import yaml

    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
    except OSError as exc:
        raise PachletError(f"{file}: {exc.strerror or exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise PachletError(f"{file}: not a YAML/JSON document: {first}") from None
    if not isinstance(doc, dict):
        raise PachletError(f"{file}: expected a Kubernetes Secret object")
    if doc.get("kind", "Secret") != "Secret":
        raise PachletError(f"{file}: field 'kind': expected Secret, got {doc.get('kind')!r}")
    if not (doc.get("metadata") or {}).get("name"):
        raise PachletError(f"{file}: field 'metadata.name' is required")
    for section in ("data", "stringData"):
        if section in doc and not isinstance(doc[section], dict | type(None)):
            raise PachletError(f"{file}: field {section!r} must be a mapping of key to value")
    return doc


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
    if want_json(output, raw):
        emit_json(i for i, _ in items)
    else:
        click.echo(tables.secret_table([i for i, _ in items], {i.secret.name: k for i, k in items}), nl=False)


@inspect.command("secret")
@click.argument("name")
@output_option
@click.pass_context
def inspect_secret(ctx: click.Context, name: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return a secret's metadata and key names (never values)."""
    with open_backend(ctx, write=False) as b:
        info, keys = b.inspect_secret(name)
    if want_json(output, raw):
        emit_json([info])
    else:
        click.echo(tables.secret_details(info, keys), nl=False)


@delete.command("secret")
@click.argument("name")
@click.pass_context
def delete_secret(ctx: click.Context, name: str) -> None:
    """Delete a secret."""
    with open_backend(ctx, write=True) as b:
        b.delete_secret(name)
