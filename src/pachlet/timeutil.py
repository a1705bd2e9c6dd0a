"""Time conversions, in one place: stored UNIX timestamps, aware UTC datetimes, RFC3339 / protobuf times.

pachlet stores times as float UNIX timestamps (SQLite ``REAL``) and hands out timezone-aware UTC
datetimes; naive datetimes are taken as UTC everywhere.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any


def now_ts() -> float:
    """The current time as a UNIX timestamp."""
    return time.time()


def to_dt(ts: float | None) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (None stays None)."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def to_ts(dt: datetime) -> float:
    """An aware (or naive = UTC) datetime as a UNIX timestamp."""
    return as_utc(dt).timestamp()


def as_utc(dt: datetime) -> datetime:
    """An aware datetime in UTC (a naive one is taken as UTC)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def parse_time(value: Any) -> datetime | None:
    """An RFC3339 string, a protobuf Timestamp dict or a datetime as an aware datetime (None if unset)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, dict):
        return datetime.fromtimestamp(float(value.get("seconds", 0)) + value.get("nanos", 0) / 1e9, UTC)
    text = str(value).replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
