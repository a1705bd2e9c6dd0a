"""The console's ``Host`` check, against DNS rebinding: a web page on another origin whose name is made
to resolve to 127.0.0.1 reaches a loopback-bound console with its own name in ``Host``; only requests
naming the console's own address are served.

Allowed: ``localhost``, ``127.0.0.1``, ``::1`` (any port), the bound address (unless it is a wildcard
such as ``0.0.0.0``), and the names added with ``pachlet serve --console-host NAME``.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_ADDRESSES = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - names, not a bind


def host_name(header: str) -> str:
    """The name part of a ``Host`` header value: the port dropped, IPv6 brackets removed, lower case,
    without a trailing dot."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def allowed_hosts(address: str | None = None, extra: Iterable[str] = ()) -> frozenset[str]:
    """The host names the console answers to when bound to ``address``, plus ``extra``."""
    names = set(LOOPBACK_HOSTS)
    if address and address not in WILDCARD_ADDRESSES:
        names.add(host_name(f"[{address}]" if ":" in address else address))
    names.update(host_name(n) for n in extra if n.strip())
    return frozenset(names)


class HostCheckMiddleware:
    """421 for an HTTP request whose ``Host`` header is missing or names another host."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
        if host_name(header) not in self.hosts:
            response = PlainTextResponse(
                "421 Misdirected Request: this console only answers to "
                + ", ".join(sorted(self.hosts))
                + " (add a name with pachlet serve --console-host NAME)",
                status_code=421,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
