"""The ``datums`` table read back: a job's datums as ``DatumRecord`` and their logs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from pachlet.errors import NotFoundError
from pachlet.records import DatumInputRecord, DatumRecord, LogLine
from pachlet.store import Store


def datum_record(row: sqlite3.Row) -> DatumRecord:
    """A datum row as a record."""
    inputs = tuple(DatumInputRecord(*i) for i in json.loads(row["inputs"]))
    return DatumRecord(
        pipeline=row["pipeline"],
        job_id=row["job_id"],
        datum_id=row["datum_id"],
        state=row["state"],
        hash=row["hash"],
        inputs=inputs,
        duration=row["duration"],
        logs_path=row["logs_path"],
        attempts=row["attempts"],
        reason=row["reason"],
    )


def list_datums(store: Store, pipeline: str, job_id: str) -> list[DatumRecord]:
    """A job's datums in order (the caller checks the job exists)."""
    rows = (
        store.conn()
        .execute("SELECT * FROM datums WHERE pipeline=? AND job_id=? ORDER BY idx", (pipeline, job_id))
        .fetchall()
    )
    return [datum_record(r) for r in rows]


def find_datum(store: Store, pipeline: str, job_id: str, datum_id: str) -> DatumRecord | None:
    """One datum, or None."""
    row = (
        store.conn()
        .execute(
            "SELECT * FROM datums WHERE pipeline=? AND job_id=? AND datum_id=?", (pipeline, job_id, datum_id)
        )
        .fetchone()
    )
    return None if row is None else datum_record(row)


def not_found(pipeline: str, job_id: str, datum_id: str) -> NotFoundError:
    """The error for a missing datum."""
    return NotFoundError(f"datum {datum_id} not found in job {pipeline}@{job_id}")


def log_lines(store: Store, pipeline: str, job_id: str | None, datum_id: str | None) -> list[LogLine]:
    """Datum log lines: every job of the pipeline (oldest first) unless ``job_id``; optionally one datum."""
    sql = "SELECT d.* FROM datums d JOIN jobs j ON j.pipeline=d.pipeline AND j.id=d.job_id WHERE d.pipeline=?"
    args: list[Any] = [pipeline]
    if job_id is not None:
        sql += " AND d.job_id=?"
        args.append(job_id)
    if datum_id is not None:
        sql += " AND d.datum_id=?"
        args.append(datum_id)
    sql += " AND d.logs_path != '' ORDER BY j.seq, d.idx"
    out: list[LogLine] = []
    for r in store.conn().execute(sql, args).fetchall():
        try:
            text = Path(r["logs_path"]).read_text(errors="replace")
        except OSError:
            continue
        out.extend(LogLine(pipeline, r["job_id"], r["datum_id"], line) for line in text.splitlines())
    return out
