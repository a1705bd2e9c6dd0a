"""The root ``pachlet`` group (global options, the verb groups, the top-level commands) and ``main()``.

Commands are registered one way each: the nouns' modules put their subcommands on the verb groups of
``pachlet.cli.verbs``; top-level commands are added here; ``serve`` (the gRPC server, heavy) is a lazy
built-in; other distributions add commands under the ``pachlet.commands`` entry-point group.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click

import pachlet.cli.branch
import pachlet.cli.commit
import pachlet.cli.datum
import pachlet.cli.file
import pachlet.cli.pipeline
import pachlet.cli.repo
import pachlet.cli.secret
from pachlet import __version__
from pachlet.cli.admin import fsck, mount, version
from pachlet.cli.job import logs
from pachlet.cli.lazy import LazyGroup
from pachlet.cli.runtime import runtime
from pachlet.cli.session import State
from pachlet.cli.verbs import VERBS
from pachlet.errors import PachletError
from pachlet.lock import LOCK_TIMEOUT_ENV

NOUN_MODULES = (
    pachlet.cli.repo, pachlet.cli.branch, pachlet.cli.commit, pachlet.cli.file, pachlet.cli.pipeline,
    pachlet.cli.job, pachlet.cli.datum, pachlet.cli.secret,
)  # fmt: skip
"""The modules registering subcommands on the verb groups (importing them is what registers them)."""

PLUGIN_GROUP = "pachlet.commands"
"""Entry-point group for top-level commands other distributions add (a click command each); loaded
lazily, so ``pachlet`` starts fast and a broken plugin only breaks itself."""

LAZY_COMMANDS = {"next": "pachlet.cli.worker:next_group", "serve": "pachlet.server.cli:serve_command"}
"""Top-level commands of pachlet's own heavier modules, imported only when used."""

TOP_LEVEL = (logs, fsck, mount, runtime, version)
"""The top-level commands after the verbs, in ``pachlet --help`` order."""


class _NoRpcError(Exception):
    """Stands in for grpc.RpcError while grpc is not imported (then no RPC can have failed)."""


def _rpc_error() -> type[Exception]:
    # Evaluated only when an exception reaches that ``except``: grpc stays unimported unless a remote
    # backend loaded it.
    grpc = sys.modules.get("grpc")
    return grpc.RpcError if grpc is not None else _NoRpcError


def _last_address() -> str:
    if "pachlet.cli.remote" not in sys.modules:
        return ""
    from pachlet.cli.remote import RemoteBackend

    return RemoteBackend.last_address


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    lazy_subcommands=LAZY_COMMANDS,
    entry_point_group=PLUGIN_GROUP,
)
@click.option(
    "--root", envvar="PACHLET_ROOT", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="pachlet root (env PACHLET_ROOT; default ./.pachlet).",
)  # fmt: skip
@click.option(
    "--lock-timeout", envvar="PACHLET_LOCK_TIMEOUT", type=float, default=None,
    help="Seconds any lock wait lasts: the root, and the embedded warehouse for the egress and the "
    "datums (env PACHLET_LOCK_TIMEOUT; default 30).",
)  # fmt: skip
@click.option(
    "--pachd", envvar="PACHD_ADDRESS", default=None, metavar="HOST:PORT",
    help="Talk to a running pachd (pachlet serve, or a cluster) instead of opening the root (env PACHD_ADDRESS).",
)  # fmt: skip
@click.option(
    "--runtime", type=click.Choice(["host", "sandbox", "container", "auto"]), default=None,
    help="Where datums run (default: env PACHLET_RUNTIME, else the root's runtime.json, else auto: "
    "sandbox where bubblewrap works, else host).",
)  # fmt: skip
@click.version_option(__version__, "--version", prog_name="pachlet")
@click.pass_context
def cli(
    ctx: click.Context, root: Path | None, lock_timeout: float | None, pachd: str | None, runtime: str | None
) -> None:
    """pachlet: run Pachyderm 2.x pipeline specs locally, with pachctl's verbs."""
    if lock_timeout is not None:
        # one setting for every lock wait: the egress (in this process) and the datums (its children)
        # read it from the environment
        os.environ[LOCK_TIMEOUT_ENV] = repr(lock_timeout)
    ctx.obj = State(
        root=root if root is not None else Path(".pachlet"),
        lock_timeout=lock_timeout,
        pachd=pachd or None,
        runtime=runtime,
    )


for _command in (*VERBS, *TOP_LEVEL):
    cli.add_command(_command)


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).strip().splitlines() if part.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Console script entry point: run the CLI; PachletError -> one line on stderr, exit code 1."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="pachlet", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except PachletError as exc:
        click.echo(f"pachlet: {_one_line(str(exc))}", err=True)
        return 1
    except _rpc_error() as exc:
        details = exc.details() if hasattr(exc, "details") else str(exc)
        code = exc.code().name if hasattr(exc, "code") else "ERROR"
        click.echo(f"pachlet: pachd {_last_address()}: {code}: {_one_line(details or '')}", err=True)
        return 1
    except ConnectionError as exc:  # python-pachyderm's rewording of UNAVAILABLE
        click.echo(f"pachlet: pachd {_last_address()}: UNAVAILABLE: {_one_line(str(exc))}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("pachlet: interrupted (queued jobs resume on the next command)", err=True)
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        click.echo(f"pachlet:{where} {exc.strerror or exc}", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
