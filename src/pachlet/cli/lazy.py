"""Click groups that list commands in the order they were added and import heavy ones only when used.

``LazyGroup`` is the one lazy group of both ``pachlet`` and ``churn`` (pattern from click's docs, "Lazily
Loading Subcommands"): built-in commands given as ``{"name": "module.path:attribute"}``, plus optional
commands other distributions register under an entry-point group. ``pachlet --help`` then imports
neither the gRPC server nor a plugin, and a broken plugin only breaks itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click


class OrderedGroup(click.Group):
    """A group whose subcommands are listed in the order they were added (click sorts them)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Subcommand names in insertion order."""
        return list(self.commands)


def load_target(target: str) -> Any:
    """The object ``"module.path:attribute"`` names (imports the module)."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


class LazyGroup(OrderedGroup):
    """A group with eager commands, lazily imported built-ins and entry-point plugins, in that order.

    ``lazy_subcommands`` maps a name to ``"module.path:attribute"`` (a click command), listed after the
    eager commands in insertion order; ``entry_point_group`` adds the commands installed distributions
    register there, listed last, sorted. A name resolves to an eager command first, then a built-in,
    then a plugin. ``sort_commands=True`` lists everything alphabetically instead.
    """

    def __init__(
        self,
        *args: Any,
        lazy_subcommands: Mapping[str, str] | None = None,
        entry_point_group: str | None = None,
        sort_commands: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands: dict[str, str] = dict(lazy_subcommands or {})
        self.entry_point_group = entry_point_group
        self.sort_commands = sort_commands

    def _plugins(self) -> dict[str, Any]:
        if not self.entry_point_group:
            return {}
        from importlib.metadata import entry_points

        return {ep.name: ep for ep in entry_points(group=self.entry_point_group)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Eager commands, then lazy built-ins (insertion order), then plugins (sorted)."""
        names = list(self.commands)
        names += [n for n in self.lazy_subcommands if n not in self.commands]
        names += sorted(n for n in self._plugins() if n not in names)
        return sorted(names) if self.sort_commands else names

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command named ``cmd_name``, importing its module if it is lazy; None if unknown."""
        cmd = self.commands.get(cmd_name)
        if cmd is not None:
            return cmd
        target = self.lazy_subcommands.get(cmd_name)
        if target is not None:
            loaded = load_target(target)
            if not isinstance(loaded, click.Command):
                raise TypeError(f"lazy command {cmd_name!r}: {target} is not a click command")
            return loaded
        ep = self._plugins().get(cmd_name)
        if ep is None:
            return None
        plugin = ep.load()
        return plugin if isinstance(plugin, click.Command) else None
