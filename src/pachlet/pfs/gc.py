"""PFS garbage collection: the objects a delete leaves unreferenced are removed with it.

pachd drops a deleted commit's file sets and lets its storage GC reclaim the chunks nothing else
refers to (``deleteCommit`` -> ``commitStore.DropFileSetsTx``; ``deleteRepo`` drops every commit).
pachlet does the same at once: before deleting rows, the caller hands the digests those rows name to
``collect_after_commit``; once the transaction commits, those no row refers to any more (no commit's
files, no open commit's staging, no datum output) are unlinked. Only the candidates are examined, so an
object just written for a transaction that has not committed yet is never touched; ``fsck --fix``
still sweeps the orphans a crash leaves.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from pachlet.store import Store


class GcOps:
    """Garbage collection of ``PFS``."""

    store: Store

    def commit_objects(
        self, c: sqlite3.Connection, repo: str, commit_ids: Iterable[str] | None = None
    ) -> set[str]:
        """The digests named by the files and staged files of ``repo``'s commits (all of them when
        ``commit_ids`` is None), read in ``c``."""
        if commit_ids is None:
            return {
                r[0]
                for r in c.execute(
                    "SELECT hash FROM files WHERE repo=? UNION SELECT hash FROM staging WHERE repo=?",
                    (repo, repo),
                )
            }
        out: set[str] = set()
        for cid in commit_ids:
            out.update(
                r[0]
                for r in c.execute(
                    "SELECT hash FROM files WHERE repo=? AND commit_id=?"
                    " UNION SELECT hash FROM staging WHERE repo=? AND commit_id=?",
                    (repo, cid, repo, cid),
                )
            )
        return out

    def collect_after_commit(self, candidates: set[str]) -> None:
        """Once the current transaction commits, unlink those of ``candidates`` nothing refers to."""
        if not candidates:
            return
        store = self.store

        def sweep() -> None:
            with store.tx() as c:  # the write lock: no row can start referring to them meanwhile
                store.delete_objects(store.unreferenced(c, candidates))

        store.after_commit(sweep)
