"""Datum skipping and output merging, owned by one class (as DVC's ``stage/cache.py`` owns its run
cache): which datums of a job can reuse the output of the last successful job, and the job's output
tree as the union of its datums' outputs.

- A datum whose hash equals the hash of the *same datum ID* in the pipeline's last successful job
  (``reprocessSpec: until_success``) is SKIPPED and its outputs are carried over; ``every_job`` never
  skips.
- The output commit is the union of every successful or skipped datum's outputs, so outputs of removed
  or changed datums disappear; two datums writing one path fail the job with pachd's "duplicate path
  output by different datums (...)" message, and a path that is both a file and a directory with
  "file / directory path collision (...)".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pachlet.pfs.paths import Tree, find_collision
from pachlet.pps.datums import Datum
from pachlet.pps.worker import DatumResult
from pachlet.records import DATUM_FAILED, DATUM_SKIPPED, DATUM_SUCCESS
from pachlet.store import Store


class DatumSkipper:
    """Skipping and merging for one job of ``pipeline`` against its parent job."""

    def __init__(self, store: Store, pipeline: str, parent_job: str | None, spec: Mapping[str, Any]) -> None:
        self.pipeline = pipeline
        self.by_hash: dict[str, str] = {}
        self.outputs: dict[str, list[tuple[str, str, int]]] = {}
        noskip = (spec.get("reprocessSpec") or "until_success") == "every_job"
        if parent_job is None or noskip:
            return
        c = store.conn()
        for r in c.execute(
            "SELECT datum_id, hash FROM datums WHERE pipeline=? AND job_id=? AND state IN (?,?)",
            (pipeline, parent_job, DATUM_SUCCESS, DATUM_SKIPPED),
        ):
            self.by_hash[r[1]] = r[0]
        for r in c.execute(
            "SELECT datum_id, path, hash, size FROM datum_outputs WHERE pipeline=? AND job_id=?",
            (pipeline, parent_job),
        ):
            self.outputs.setdefault(r[0], []).append((r[1], r[2], r[3]))

    def partition(
        self, datums: Sequence[Datum], hashes: Sequence[str]
    ) -> tuple[dict[str, DatumResult], list[Datum]]:
        """(results of the skipped datums, with their carried-over outputs; the datums to run)."""
        results: dict[str, DatumResult] = {}
        to_run: list[Datum] = []
        for d, h in zip(datums, hashes, strict=True):
            if self.by_hash.get(h) == d.id:
                results[d.id] = DatumResult(d.id, DATUM_SKIPPED, self.outputs.get(d.id, []), 0.0, 0, "", "")
            else:
                to_run.append(d)
        return results, to_run

    @staticmethod
    def merge(datums: Sequence[Datum], results: Mapping[str, DatumResult]) -> tuple[Tree, str]:
        """(the job's output tree, the failure reason or ""): the first failed datum fails the job,
        then duplicate paths, then file / directory collisions."""
        first_failed = next((d.id for d in datums if results[d.id].state == DATUM_FAILED), None)
        if first_failed is not None:
            return {}, f"datum {first_failed} failed"
        tree: Tree = {}
        entries = sorted(
            (p, d.id, h, s)
            for d in datums
            if results[d.id].state in (DATUM_SUCCESS, DATUM_SKIPPED)
            for p, h, s in results[d.id].outputs
        )
        prev: tuple[str, str] | None = None
        for p, did, h, s in entries:
            if prev is not None and prev[0] == p:
                return (
                    tree,
                    f"duplicate path output by different datums ({p} from {prev[1]} and {p} from {did})",
                )
            tree[p] = (h, s)
            prev = (p, did)
        clash = find_collision(tree)
        if clash is not None:
            return tree, f"file / directory path collision ({clash})"
        return tree, ""
