"""The SQL egress's errors (as pachd's ``sdata/errors.go`` holds the tuple errors)."""

from __future__ import annotations

from pachlet.errors import PachletError


class EgressError(PachletError):
    """SQL egress failed; the message names the URL, table, file and row, with the password redacted.
    ``connect_failed`` is True when the warehouse could not be reached at all (worth retrying)."""

    def __init__(self, message: str, *, connect_failed: bool = False) -> None:
        super().__init__(message)
        self.connect_failed = connect_failed


class RowError(Exception):
    """A bad value or row inside one file (``load_tables`` makes it part of an ``EgressError`` message
    naming the table and file)."""


def one_line(text: object) -> str:
    """``text`` on one line, runs of blanks and newlines collapsed (for one-line error messages)."""
    return " ".join(str(text).split())
