"""The one place churn's errors become click errors: one line on stderr, exit status 1."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import click

from churn.errors import ChurnError

P = ParamSpec("P")
R = TypeVar("R")


def one_line_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command callback: a ``ChurnError`` it raises (warehouse and stage errors included)
    becomes a ``click.ClickException`` with the same message."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ChurnError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper
