"""Squashing and dropping a commit set: pachd v2.7.6 ``commit_set.go`` ``squashCommitSet``,
``dropCommitSet``, ``deleteCommit`` and ``subvenantCommitSets``, with their refusals and messages.

Both delete every commit of one global ID, after the same checks, in this order:

1. no commit of another global ID has one of them in its provenance, transitively
   (``commit set "<id>" cannot be dropped because it has subvenant commit sets: [...]``);
2. squash: each has children (else ``cannot squash a commit that has no children as that would cause
   data loss, use the drop operation instead: <repo>@<id>``); drop: none has (``cannot drop a commit that
   has children: <repo>@<id>``);
3. each child is finished (``cannot squash until child commit <repo>@<id> is finished``).

Deleting a commit re-parents its children onto its parent (a child's stored tree is whole, so a squash
keeps the children's content: the squashed changes "remain in their child commits"), moves a branch
head that named it to its parent, and gives a branch left without a head a new empty commit (the branch
stays, as pachd's ``makeEmptyCommit`` keeps it). Jobs of the set are PPS's to stop; the objects only the
deleted commits used are reclaimed (``pachlet.pfs.gc``). An ID with no commits is no error (pachd's
``inspectCommitSetImmediateTx`` finds nothing to delete).
"""

from __future__ import annotations

import sqlite3

from pachlet.errors import PachletError
from pachlet.store import Store, new_id


class CommitSetOps:
    """Squash and drop of ``PFS``."""

    store: Store

    def subvenant_commit_sets(self, c: sqlite3.Connection, gid: str) -> list[str]:
        """Global IDs (other than ``gid``) with a commit provenant on a commit of ``gid``, transitively."""
        found: set[str] = set()
        frontier = {gid}
        while frontier:
            nxt: set[str] = set()
            for g in frontier:
                for r in c.execute(
                    "SELECT DISTINCT p.commit_id FROM provenance p WHERE p.prov_commit=? AND p.commit_id<>?",
                    (g, g),
                ):
                    if r[0] not in found and r[0] != gid:
                        found.add(r[0])
                        nxt.add(r[0])
            frontier = nxt
        return sorted(found)

    def _children(self, c: sqlite3.Connection, repo: str, cid: str) -> list[sqlite3.Row]:
        return c.execute(
            "SELECT * FROM commits WHERE repo=? AND parent=? ORDER BY seq", (repo, cid)
        ).fetchall()

    def _delete_set(self, gid: str, *, squash: bool) -> list[str]:
        """Check and delete every commit of ``gid``; returns the repos it had commits in."""
        with self.store.tx() as c:
            subv = self.subvenant_commit_sets(c, gid)
            if subv:
                listed = " ".join(f"id:{s}" for s in subv)
                raise PachletError(
                    f'commit set "id:{gid}" cannot be dropped because it has subvenant commit sets: [{listed}]'
                )
            rows = c.execute("SELECT * FROM commits WHERE id=? ORDER BY seq", (gid,)).fetchall()
            for row in rows:
                has_children = bool(self._children(c, row["repo"], gid))
                if squash and not has_children:
                    raise PachletError(
                        "cannot squash a commit that has no children as that would cause data loss, use the"
                        f" drop operation instead: {row['repo']}@{gid}"
                    )
                if not squash and has_children:
                    raise PachletError(f"cannot drop a commit that has children: {row['repo']}@{gid}")
            for row in rows:
                self._delete_commit(c, row)
            return [row["repo"] for row in rows]

    def squash_commit_set(self, gid: str) -> list[str]:
        """pachd's ``squashCommitSet``: delete every commit of ``gid``, each of which must have children
        (they keep their content); returns the repos it touched."""
        return self._delete_set(gid, squash=True)

    def drop_commit_set(self, gid: str) -> list[str]:
        """pachd's ``dropCommitSet``: delete every commit of ``gid``, none of which may have children
        (their data is lost); returns the repos it touched."""
        return self._delete_set(gid, squash=False)

    def _delete_commit(self, c: sqlite3.Connection, row: sqlite3.Row) -> None:
        """pachd's ``deleteCommit``, in ``c``."""
        repo, cid, parent = row["repo"], row["id"], row["parent"]
        for child in self._children(c, repo, cid):
            if child["finished"] is None:
                raise PachletError(f"cannot squash until child commit {repo}@{child['id']} is finished")
        self.collect_after_commit(self.commit_objects(c, repo, [cid]))  # type: ignore[attr-defined]
        for table, col in (("files", "commit_id"), ("staging", "commit_id"), ("provenance", "commit_id")):
            c.execute(f"DELETE FROM {table} WHERE repo=? AND {col}=?", (repo, cid))
        c.execute("DELETE FROM commits WHERE repo=? AND id=?", (repo, cid))
        c.execute("UPDATE commits SET parent=? WHERE repo=? AND parent=?", (parent, repo, cid))
        if parent is not None:
            c.execute("UPDATE branches SET head=? WHERE repo=? AND head=?", (parent, repo, cid))
            return
        headless = [r[0] for r in c.execute("SELECT name FROM branches WHERE repo=? AND head=?", (repo, cid))]
        if not headless:
            return
        empty = new_id()
        c.execute("UPDATE branches SET head=NULL WHERE repo=? AND head=?", (repo, cid))
        prov = self.branch_provenance(c, repo, headless[0])  # type: ignore[attr-defined]
        self._auto_commit(c, (repo, headless[0]), empty, finished=not prov, provenance=prov)  # type: ignore[attr-defined]
        c.executemany(
            "UPDATE branches SET head=? WHERE repo=? AND name=?", [(empty, repo, name) for name in headless]
        )
