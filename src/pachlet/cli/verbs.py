"""pachctl's verbs as click groups (``create``, ``list``, ``inspect``, ...), shared by every command module.

Each noun's module (``pachlet.cli.repo``, ``.branch``, ...) registers its subcommands on these groups, as
pachctl's ``pfs/cmds`` and ``pps/cmds`` do on its verb commands; ``pachlet.cli.root`` adds the groups to
the root in ``VERBS`` order. A verb lists its nouns in ``NOUNS`` order, whatever order the modules were
imported in.
"""

from __future__ import annotations

import click

NOUNS = ("repo", "branch", "commit", "file", "pipeline", "cron", "job", "datum", "secret")
"""The order a verb's ``--help`` lists its subcommands in (pachctl's: PFS objects, then PPS ones)."""


class VerbGroup(click.Group):
    """A verb (``create``, ``list``, ...) whose subcommands are nouns, listed in ``NOUNS`` order."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Known nouns in ``NOUNS`` order, then any others in the order they were added."""
        known = [n for n in NOUNS if n in self.commands]
        return known + [n for n in self.commands if n not in NOUNS]


@click.group(cls=VerbGroup)
def create() -> None:
    """Create a repo, branch, pipeline or secret."""


@click.group(cls=VerbGroup, name="list")
def list_() -> None:
    """List repos, branches, commits, files, pipelines, jobs, datums or secrets."""


@click.group(cls=VerbGroup)
def inspect() -> None:
    """Show one repo, branch, commit, file, pipeline, job, datum or secret."""


@click.group(cls=VerbGroup)
def delete() -> None:
    """Delete a repo, branch, file, pipeline, job or secret."""


@click.group(cls=VerbGroup)
def put() -> None:
    """Put data into a repo."""


@click.group(cls=VerbGroup)
def get() -> None:
    """Get data out of a repo."""


@click.group(cls=VerbGroup)
def glob() -> None:
    """Match files by a glob pattern."""


@click.group(cls=VerbGroup)
def wait() -> None:
    """Wait for a commit to finish."""


@click.group(cls=VerbGroup)
def start() -> None:
    """Start a commit, or a stopped pipeline."""


@click.group(cls=VerbGroup)
def finish() -> None:
    """Finish a commit."""


@click.group(cls=VerbGroup)
def update() -> None:
    """Update a pipeline."""


@click.group(cls=VerbGroup)
def run() -> None:
    """Run a cron pipeline now."""


@click.group(cls=VerbGroup)
def stop() -> None:
    """Stop a pipeline, a job, or modifying the active transaction."""


@click.group(cls=VerbGroup)
def resume() -> None:
    """Set an existing transaction as active."""


@click.group(cls=VerbGroup)
def restart() -> None:
    """Restart a datum of a running job."""


@click.group(cls=VerbGroup)
def squash() -> None:
    """Squash a commit set."""


@click.group(cls=VerbGroup)
def diff() -> None:
    """Diff files."""


@click.group(cls=VerbGroup)
def copy() -> None:
    """Copy files between PFS paths."""


@click.group(cls=VerbGroup)
def subscribe() -> None:
    """Stream commits as they are created."""


VERBS: tuple[click.Group, ...] = (
    create,
    list_,
    inspect,
    delete,
    put,
    get,
    glob,
    wait,
    start,
    finish,
    update,
    run,
    stop,
    resume,
    restart,
    squash,
    diff,
    copy,
    subscribe,
)
"""The verb groups, in the order ``pachlet --help`` lists them."""
