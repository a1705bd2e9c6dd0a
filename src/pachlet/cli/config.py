"""pachlet's own config file and ``pachlet config`` / ``pachlet connect``, mirroring pachctl 2.7.6's
(``src/internal/config/``, ``src/server/config/cmds.go``): named contexts, one active; a context may
name a ``pachd_address`` (the CLI then talks to it without ``--pachd``) and holds the active
transaction (``active_transaction``, as pachctl keeps it).

The file is ``$PACHLET_CONFIG``, else ``~/.pachlet/config.json`` (never pachctl's
``~/.pachyderm/config.json``), written 0600 in a 0700 directory, replaced atomically. Layout (pachctl's
``v2`` section)::

    {"v2": {"active_context": "local", "contexts": {"local": {"pachd_address": "", "active_transaction": ""}}}}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from pachlet.errors import NotFoundError, PachletError

CONFIG_ENV = "PACHLET_CONFIG"
DEFAULT_CONTEXT = "local"
CONTEXT_FIELDS = ("pachd_address", "active_transaction", "project")
"""The context fields pachlet reads (others in the file are kept as they are)."""


def config_path() -> Path:
    """``$PACHLET_CONFIG``, else ``~/.pachlet/config.json``."""
    return Path(os.environ.get(CONFIG_ENV) or Path.home() / ".pachlet" / "config.json")


def load_config() -> dict[str, Any]:
    """The config (a default one when the file is absent); a broken file is one clear error."""
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        data = {}
    except (OSError, ValueError) as exc:
        raise PachletError(f"pachlet config {path}: cannot read it ({exc})") from None
    if not isinstance(data, dict):
        raise PachletError(f"pachlet config {path}: expected a JSON object")
    v2 = data.setdefault("v2", {})
    v2.setdefault("active_context", DEFAULT_CONTEXT)
    contexts = v2.setdefault("contexts", {})
    contexts.setdefault(v2["active_context"], {})
    return data


def save_config(data: dict[str, Any]) -> None:
    """Write the config atomically, 0600."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)


def active_context() -> tuple[str, dict[str, Any]]:
    """(name, fields) of the active context."""
    v2 = load_config()["v2"]
    name = v2["active_context"]
    return name, dict(v2["contexts"].get(name) or {})


def update_active_context(**fields: str | None) -> None:
    """Set (or, with None / "", clear) fields of the active context."""
    data = load_config()
    v2 = data["v2"]
    ctx = v2["contexts"].setdefault(v2["active_context"], {})
    for key, value in fields.items():
        if value:
            ctx[key] = value
        else:
            ctx.pop(key, None)
    save_config(data)


def context_pachd() -> str | None:
    """The active context's ``pachd_address`` (None when it has none: the local root)."""
    return active_context()[1].get("pachd_address") or None


@click.group("config")
def config() -> None:
    """Manage pachlet's config (contexts, as pachctl config)."""


@config.group("get")
def config_get() -> None:
    """Get a config value."""


@config.group("set")
def config_set() -> None:
    """Set a config value."""


@config.group("list")
def config_list() -> None:
    """List config values."""


@config.group("delete")
def config_delete() -> None:
    """Delete a config value."""


@config_get.command("active-context")
def get_active_context() -> None:
    """Print the name of the active context."""
    click.echo(load_config()["v2"]["active_context"])


@config_set.command("active-context")
@click.argument("name")
def set_active_context(name: str) -> None:
    """Make a context the active one."""
    data = load_config()
    if name not in data["v2"]["contexts"]:
        raise NotFoundError(f"context does not exist: {name}")
    data["v2"]["active_context"] = name
    save_config(data)


@config_get.command("context")
@click.argument("name")
def get_context(name: str) -> None:
    """Print a context as JSON."""
    ctx = load_config()["v2"]["contexts"].get(name)
    if ctx is None:
        raise NotFoundError(f"context does not exist: {name}")
    click.echo(json.dumps(ctx, indent=2, sort_keys=True))


@config_set.command("context")
@click.argument("name")
@click.option("--pachd-address", default=None, help="The pachd (HOST:PORT) the context talks to.")
@click.option("--overwrite", is_flag=True, help="Replace an existing context.")
def set_context(name: str, pachd_address: str | None, overwrite: bool) -> None:
    """Create a context (``--pachd-address``, or the context's JSON on stdin, as pachctl reads it)."""
    data = load_config()
    contexts = data["v2"]["contexts"]
    if name in contexts and contexts[name] and not overwrite:
        raise PachletError(f"context '{name}' already exists, use `--overwrite` if you wish to replace it")
    if pachd_address is not None:
        ctx: dict[str, Any] = {"pachd_address": pachd_address}
    else:
        text = click.get_text_stream("stdin").read()
        try:
            ctx = json.loads(text or "{}")
        except ValueError as exc:
            raise PachletError(f"config set context {name}: stdin is not a JSON object ({exc})") from None
        if not isinstance(ctx, dict):
            raise PachletError(f"config set context {name}: stdin is not a JSON object")
    contexts[name] = ctx
    save_config(data)


@config_delete.command("context")
@click.argument("name")
def delete_context(name: str) -> None:
    """Delete a context (not the active one)."""
    data = load_config()
    if name not in data["v2"]["contexts"]:
        raise NotFoundError(f"context does not exist: {name}")
    if name == data["v2"]["active_context"]:
        raise PachletError("cannot delete an active context")
    del data["v2"]["contexts"][name]
    save_config(data)


@config_list.command("context")
def list_context() -> None:
    """List contexts; the active one is marked with ``*``."""
    v2 = load_config()["v2"]
    click.echo("  NAME")
    for name in sorted(v2["contexts"]):
        click.echo(f"{'*' if name == v2['active_context'] else ' '} {name}")


@config_get.command("path")
def get_path() -> None:
    """Print where the config file is."""
    click.echo(str(config_path()))


@click.command("connect")
@click.argument("address")
def connect(address: str) -> None:
    """Talk to a pachd from now on: create (or update) a context named after the address and make it
    active (pachctl connect)."""
    bare = address.removeprefix("grpc://")
    host, _, port = bare.rpartition(":")
    if not host or not port.isdigit():
        raise PachletError(f"connect {address!r}: expected [grpc://]HOST:PORT")
    data = load_config()
    data["v2"]["contexts"].setdefault(bare, {})["pachd_address"] = bare
    data["v2"]["active_context"] = bare
    save_config(data)
    click.echo(f"Context {bare!r} set as active")
