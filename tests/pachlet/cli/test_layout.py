"""The CLI package's structure: both backends implement the Backend protocol, the shared lazy group,
and a start-up that imports neither grpc nor python-pachyderm."""

from __future__ import annotations

import inspect
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from pachlet import __version__
from pachlet.cli.backend import Backend
from pachlet.cli.lazy import LazyGroup
from pachlet.cli.local import LocalBackend
from pachlet.cli.remote import RemoteBackend

PROTOCOL_METHODS = sorted(
    name for name, value in vars(Backend).items() if callable(value) and not name.startswith("_")
)


def test_protocol_declares_every_backend_method() -> None:
    for cls in (LocalBackend, RemoteBackend):
        public = {n for n, v in vars(cls).items() if callable(v) and not n.startswith("_")}
        assert public == set(PROTOCOL_METHODS), cls.__name__


@pytest.mark.parametrize("name", PROTOCOL_METHODS)
@pytest.mark.parametrize("cls", [LocalBackend, RemoteBackend])
def test_backend_signature_matches_protocol(cls: type, name: str) -> None:
    expected = inspect.signature(getattr(Backend, name))
    actual = inspect.signature(getattr(cls, name))
    assert list(actual.parameters) == list(expected.parameters)
    assert actual.return_annotation == expected.return_annotation


@click.command("eager")
def _eager() -> None:
    """An eager command."""


LAZY = {"version": "pachlet.cli.admin:version", "fsck": "pachlet.cli.admin:fsck"}


def test_lazy_group_lists_eager_then_lazy_in_insertion_order() -> None:
    group = LazyGroup("g", lazy_subcommands=LAZY)
    group.add_command(_eager)
    ctx = click.Context(group)
    assert group.list_commands(ctx) == ["eager", "version", "fsck"]
    from pachlet.cli.admin import version

    assert group.get_command(ctx, "version") is version
    assert group.get_command(ctx, "nope") is None
    result = CliRunner().invoke(group, ["version", "--client-only"])
    assert result.exit_code == 0 and result.output == f"{__version__}\n"  # pachctl: the bare version


def test_lazy_group_can_sort_like_churns_old_group() -> None:
    group = LazyGroup("g", lazy_subcommands=LAZY, sort_commands=True)
    group.add_command(_eager)
    assert group.list_commands(click.Context(group)) == ["eager", "fsck", "version"]


def test_lazy_group_rejects_a_target_that_is_not_a_command() -> None:
    group = LazyGroup("g", lazy_subcommands={"bad": "pachlet.cli.root:LAZY_COMMANDS"})
    with pytest.raises(TypeError, match="not a click command"):
        group.get_command(click.Context(group), "bad")


def test_root_group_lists_serve_once_and_last() -> None:
    from pachlet.cli import cli

    names = cli.list_commands(click.Context(cli))
    assert names.count("serve") == 1 and names[-1] == "serve"
    assert names[:3] == ["create", "list", "inspect"]


def test_start_up_imports_neither_grpc_nor_python_pachyderm() -> None:
    code = (
        "import sys; import pachlet.cli.root, pachlet.cli.lazy; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'grpc', 'python_pachyderm'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
