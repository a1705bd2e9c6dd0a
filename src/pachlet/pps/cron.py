"""PPS cron inputs: ticking (one tick file per tick in the cron repo, ``overwrite`` replacing the
previous ones), the ticks a schedule owes since the last one, and the ``cron_ticks`` state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pachlet.cronspec import parse_schedule, tick_name, ticks_between
from pachlet.errors import NotFoundError, PachletError
from pachlet.pfs.driver import PFS
from pachlet.pps.pipelines import PipelineRegistry, cron_repo
from pachlet.records import CommitInfo, CronTick
from pachlet.spec import cron_inputs
from pachlet.store import Store, new_id
from pachlet.timeutil import parse_time, to_dt, to_ts


class Cron:
    """Cron ticking of one root; ``on_finished`` queues the jobs of the tick commits."""

    def __init__(
        self,
        store: Store,
        pfs: PFS,
        pipelines: PipelineRegistry,
        on_finished: Callable[[Sequence[CommitInfo]], None],
    ) -> None:
        self.store = store
        self.pfs = pfs
        self.pipelines = pipelines
        self.on_finished = on_finished

    def run_cron(self, pipeline: str, *, now: datetime | None) -> str:
        """Tick every cron input of a pipeline, each in its own commit set (api_server.go ``RunCron``
        calls ``cronTick`` once per cron input); returns the last tick's global ID."""
        crons = cron_inputs(self.pipelines.inspect(pipeline).spec)
        if not crons:
            raise PachletError("pipeline doesn't have a cron input")
        at = now or datetime.now(UTC)
        gid = ""
        for cin in crons:
            gid = self._tick(pipeline, [(cin, at)])
        return gid

    def _tick(self, pipeline: str, items: Sequence[tuple[dict[str, Any], datetime]]) -> str:
        gid = new_id()
        with self.store.tx() as c:
            finished = []
            for cin, at in items:
                repo = cron_repo(pipeline, cin)
                ci = self.pfs.start_commit(repo, "master", commit_id=gid, description="cron tick")
                if cin.get("overwrite"):
                    self.pfs.delete_all(ci)
                self.pfs.put_file(ci, "/" + tick_name(at), b"")
                finished.append(self.pfs.finish_commit(repo, gid))
                c.execute(
                    "INSERT INTO cron_ticks(pipeline, input_name, last_tick) VALUES(?,?,?)"
                    " ON CONFLICT(pipeline, input_name) DO UPDATE SET last_tick=max(last_tick, excluded.last_tick)",
                    (pipeline, cin["name"], to_ts(at)),
                )
            self.on_finished(finished)
        return gid

    def due_cron_ticks(self, now: datetime | None, *, limit: int) -> list[CronTick]:
        """Ticks owed at ``now``, oldest first."""
        now = now or datetime.now(UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        c = self.store.conn()
        ticks: list[CronTick] = []
        for p in self.pipelines.list():
            for cin in cron_inputs(p.spec):
                sched = parse_schedule(cin["spec"])
                row = c.execute(
                    "SELECT last_tick FROM cron_ticks WHERE pipeline=? AND input_name=?",
                    (p.name, cin["name"]),
                ).fetchone()
                candidates = [t for t in (to_dt(row[0]) if row else None, parse_time(cin.get("start"))) if t]
                since = max(candidates) if candidates else p.created
                ticks.extend(
                    CronTick(p.name, cin["name"], t) for t in ticks_between(sched, since, now, limit)
                )
        ticks.sort(key=lambda k: (k.at, k.pipeline, k.input_name))
        return ticks[:limit]

    def apply_cron_ticks(self, ticks: Sequence[CronTick]) -> list[str]:
        """Write ticks, one global ID each."""
        out = []
        for tick in ticks:
            spec = self.pipelines.inspect(tick.pipeline).spec
            cin = next((ci for ci in cron_inputs(spec) if ci["name"] == tick.input_name), None)
            if cin is None:
                raise NotFoundError(f"pipeline {tick.pipeline} has no cron input {tick.input_name}")
            out.append(self._tick(tick.pipeline, [(cin, tick.at)]))
        return out
