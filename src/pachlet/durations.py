"""Durations as pachd reads them: Go's ``time.ParseDuration`` grammar, the one parser pachlet uses.

pachd parses ``datumTimeout`` / ``jobTimeout`` (protobuf Durations, written as Go duration strings in
specs) and cron ``@every`` delays with ``time.ParseDuration``: an optional sign, then one or more
``<number><unit>`` terms where the number may have a fraction (``1.5h``, ``.5s``, ``1.s``), units ``ns``,
``us`` / ``µs`` (U+00B5) / ``μs`` (U+03BC), ``ms``, ``s``, ``m``, ``h``; the bare string ``0`` is zero.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_TERM_RE = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_NUMBER_RE = re.compile(r"(\d+\.?\d*|\.\d+)([^\d.]*)")


def parse_go_duration(text: str) -> timedelta:
    """Go's ``time.ParseDuration`` (``30s``, ``1h30m``, ``-1.5h``, ``.5s``, ``500µs``, ``0``); raises
    ValueError with Go's wording."""
    s = text.strip()
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return timedelta(0)
    if not s:
        raise ValueError(f"time: invalid duration {text!r}")
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _TERM_RE.match(s, pos)
        if not m:
            num = _NUMBER_RE.match(s[pos:])
            if num and num.group(2):
                raise ValueError(f"time: unknown unit {num.group(2)!r} in duration {text!r}")
            if num:
                raise ValueError(f"time: missing unit in duration {text!r}")
            raise ValueError(f"time: invalid duration {text!r}")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return timedelta(seconds=sign * total)


def duration_seconds(value: Any) -> float | None:
    """A spec duration field (Go duration string, ``{"seconds": N, "nanos": M}``, or a number of
    seconds) in seconds; None when unset or zero (no limit)."""
    if value in (None, "", 0):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        seconds = float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
    else:
        try:
            seconds = parse_go_duration(str(value)).total_seconds()
        except ValueError as exc:
            raise ValueError(f"invalid duration {value!r} (expected e.g. 30s, 5m, 1h30m): {exc}") from None
    return seconds or None
