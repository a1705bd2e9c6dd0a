"""The ``pachlet`` command line: pachctl's verbs and argument forms over a local root or a pachd.

Every command talks to a backend (``pachlet.cli.backend.Backend``) that returns python-pachyderm proto
messages, so ``--raw`` prints what ``pachctl ... --raw`` prints and the tables come from the same
objects. Mutating commands that queue jobs run them to completion (with a progress bar on stderr)
unless ``--no-wait``. Errors are one line on stderr and exit code 1.

Layout: ``refs`` (argument parsing), ``backend`` / ``local`` / ``remote`` (the interface and its two
implementations), ``session`` (opening one), ``output`` (options, JSON, progress), ``lazy`` (the lazy
click group, shared with ``churn``), ``verbs`` (the verb groups), one module per noun (``repo``,
``branch``, ``commit``, ``file``, ``pipeline``, ``job``, ``datum``, ``secret``, ``admin``), ``putfile``
(``put file``'s naming), ``details`` (the ``inspect`` views) and ``root`` (the root group and ``main``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["cli", "main"]


def __getattr__(name: str) -> Any:
    # The root group imports every command module; importing ``pachlet.cli.lazy`` (churn does) or
    # ``pachlet.cli.refs`` should not.
    if name in __all__:
        from pachlet.cli.root import cli, main

        return {"cli": cli, "main": main}[name]
    raise AttributeError(f"module 'pachlet.cli' has no attribute {name!r}")
