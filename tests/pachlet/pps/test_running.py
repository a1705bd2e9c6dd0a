"""``pachlet.pps.running``: which running datums ``restart datum`` matches (worker/common ``MatchDatum``),
and the per-job stop a killed job's datums see."""

from __future__ import annotations

import base64
import subprocess
import threading
from pathlib import Path

from pachlet.pps import running
from pachlet.pps.datums import Datum, DatumInput, FileInfo


def datum(*paths: str) -> Datum:
    inputs = tuple(
        DatumInput(f"in{i}", f"repo{i}", "master", "c" * 32, "/*", p, (FileInfo(p, "ab" * 32, 1),))
        for i, p in enumerate(paths)
    )
    return Datum("d" * 64, inputs)


def test_match_datum_needs_every_filter_to_name_some_input() -> None:
    """MatchDatum: each filter is an input's path or its hash (hex or base64); order is irrelevant."""
    d = datum("/a", "/b")
    digest = d.inputs[1].content_hash().decode()
    assert running.match_datum(["/a"], d)
    assert running.match_datum(["/b", "/a"], d)
    assert running.match_datum([digest], d)
    assert running.match_datum([base64.b64encode(bytes.fromhex(digest)).decode()], d)
    assert running.match_datum([d.id], d)
    assert running.match_datum([], d)
    assert not running.match_datum(["/a", "/c"], d)
    assert not running.match_datum(["/c"], d)


def test_kill_job_ends_tracked_processes_and_later_ones_at_once(tmp_path: Path) -> None:
    """A killed job's running datum processes end, and one started after the kill ends at once; the
    job's stop is set, the engine's is not."""
    log_dir = tmp_path / "logs" / "p" / "job"
    d = datum("/a")
    engine_stop = threading.Event()
    with running.running_job(log_dir, [d]) as killed:
        stop = running.JobStop(engine_stop, killed)
        first = subprocess.Popen(["sleep", "30"], start_new_session=True)
        running.track(log_dir / f"{d.id}.log", first)
        assert running.restart_datums(log_dir, ["/nope"]) == []
        assert not stop.is_set()
        assert running.kill_job(log_dir)
        assert first.wait(timeout=10) == -9
        later = subprocess.Popen(["sleep", "30"], start_new_session=True)
        running.track(log_dir / f"{d.id}.log", later)
        assert later.wait(timeout=10) == -9
        assert stop.is_set() and not engine_stop.is_set()
    assert not running.kill_job(log_dir)  # no longer running


def test_restart_datums_ends_only_the_matching_datum(tmp_path: Path) -> None:
    log_dir = tmp_path / "job"
    a, b = datum("/a"), Datum("e" * 64, datum("/b").inputs)
    with running.running_job(log_dir, [a, b]):
        pa = subprocess.Popen(["sleep", "30"], start_new_session=True)
        pb = subprocess.Popen(["sleep", "30"], start_new_session=True)
        running.track(log_dir / f"{a.id}.log", pa)
        running.track(log_dir / f"{b.id}.log", pb)
        try:
            assert running.restart_datums(log_dir, ["/b"]) == [b.id]
            assert pb.wait(timeout=10) == -9
            assert pa.poll() is None
        finally:
            pa.kill()
            pa.wait()
