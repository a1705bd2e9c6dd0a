"""Console plugins: project-specific pages added to the console without pachlet knowing the project.

A plugin is a module (or any object) with a ``register(console)`` function, found by name in

- the entry-point group ``pachlet.console_plugins`` (``churn = "churn.console_plugin"``),
- the environment variable ``PACHLET_CONSOLE_PLUGINS`` (``name=module[,name=module...]``), and
- ``create_app(..., plugins={"name": module})``; later sources replace earlier ones of the same name.

``register`` receives a ``PluginRegistry`` bound to the plugin's name: its pages are served under
``/<name>/...``, its templates are named ``<name>/<template>`` and may extend ``base.html``. A plugin
that fails to load or register is skipped; the error is shown on the console's home page.

The registry reaches the console only through ``ConsoleHost`` (the facade and ``render``), so this
module does not depend on the app that uses it.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

if TYPE_CHECKING:
    from pachlet.api import Pachlet

log = logging.getLogger("pachlet.console")

ENTRY_POINT_GROUP = "pachlet.console_plugins"
ENV_VAR = "PACHLET_CONSOLE_PLUGINS"
# Not a Pachyderm name (pachlet.names): a plugin's name is the first segment of its pages' URLs and of
# its template names, so it is kept lower-case and starts with a letter.
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")

Endpoint = Callable[[Request], Response]


class ConsoleHost(Protocol):
    """What a plugin's registry may use of the console (``pachlet.console.app.Console`` is one)."""

    @property
    def pachlet(self) -> Pachlet:
        """The facade the console reads."""
        ...

    def render(
        self, request: Request, template: str, context: dict[str, Any], status_code: int = 200
    ) -> HTMLResponse:
        """Render a template (autoescaped) with the console's common context."""
        ...


@dataclass
class PluginPage:
    """A page a plugin serves: its full URL path, the endpoint and an optional navigation label."""

    path: str
    endpoint: Endpoint
    nav: str | None = None


@dataclass
class PluginRegistry:
    """What a plugin's ``register`` gets: add pages, templates and links, render templates."""

    name: str
    console: ConsoleHost
    pages: list[PluginPage] = field(default_factory=list)
    templates: dict[str, str] = field(default_factory=dict)
    template_dirs: list[Path] = field(default_factory=list)
    repo_links: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    @property
    def pachlet(self) -> Pachlet:
        """The facade the console reads (read-only use only)."""
        return self.console.pachlet

    def url(self, path: str = "") -> str:
        """The URL of one of this plugin's pages: ``url("/model")`` is ``/<name>/model``."""
        return f"/{self.name}{path if path.startswith('/') or not path else '/' + path}"

    def add_page(self, path: str, endpoint: Endpoint, *, nav: str | None = None) -> None:
        """Serve ``endpoint(request) -> Response`` (a plain function, run in a worker thread) at
        ``/<name><path>`` for GET; ``nav`` puts a link to it in the console's top bar."""
        self.pages.append(PluginPage(self.url(path), endpoint, nav))

    def add_templates(self, templates: Mapping[str, str] | Path) -> None:
        """Templates as ``{"model.html": source}`` or a directory; named ``<name>/<file>``."""
        if isinstance(templates, Path):
            self.template_dirs.append(templates)
        else:
            self.templates.update(templates)

    def add_repo_link(self, repo: str, label: str, path: str) -> None:
        """Show a link ``label`` to ``/<name><path>`` on the page of ``repo``."""
        self.repo_links.setdefault(repo, []).append((label, self.url(path)))

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        """Render ``<name>/<template>`` with ``context`` (autoescaped) as an HTML response."""
        return self.console.render(request, f"{self.name}/{template}", dict(context or {}), status_code)


def discover(explicit: Mapping[str, Any] | None = None, *, use_entry_points: bool = True) -> dict[str, Any]:
    """Plugin name -> loaded object, from entry points, ``PACHLET_CONSOLE_PLUGINS`` and ``explicit``.
    Values that are strings are imported as modules. Load errors are logged and returned as
    ``Exception`` values so the console can show them."""
    found: dict[str, Any] = {}
    if use_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                found[ep.name] = ep.load()
            except Exception as exc:  # a broken plugin must not take the console down
                log.warning("console plugin %s failed to load: %s", ep.name, exc)
                found[ep.name] = exc
    for item in filter(None, (os.environ.get(ENV_VAR) or "").split(",")):
        name, _, module = item.strip().partition("=")
        found[name.strip()] = module.strip() or name.strip()
    found.update(explicit or {})
    for name, obj in list(found.items()):
        if isinstance(obj, str):
            try:
                found[name] = importlib.import_module(obj)
            except Exception as exc:
                log.warning("console plugin %s (%s) failed to import: %s", name, obj, exc)
                found[name] = exc
    return found


def register_all(
    console: ConsoleHost, plugins: Mapping[str, Any]
) -> tuple[list[PluginRegistry], dict[str, str]]:
    """Call each plugin's ``register``; returns the registries and the errors by plugin name."""
    registries: list[PluginRegistry] = []
    errors: dict[str, str] = {}
    for name, obj in sorted(plugins.items()):
        if isinstance(obj, Exception):
            errors[name] = f"{type(obj).__name__}: {obj}"
            continue
        if not _NAME_RE.match(name):
            errors[name] = "invalid plugin name (lower-case letters, digits, '_' and '-')"
            continue
        register = getattr(obj, "register", None)
        if not callable(register):
            errors[name] = "no register(console) function"
            continue
        reg = PluginRegistry(name=name, console=console)
        try:
            register(reg)
        except Exception as exc:
            log.warning("console plugin %s failed to register: %s", name, exc)
            errors[name] = f"{type(exc).__name__}: {exc}"
            continue
        registries.append(reg)
    return registries, errors
