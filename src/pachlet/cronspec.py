"""Cron schedules as Pachyderm parses them: ``cronutil.ParseCronExpression`` = ``@never`` or robfig/cron v1.2.0
``ParseStandard`` (the version pinned in Pachyderm 2.7's go.mod).

- 5 fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC), day of week
  (0-6 or SUN-SAT); each a comma list of ``*``/``?``, ``N``, ``N-M``, with ``/step``; ``N/step`` means
  ``N-max/step``. Names are case-insensitive. Seconds are always 0.
- Day rule (robfig v1 ``dayMatches``): if either day field starts with ``*`` or ``?`` (even ``*/2``), both
  must match; otherwise either may match (classic cron OR).
- Descriptors: ``@yearly @annually @monthly @weekly @daily @midnight @hourly``, ``@every <Go duration>``
  (rounded down to whole seconds, at least 1s; the next tick is ``t + delay``) and ``@never``.
- ``next_after`` works in UTC and gives up (None) beyond 5 years, like robfig's zero time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pachlet.durations import parse_go_duration
from pachlet.errors import PachletError

STAR_BIT = 1 << 63

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_DOWS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}

# (field name, min, max, names)
_FIELDS: tuple[tuple[str, int, int, dict[str, int] | None], ...] = (
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DOWS),
)


class CronSpecError(PachletError):
    """A cron schedule that robfig/cron (or Pachyderm's ``@never``) would reject."""


def _all_bits(lo: int, hi: int) -> int:
    return sum(1 << i for i in range(lo, hi + 1)) | STAR_BIT


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule. ``next_after(t)`` is the first tick strictly after ``t`` (UTC), or None."""

    text: str
    minute: int = 0
    hour: int = 0
    dom: int = 0
    month: int = 0
    dow: int = 0
    every: timedelta | None = None
    never: bool = False

    def next_after(self, t: datetime) -> datetime | None:
        """The next activation strictly after ``t`` (naive datetimes are taken as UTC), in UTC."""
        t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
        if self.never:
            return None
        if self.every is not None:
            return t.replace(microsecond=0) + self.every
        return self._next_spec(t)

    def _day_matches(self, t: datetime) -> bool:
        dom_match = bool((1 << t.day) & self.dom)
        dow_match = bool((1 << ((t.weekday() + 1) % 7)) & self.dow)
        if self.dom & STAR_BIT or self.dow & STAR_BIT:
            return dom_match and dow_match
        return dom_match or dow_match

    def _next_spec(self, t: datetime) -> datetime | None:
        # Port of robfig/cron v1.2.0 SpecSchedule.Next (seconds field fixed to 0).
        t = t.replace(microsecond=0) + timedelta(seconds=1)
        added = False
        year_limit = t.year + 5
        while True:
            if t.year > year_limit:
                return None
            wrapped = False
            while not (1 << t.month) & self.month:
                if not added:
                    added = True
                    t = t.replace(day=1, hour=0, minute=0, second=0)
                t = (t.replace(day=1) + timedelta(days=32)).replace(day=1)
                if t.month == 1:
                    wrapped = True
                    break
            if wrapped:
                continue
            while not self._day_matches(t):
                if not added:
                    added = True
                    t = t.replace(hour=0, minute=0, second=0)
                t = t + timedelta(days=1)
                if t.day == 1:
                    wrapped = True
                    break
            if wrapped:
                continue
            while not (1 << t.hour) & self.hour:
                if not added:
                    added = True
                    t = t.replace(minute=0, second=0)
                t = t + timedelta(hours=1)
                if t.hour == 0:
                    wrapped = True
                    break
            if wrapped:
                continue
            while not (1 << t.minute) & self.minute:
                if not added:
                    added = True
                    t = t.replace(second=0)
                t = t + timedelta(minutes=1)
                if t.minute == 0:
                    wrapped = True
                    break
            if wrapped:
                continue
            while t.second != 0:
                if not added:
                    added = True
                t = t + timedelta(seconds=1)
                if t.second == 0:
                    wrapped = True
                    break
            if wrapped:
                continue
            return t


def _parse_int(expr: str, names: dict[str, int] | None, field: str, text: str) -> int:
    if names and expr.lower() in names:
        return names[expr.lower()]
    if not re.fullmatch(r"[+-]?\d+", expr):
        raise CronSpecError(f"invalid cron spec {text!r}: {field} field: failed to parse int from {expr!r}")
    n = int(expr)
    if n < 0:
        raise CronSpecError(f"invalid cron spec {text!r}: {field} field: negative number ({n}) not allowed")
    return n


def _parse_range(expr: str, field: str, lo: int, hi: int, names: dict[str, int] | None, text: str) -> int:
    range_step = expr.split("/")
    low_high = range_step[0].split("-")
    extra = 0
    if low_high[0] in ("*", "?"):
        start, end, extra = lo, hi, STAR_BIT
    else:
        start = _parse_int(low_high[0], names, field, text)
        if len(low_high) == 1:
            end = start
        elif len(low_high) == 2:
            end = _parse_int(low_high[1], names, field, text)
        else:
            raise CronSpecError(f"invalid cron spec {text!r}: {field} field: too many hyphens in {expr!r}")
    if len(range_step) == 1:
        step = 1
    elif len(range_step) == 2:
        step = _parse_int(range_step[1], None, field, text)
        if len(low_high) == 1:
            end = hi
    else:
        raise CronSpecError(f"invalid cron spec {text!r}: {field} field: too many slashes in {expr!r}")
    if start < lo:
        raise CronSpecError(f"invalid cron spec {text!r}: {field} field: {start} is below the minimum {lo}")
    if end > hi:
        raise CronSpecError(f"invalid cron spec {text!r}: {field} field: {end} is above the maximum {hi}")
    if start > end:
        raise CronSpecError(
            f"invalid cron spec {text!r}: {field} field: range start {start} beyond end {end}"
        )
    if step == 0:
        raise CronSpecError(f"invalid cron spec {text!r}: {field} field: step must be a positive number")
    bits = 0
    for i in range(start, end + 1, step):
        bits |= 1 << i
    return bits | extra


_DESCRIPTORS: dict[str, tuple[str, ...]] = {
    "@yearly": ("0", "0", "1", "1", "*"),
    "@annually": ("0", "0", "1", "1", "*"),
    "@monthly": ("0", "0", "1", "*", "*"),
    "@weekly": ("0", "0", "*", "*", "0"),
    "@daily": ("0", "0", "*", "*", "*"),
    "@midnight": ("0", "0", "*", "*", "*"),
    "@hourly": ("0", "*", "*", "*", "*"),
}


def _from_fields(text: str, fields: tuple[str, ...] | list[str], descriptor: bool = False) -> Schedule:
    bits: list[int] = []
    for value, (name, lo, hi, names) in zip(fields, _FIELDS, strict=True):
        b = 0
        for expr in [e for e in value.split(",") if e]:
            b |= _parse_range(expr, name, lo, hi, names, text)
        if descriptor and value != "*":
            b &= ~STAR_BIT  # robfig's descriptors use single bits (1 << min), never the star bit
        bits.append(b)
    minute, hour, dom, month, dow = bits
    return Schedule(text=text, minute=minute, hour=hour, dom=dom, month=month, dow=dow)


def parse_schedule(text: str) -> Schedule:
    """Parse a cron input's ``spec``; raises CronSpecError with a one-line message naming the bad field."""
    if not isinstance(text, str) or not text:
        raise CronSpecError("invalid cron spec '': empty spec string")
    if text.strip() == "@never":
        return Schedule(text=text, never=True)
    if text[0] == "@":
        if text in _DESCRIPTORS:
            return _from_fields(text, _DESCRIPTORS[text], descriptor=True)
        if text.startswith("@every "):
            try:
                d = parse_go_duration(text[len("@every ") :])
            except ValueError as e:
                raise CronSpecError(f"invalid cron spec {text!r}: failed to parse duration: {e}") from e
            d = max(d, timedelta(seconds=1))
            d = timedelta(seconds=int(d.total_seconds()))
            return Schedule(text=text, every=d)
        raise CronSpecError(f"invalid cron spec {text!r}: unrecognized descriptor")
    fields = text.split()
    if len(fields) != 5:
        raise CronSpecError(f"invalid cron spec {text!r}: expected exactly 5 fields, found {len(fields)}")
    return _from_fields(text, fields)


def tick_name(t: datetime) -> str:
    """The tick file name Pachyderm writes: RFC3339 in UTC, whole seconds (``2026-11-24T04:00:00Z``)."""
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def ticks_between(schedule: Schedule, start: datetime, end: datetime, limit: int = 100_000) -> list[datetime]:
    """Every tick in ``(start, end]`` (for catching up missed ticks), at most ``limit`` of them."""
    out: list[datetime] = []
    end = end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)
    t = schedule.next_after(start)
    while t is not None and t <= end and len(out) < limit:
        out.append(t)
        t = schedule.next_after(t)
    return out
