"""Cron schedules: robfig/cron v1.2.0 ParseStandard (pinned by Pachyderm 2.7's go.mod) plus ``@never``
(src/internal/cronutil/cronutil.go). Expected ticks follow robfig's parser.go/spec.go (SpecSchedule.Next,
dayMatches) and constantdelay.go (``@every``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from pachlet.cronspec import CronSpecError, parse_schedule, tick_name, ticks_between
from pachlet.durations import parse_go_duration

T0 = datetime(2026, 11, 24, 3, 59, 59, 500000, tzinfo=UTC)  # a Tuesday

CASES = [
    ("0 4 * * *", ["2026-11-24T04:00:00Z", "2026-11-25T04:00:00Z"]),
    ("*/15 * * * *", ["2026-11-24T04:00:00Z", "2026-11-24T04:15:00Z"]),
    ("5,10 4 * * *", ["2026-11-24T04:05:00Z", "2026-11-24T04:10:00Z"]),
    ("0 9-17/4 * * *", ["2026-11-24T09:00:00Z", "2026-11-24T13:00:00Z"]),
    ("0 0 * * MON", ["2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"]),
    ("0 0 ? * sun", ["2026-11-29T00:00:00Z", "2026-12-06T00:00:00Z"]),
    ("0 0 1 JAN,jul *", ["2027-01-01T00:00:00Z", "2027-07-01T00:00:00Z"]),
    # dom and dow both restricted: OR (Nov 27 is a Friday, Dec 13 the 13th)
    ("0 0 13 * FRI", ["2026-11-27T00:00:00Z", "2026-12-04T00:00:00Z", "2026-12-11T00:00:00Z",
                      "2026-12-13T00:00:00Z"]),
    # dow restricted by a star range (*/2 keeps the star bit in v1): AND
    ("0 0 13 */2 *", ["2027-01-13T00:00:00Z", "2027-03-13T00:00:00Z"]),
    ("0 0 31 * *", ["2026-12-31T00:00:00Z", "2027-01-31T00:00:00Z", "2027-03-31T00:00:00Z"]),
    ("30 2/12 * * *", ["2026-11-24T14:30:00Z", "2026-11-25T02:30:00Z"]),
    ("@hourly", ["2026-11-24T04:00:00Z", "2026-11-24T05:00:00Z"]),
    ("@daily", ["2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z"]),
    ("@midnight", ["2026-11-25T00:00:00Z"]),
    ("@weekly", ["2026-11-29T00:00:00Z", "2026-12-06T00:00:00Z"]),
    ("@monthly", ["2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"]),
    ("@yearly", ["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"]),
    ("@annually", ["2027-01-01T00:00:00Z"]),
    ("@every 30s", ["2026-11-24T04:00:29Z", "2026-11-24T04:00:59Z"]),
    ("@every 1h30m", ["2026-11-24T05:29:59Z", "2026-11-24T06:59:59Z"]),
    ("@every 1500ms", ["2026-11-24T04:00:00Z", "2026-11-24T04:00:01Z"]),
    ("@never", []),
    (" @never ", []),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "expected"), CASES, ids=[c[0] for c in CASES])
def test_next_ticks(spec: str, expected: list[str]) -> None:
    sched = parse_schedule(spec)
    got: list[str] = []
    t: datetime | None = T0
    for _ in expected:
        t = sched.next_after(t)
        assert t is not None
        got.append(tick_name(t))
    assert got == expected
    if not expected:
        assert sched.next_after(T0) is None


ERRORS = [
    ("", "empty spec"),
    ("* * * *", "expected exactly 5 fields, found 4"),
    ("0 0 0 * * *", "expected exactly 5 fields, found 6"),
    ("60 * * * *", "minute field: 60 is above the maximum 59"),
    ("* 24 * * *", "hour field: 24 is above the maximum 23"),
    ("* * 0 * *", "day of month field: 0 is below the minimum 1"),
    ("* * * 13 *", "month field: 13 is above the maximum 12"),
    ("* * * * 7", "day of week field: 7 is above the maximum 6"),
    ("* * * FOO *", "month field: failed to parse int from 'FOO'"),
    ("5-1 * * * *", "minute field: range start 5 beyond end 1"),
    ("*/0 * * * *", "minute field: step must be a positive number"),
    ("1-2-3 * * * *", "minute field: too many hyphens"),
    ("@every", "unrecognized descriptor"),
    ("@every 10x", "failed to parse duration"),
    ("@fortnightly", "unrecognized descriptor"),
]


@pytest.mark.parametrize(("spec", "match"), ERRORS, ids=[e[0] or "empty" for e in ERRORS])
def test_parse_errors_name_the_field(spec: str, match: str) -> None:
    with pytest.raises(CronSpecError, match=match) as info:
        parse_schedule(spec)
    assert "\n" not in str(info.value)


def test_tick_name_is_rfc3339_utc_seconds() -> None:
    assert tick_name(datetime(2026, 11, 24, 4, 0, 0, 999999, tzinfo=UTC)) == "2026-11-24T04:00:00Z"
    assert (
        tick_name(datetime(2026, 11, 24, 5, 0, tzinfo=timezone(timedelta(hours=1)))) == "2026-11-24T04:00:00Z"
    )
    assert tick_name(datetime(2026, 11, 24, 4, 0)) == "2026-11-24T04:00:00Z"


def test_next_after_naive_is_utc_and_catch_up() -> None:
    sched = parse_schedule("0 * * * *")
    assert sched.next_after(datetime(2026, 1, 1, 0, 0)) == datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    missed = ticks_between(
        sched, datetime(2026, 1, 1, 0, 30, tzinfo=UTC), datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    )
    assert [tick_name(t) for t in missed] == [
        "2026-01-01T01:00:00Z",
        "2026-01-01T02:00:00Z",
        "2026-01-01T03:00:00Z",
    ]
    # Feb 30 never exists: robfig gives up after 5 years
    assert parse_schedule("0 0 30 2 *").next_after(T0) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("1h30m", 5400), ("1.5h", 5400), ("500ms", 0.5), ("-2m", -120), ("0", 0)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text).total_seconds() == seconds


def test_spec_durations_use_go_grammar() -> None:
    from pachlet.durations import duration_seconds

    assert duration_seconds("1m30s") == 90
    assert duration_seconds(".5s") == 0.5
    assert duration_seconds("1500\u00b5s") == pytest.approx(0.0015)
    assert duration_seconds({"seconds": 2, "nanos": 500_000_000}) == 2.5
    assert duration_seconds("0") is None and duration_seconds(None) is None
    with pytest.raises(ValueError, match="invalid duration"):
        duration_seconds("30 seconds")
