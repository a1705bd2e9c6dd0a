"""Following logs as they are written (``logs -f``, ``GetLogs`` with ``follow``), and the master log.

pachd's ``GetLogs`` with ``follow`` streams a job's lines until the job ends and a pipeline's until the
client cancels; ``master`` selects the lines of the worker's master process (registry.go's job
transitions, written here by ``pending_job``) instead of the datums' user code. A ``LogFollower`` reads
the datum logs under ``logs/<pipeline>/<job id>/`` (or the pipeline's master log) from where it left
off; each ``poll`` returns the complete lines written since the last one.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from pachlet.pps.datum_log import MASTER_LOG, read_master_lines, read_new_lines
from pachlet.pps.jobs import JobRegistry
from pachlet.projects import path_segment
from pachlet.records import LogLine


class LogFollower:
    """New log lines of a pipeline (every job, oldest first) or of one job, optionally one datum."""

    def __init__(
        self,
        logs_root: Path,
        jobs: JobRegistry,
        pipeline: str,
        job_id: str | None,
        datum_id: str | None,
        *,
        master: bool,
    ) -> None:
        self.logs_root = logs_root
        self.jobs = jobs
        self.pipeline = pipeline
        self.job_id = job_id
        self.datum_id = datum_id
        self.master = master
        self.offsets: dict[Path, int] = {}

    def _job_ids(self) -> list[str]:
        if self.job_id is not None:
            return [self.job_id]
        return [j.id for j in reversed(self.jobs.list(self.pipeline, None))]

    def _datum_logs(self, job_id: str) -> list[Path]:
        job_dir = self.logs_root / path_segment(self.pipeline) / job_id
        if self.datum_id is not None:
            return [job_dir / f"{self.datum_id}.log"]
        try:
            paths = [p for p in job_dir.glob("*.log") if p.is_file()]
        except OSError:
            return []

        def started(p: Path) -> tuple[float, str]:
            try:
                return os.stat(p).st_ctime, p.name
            except OSError:
                return 0.0, p.name

        return sorted(paths, key=started)

    def poll(self) -> list[LogLine]:
        """The lines written since the last call (the first call: every line so far)."""
        if self.master:
            path = self.logs_root / path_segment(self.pipeline) / MASTER_LOG
            entries, self.offsets[path] = read_master_lines(
                self.logs_root, self.pipeline, self.offsets.get(path, 0)
            )
            out = []
            for e in entries:
                if self.job_id is not None and e.get("job") != self.job_id:
                    continue
                ts = datetime.fromisoformat(e["ts"]) if e.get("ts") else None
                out.append(LogLine(self.pipeline, e.get("job", ""), "", e.get("message", ""), ts, user=False))
            return out
        lines: list[LogLine] = []
        for job_id in self._job_ids():
            for path in self._datum_logs(job_id):
                new, self.offsets[path] = read_new_lines(path, self.offsets.get(path, 0))
                lines.extend(LogLine(self.pipeline, job_id, path.stem, text) for text in new)
        return lines
