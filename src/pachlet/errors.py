"""Errors pachlet raises; each carries a message fit to print as one line."""

from __future__ import annotations


class PachletError(Exception):
    """Base class: a user-facing error with a clear one-line message."""


class NotFoundError(PachletError):
    """A repo, branch, commit, file, pipeline, job or datum that does not exist."""


class AlreadyExistsError(PachletError):
    """Creating something that already exists."""


class SpecError(PachletError):
    """An invalid pipeline spec; the message names the pipeline (or file) and the field."""

    def __init__(
        self,
        message: str,
        *,
        pipeline: str | None = None,
        field: str | None = None,
        source: str | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.field = field
        self.source = source
        where = []
        if source:
            where.append(source)
        if pipeline:
            where.append(f"pipeline {pipeline!r}")
        if field:
            where.append(f"field {field!r}")
        super().__init__(f"{': '.join(where)}: {message}" if where else message)


class LockTimeoutError(PachletError):
    """Another process holds the root (or the warehouse) for longer than the timeout."""


class JobFailedError(PachletError):
    """A job ended in FAILURE; the message gives the reason."""
