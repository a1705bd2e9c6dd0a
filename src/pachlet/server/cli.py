"""The ``pachlet serve`` click command (registered lazily by ``pachlet.cli.root``)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from pachlet.errors import PachletError

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@click.command("serve")
@click.option("--port", type=int, default=30650, show_default=True, help="TCP port (0 picks a free one).")
@click.option(
    "--address",
    "--bind",
    "address",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback exposes the root to the network WITHOUT auth.",
)
@click.option(
    "--root",
    "serve_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="pachlet root (default: the global --root, env PACHLET_ROOT, or ./.pachlet).",
)
@click.option(
    "--poll", type=float, default=1.0, show_default=True, help="Scheduler wake-up interval (seconds)."
)
@click.option(
    "--no-cron", is_flag=True, help="Do not fire cron inputs on their schedules (run cron still works)."
)
@click.option(
    "--console-port",
    type=int,
    default=None,
    help="Port of the read-only web console, on the same address (default 4000; 0 picks a free one). "
    "If the default port is taken, serve goes on without the console and says so.",
)
@click.option("--no-console", is_flag=True, help="Do not start the web console.")
@click.option(
    "--console-host",
    "console_hosts",
    multiple=True,
    metavar="NAME",
    help="A host name the console also answers to (repeatable). By default it serves only requests "
    "whose Host header is localhost, 127.0.0.1, [::1] or the --address, against DNS rebinding.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every job, cron tick and failed call to stderr.")
@click.pass_context
def serve_command(
    ctx: click.Context,
    port: int,
    address: str,
    serve_root: Path | None,
    poll: float,
    no_cron: bool,
    console_port: int | None,
    no_console: bool,
    console_hosts: tuple[str, ...],
    verbose: bool,
) -> None:
    """Serve the Pachyderm gRPC API (for python-pachyderm and `pachlet --pachd`), fire cron inputs on
    their schedules and run jobs in the background, until SIGTERM or Ctrl-C.

    Holds the root for its whole life: other pachlet commands on the same root talk to it with
    `--pachd localhost:PORT`. The web console (DAG, commits, jobs, datums, logs) is served on
    http://ADDRESS:4000/ unless --no-console."""
    # Imported here so ``pachlet --help`` (which loads this command for its summary) stays fast.
    from pachlet.api import default_root
    from pachlet.server.serve import DEFAULT_CONSOLE_PORT, Server

    state = ctx.obj
    root = serve_root
    if root is None:
        root = getattr(state, "root", None) or default_root()
    lock_timeout = getattr(state, "lock_timeout", None)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    if address not in LOOPBACK:
        click.echo(
            f"pachlet serve: WARNING: listening on {address}: pachlet has no authentication; anyone who can "
            "reach this port can read and change every repo and pipeline of the root",
            err=True,
        )
    try:
        server = Server(
            root,
            address=address,
            port=port,
            lock_timeout=lock_timeout,
            poll=poll,
            cron=not no_cron,
            console_port=None
            if no_console
            else (DEFAULT_CONSOLE_PORT if console_port is None else console_port),
            console_required=console_port is not None,
            console_hosts=console_hosts,
            runtime=getattr(state, "runtime", None),
        )
        code = server.run()
    except (PachletError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    ctx.exit(code)
