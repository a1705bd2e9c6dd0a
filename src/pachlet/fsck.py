"""fsck: check (and repair) a pachlet root.

Damage a crash can leave, and what ``fix`` does about it:

- orphan objects (written by a datum or a put file whose transaction never committed): deleted;
- temp files under ``objects/tmp`` and stale per-datum scratch roots: deleted;
- staging rows of commits that are not open: deleted;
- open commits started by a ``put file`` of a process that died: abandoned (branch head back to parent);
- jobs left running by a process that died: put back in the queue (the next run resumes them, as pachd
  restarts a job after a worker dies).

Damage no crash can cause (a missing object, a branch head naming no commit) is reported, not fixed.
"""

from __future__ import annotations

import os
import shutil
from contextlib import nullcontext
from typing import TYPE_CHECKING

from pachlet.records import FsckReport

if TYPE_CHECKING:
    from pachlet.api import Pachlet
    from pachlet.store import Store


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fsck(pachlet: Pachlet, store: Store, *, fix: bool = False) -> FsckReport:
    """Check the root; with ``fix``, repair what a crash can leave (see the module docstring)."""
    engine = pachlet._engine
    report = FsckReport()
    writer = not store.read_only
    fix = fix and writer
    # no job may run meanwhile: its fresh objects would look like orphans
    with engine.run_lock if writer else nullcontext():
        c = store.conn()

        def dead(pid: int | None) -> bool:
            # the writer holds the root lock, so any other pid that wrote here has exited
            return pid != os.getpid() if writer else not _pid_alive(pid)

        def found(problem: str, repaired: bool) -> None:
            (report.fixed if repaired else report.problems).append(problem)

        # open commits left by dead put-file calls
        for r in c.execute(
            "SELECT repo, id, owner_pid FROM commits WHERE finished IS NULL AND transient=1"
        ).fetchall():
            if dead(r["owner_pid"]):
                if fix:
                    pachlet._pfs.abandon_commit(r["repo"], r["id"])
                found(f"open commit {r['repo']}@{r['id']} left by dead process {r['owner_pid']}", fix)
        for r in c.execute(
            "SELECT repo, id FROM commits WHERE finished IS NULL AND transient=0 AND origin='USER'"
        ).fetchall():
            report.notes.append(f"open commit {r['repo']}@{r['id']} (finish it with finish commit)")
        # jobs interrupted by a dead process
        interrupted = [
            (j, pid)
            for j in engine.interrupted_jobs()
            if dead(
                pid := c.execute(
                    "SELECT owner_pid FROM jobs WHERE pipeline=? AND id=?", (j.pipeline, j.id)
                ).fetchone()[0]
            )
        ]
        if interrupted and fix:
            engine._recover_interrupted()
        for j, pid in interrupted:
            found(
                f"job {j.pipeline}@{j.id} was interrupted ({j.state}, process {pid} died); it resumes on the next run",
                fix,
            )
        queued = c.execute("SELECT count(*) FROM jobs WHERE state='JOB_CREATED'").fetchone()[0]
        if queued:
            report.notes.append(f"{queued} job(s) queued")
        # staging rows of commits that are not open
        stale = c.execute(
            "SELECT DISTINCT s.repo, s.commit_id FROM staging s LEFT JOIN commits m"
            " ON m.repo=s.repo AND m.id=s.commit_id WHERE m.id IS NULL OR m.finished IS NOT NULL"
        ).fetchall()
        for r in stale:
            if fix:
                with store.tx() as w:
                    w.execute("DELETE FROM staging WHERE repo=? AND commit_id=?", (r[0], r[1]))
            found(f"staged files of a commit that is not open: {r[0]}@{r[1]}", fix)
        # branch heads and parents naming no commit
        for r in c.execute(
            "SELECT b.repo, b.name, b.head FROM branches b LEFT JOIN commits m ON m.repo=b.repo AND m.id=b.head"
            " WHERE b.head IS NOT NULL AND m.id IS NULL"
        ).fetchall():
            found(f"branch {r[0]}@{r[1]} points at missing commit {r[2]}", False)
        for r in c.execute(
            "SELECT pipeline, id FROM jobs j WHERE NOT EXISTS (SELECT 1 FROM commits m WHERE m.repo=j.pipeline AND m.id=j.id)"
        ).fetchall():
            found(f"job {r[0]}@{r[1]} has no output commit", False)
        # objects: referenced vs present
        referenced = {
            r[0]
            for r in c.execute(
                "SELECT hash FROM files UNION SELECT hash FROM staging WHERE deleted=0"
                " UNION SELECT hash FROM datum_outputs"
            )
        }
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
        scratch = list(store.scratch.iterdir()) if store.scratch.exists() else []
        if scratch:
            if fix:
                for s in scratch:
                    shutil.rmtree(s, ignore_errors=True)
            found(f"{len(scratch)} stale scratch dir(s) in {store.scratch}", fix)
    return report
