"""The PFS half of fsck: check (and repair) what a crash can leave in the file system.

- orphan objects (written by a datum or a put file whose transaction never committed): deleted;
- temp files under ``objects/tmp``: deleted;
- staging rows of commits that are not open: deleted;
- open commits started by a ``put file`` of a process that died: abandoned (branch head back to parent).

Damage no crash can cause (a missing object, a branch head naming no commit) is reported, not fixed.
The PPS half (interrupted jobs, stale scratch) is ``pachlet.pps.fsck``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from pachlet.records import FsckReport
from pachlet.store import Store


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this pid exists."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_dead(pid: int | None, *, writer: bool) -> bool:
    """Whether the process that owned a row has exited. A writer holds the root lock, so any other pid
    that wrote here has exited; a reader asks the OS."""
    return pid != os.getpid() if writer else not pid_alive(pid)


def recorder(report: FsckReport) -> Callable[[str, bool], None]:
    """``found(problem, repaired)``: file a problem under ``fixed`` or ``problems``."""

    def found(problem: str, repaired: bool) -> None:
        (report.fixed if repaired else report.problems).append(problem)

    return found


class FsckOps:
    """fsck of ``PFS``."""

    store: Store

    def fsck(
        self, report: FsckReport, *, fix: bool, also_referenced: set[str] | frozenset[str] = frozenset()
    ) -> None:
        """Check PFS's tables and the object store, adding to ``report``; with ``fix`` repair what a
        crash can leave. ``also_referenced``: digests other layers still use (PPS's datum outputs).
        The caller keeps jobs from running meanwhile (their fresh objects would look like orphans)."""
        store = self.store
        writer = not store.read_only
        fix = fix and writer
        found = recorder(report)
        c = store.conn()
        for r in c.execute(
            "SELECT repo, id, owner_pid FROM commits WHERE finished IS NULL AND transient=1"
        ).fetchall():
            if owner_dead(r["owner_pid"], writer=writer):
                if fix:
                    self.abandon_commit(r["repo"], r["id"])
                found(f"open commit {r['repo']}@{r['id']} left by dead process {r['owner_pid']}", fix)
        for r in c.execute(
            "SELECT repo, id FROM commits WHERE finished IS NULL AND transient=0 AND origin='USER'"
        ).fetchall():
            report.notes.append(f"open commit {r['repo']}@{r['id']} (finish it with finish commit)")
        stale = c.execute(
            "SELECT DISTINCT s.repo, s.commit_id FROM staging s LEFT JOIN commits m"
            " ON m.repo=s.repo AND m.id=s.commit_id WHERE m.id IS NULL OR m.finished IS NOT NULL"
        ).fetchall()
        for r in stale:
            if fix:
                with store.tx() as w:
                    w.execute("DELETE FROM staging WHERE repo=? AND commit_id=?", (r[0], r[1]))
            found(f"staged files of a commit that is not open: {r[0]}@{r[1]}", fix)
        for r in c.execute(
            "SELECT b.repo, b.name, b.head FROM branches b LEFT JOIN commits m ON m.repo=b.repo AND m.id=b.head"
            " WHERE b.head IS NOT NULL AND m.id IS NULL"
        ).fetchall():
            found(f"branch {r[0]}@{r[1]} points at missing commit {r[2]}", False)
        self._check_objects(report, fix=fix, also_referenced=also_referenced)

    def _check_objects(
        self, report: FsckReport, *, fix: bool, also_referenced: set[str] | frozenset[str]
    ) -> None:
        store = self.store
        found = recorder(report)
        c = store.conn()
        referenced = {
            r[0] for r in c.execute("SELECT hash FROM files UNION SELECT hash FROM staging WHERE deleted=0")
        } | set(also_referenced)
        present: set[str] = set()
        for sub in sorted(store.objects.iterdir()) if store.objects.exists() else []:
            if sub.name == "tmp" or not sub.is_dir():
                continue
            for obj in sub.iterdir():
                present.add(sub.name + obj.name)
        for digest in sorted(referenced - present):
            where = c.execute(
                "SELECT repo, commit_id, path FROM files WHERE hash=? LIMIT 1", (digest,)
            ).fetchone()
            loc = f" ({where[0]}@{where[1]}:{where[2]})" if where else ""
            found(f"object {digest} is missing{loc}", False)
        orphans = sorted(present - referenced)
        if orphans:
            if fix:
                for digest in orphans:
                    store.object_path(digest).unlink(missing_ok=True)
            found(f"{len(orphans)} orphan object(s) not referenced by any commit", fix)
        tmp = list(store.tmp.iterdir()) if store.tmp.exists() else []
        if tmp:
            if fix:
                for t in tmp:
                    t.unlink(missing_ok=True)
            found(f"{len(tmp)} temporary file(s) in {store.tmp}", fix)
