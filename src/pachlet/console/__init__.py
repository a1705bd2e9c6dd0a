"""pachlet's read-only web console: the DAG, repos, commits with provenance, global IDs, pipelines,
jobs, datums and logs, served by ``pachlet serve`` (default http://127.0.0.1:4000/).

``create_app(root_or_pachlet, plugins=...)`` returns the Starlette app; project pages come from
plugins (see ``pachlet.console.plugins``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> Starlette:
    """See ``pachlet.console.app.create_app`` (imported lazily: Starlette and Jinja2 load on use)."""
    from pachlet.console.app import create_app as _create_app

    return _create_app(*args, **kwargs)
