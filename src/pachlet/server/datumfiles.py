"""Commit timestamps on the file infos of a ``DatumInfo``: pachd sets ``FileInfo.committed`` to the
finishing time of the input commit (source.go), and jupyterlab-pachyderm's test mode shows it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from python_pachyderm.proto.v2.pps import pps_pb2

from pachlet import protos
from pachlet.api import Pachlet
from pachlet.errors import NotFoundError


def stamp_committed(p: Pachlet, infos: Iterable[pps_pb2.DatumInfo]) -> None:
    """Set ``committed`` on every input file of ``infos`` (in place) to its commit's finishing time
    (its start while the commit is open); a commit that is gone leaves the field unset."""
    seen: dict[tuple[str, str], datetime | None] = {}
    for info in infos:
        for f in info.data:
            commit = f.file.commit
            key = (commit.repo.name or commit.branch.repo.name, commit.id)
            if not key[0] or not key[1]:
                continue
            if key not in seen:
                try:
                    ci = p.inspect_commit(*key)
                    seen[key] = ci.finished or ci.started
                except NotFoundError:
                    seen[key] = None
            ts = protos.timestamp(seen[key])
            if ts is not None:
                f.committed.CopyFrom(ts)
