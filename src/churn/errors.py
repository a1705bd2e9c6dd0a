"""churn's exception root and the errors of its core modules (render, validate, deploy, demo, lineage).

Core modules raise these; only the command modules in ``churn.cli`` turn them into click errors. The
warehouse package has its own root (``churn.warehouse.errors.WarehouseError``) and the stages theirs
(``churn.stages.common.StageError``); both subclass :class:`ChurnError`.
"""

from __future__ import annotations


class ChurnError(Exception):
    """Root of every error churn raises on purpose; the message is one line, ready for the user."""


class RenderError(ChurnError):
    """A pipeline definition could not be rendered (one line naming the file)."""


class SpecError(ChurnError):
    """A rendered spec file cannot be read as a pipeline set: bad JSON, no name, a duplicate, a cycle."""


class SchemaNotFoundError(ChurnError):
    """Pachyderm's JSON schema could not be located."""


class DeployError(ChurnError):
    """A deploy failure, reported as one line."""


class DemoError(ChurnError):
    """A demo step failed; the message names the step."""


class LineageError(ChurnError):
    """A score row, commit or job on the lineage path is missing; the message says which."""
