"""PFS commits: starting, finishing and abandoning them (pachd's ``startCommit``, ``finishCommit``,
``squashCommit``), including the pipeline output commits PPS opens and finishes."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence

from pachlet.errors import PachletError
from pachlet.names import check_name
from pachlet.pfs.paths import Tree, find_collision
from pachlet.records import ORIGIN_AUTO, ORIGIN_USER, CommitInfo
from pachlet.store import Store, new_id
from pachlet.timeutil import now_ts


class CommitOps:
    """Commit lifecycle operations of ``PFS``."""

    store: Store

    def insert_commit(
        self,
        c: sqlite3.Connection,
        repo: str,
        branch: str,
        commit_id: str,
        *,
        origin: str,
        description: str = "",
        parent: str | None = None,
        transient: bool = False,
        provenance: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """Record a new open commit and make it the branch head."""
        c.execute(
            "INSERT INTO commits(repo, id, branch, origin, parent, started, description, transient, owner_pid)"
            " VALUES(?,?,?,?,?,?,?,?,?)",
            (repo, commit_id, branch, origin, parent, now_ts(), description, int(transient), os.getpid()),
        )
        c.executemany(
            "INSERT OR REPLACE INTO provenance(repo, commit_id, prov_repo, prov_branch, prov_commit)"
            " VALUES(?,?,?,?,?)",
            [(repo, commit_id, pr, pb, pc) for pr, pb, pc in provenance],
        )
        self.set_branch(c, repo, branch, commit_id)

    def start_commit(
        self,
        repo: str,
        branch: str = "master",
        *,
        description: str = "",
        parent: str | None = None,
        transient: bool = False,
        commit_id: str | None = None,
    ) -> CommitInfo:
        """Open a USER commit on a branch with a new global ID (or ``commit_id``)."""
        check_name("branch", branch)
        with self.store.tx() as c:
            repo_row = self.repo_row(c, repo)
            if repo_row["kind"] == "output":  # a spout's ("spout") takes its user code's commits
                raise PachletError(
                    f"cannot start a commit in {repo}: it is the output repo of pipeline {repo_row['pipeline']}"
                )
            b = c.execute("SELECT head FROM branches WHERE repo=? AND name=?", (repo, branch)).fetchone()
            head = b[0] if b else None
            if head is not None:
                hrow = c.execute("SELECT * FROM commits WHERE repo=? AND id=?", (repo, head)).fetchone()
                if hrow is not None and hrow["finished"] is None:
                    if hrow["transient"] and hrow["owner_pid"] != os.getpid():
                        # left by a process that died mid put-file: it can never be finished
                        self._abandon(c, repo, head)
                        head = hrow["parent"]
                    else:
                        raise PachletError(
                            f"{repo}@{branch} already has an open commit {head}; finish it first"
                        )
            if parent is not None:
                head = self.resolve(c, repo, parent)["id"]
            cid = commit_id or new_id()
            self.insert_commit(
                c,
                repo,
                branch,
                cid,
                origin=ORIGIN_USER,
                description=description,
                parent=head,
                transient=transient,
            )
            return self.commit_info(c, self.resolve(c, repo, cid))

    def open_commit_for_write(self, repo: str, ref: str) -> tuple[CommitInfo, bool]:
        """The open commit a write to ``repo@ref`` goes into, and whether it was started for this write
        (then the caller finishes it)."""
        with self.store.tx() as c:
            self.repo_row(c, repo)
            row = c.execute("SELECT * FROM commits WHERE repo=? AND id=?", (repo, ref)).fetchone()
            if row is not None:
                if row["finished"] is not None:
                    raise PachletError(
                        f"commit {repo}@{ref} is finished; write to a branch or an open commit"
                    )
                return self.commit_info(c, row), False
            b = c.execute("SELECT head FROM branches WHERE repo=? AND name=?", (repo, ref)).fetchone()
            if b is not None and b[0] is not None:
                hrow = c.execute("SELECT * FROM commits WHERE repo=? AND id=?", (repo, b[0])).fetchone()
                if (
                    hrow is not None
                    and hrow["finished"] is None
                    and hrow["origin"] == ORIGIN_USER
                    and not hrow["transient"]
                ):
                    return self.commit_info(c, hrow), False
            return self.start_commit(repo, ref, transient=True), True

    def _open_row(self, c: sqlite3.Connection, repo: str, ref: str) -> sqlite3.Row:
        row = self.resolve(c, repo, ref)
        if row["finished"] is not None:
            raise PachletError(f"commit {repo}@{row['id']} is already finished")
        return row

    def finish_commit(self, repo: str, ref: str, *, description: str | None = None) -> CommitInfo:
        """Materialize an open commit's tree and mark it finished (one transaction)."""
        with self.store.tx() as c:
            row = self._open_row(c, repo, ref)
            if row["origin"] == ORIGIN_AUTO:
                raise PachletError(
                    f"commit {repo}@{row['id']} is a pipeline output commit; pachlet finishes it"
                )
            tree = self.tree(c, row)
            clash = find_collision(tree)
            if clash is not None:
                raise PachletError(f"file / directory path collision ({clash}) in commit {repo}@{row['id']}")
            self.write_tree(c, repo, row["id"], tree)
            c.execute("DELETE FROM staging WHERE repo=? AND commit_id=?", (repo, row["id"]))
            c.execute(
                "UPDATE commits SET finished=?, size=?, description=COALESCE(?, description), owner_pid=NULL"
                " WHERE repo=? AND id=?",
                (now_ts(), sum(s for _, s in tree.values()), description, repo, row["id"]),
            )
            return self.commit_info(c, self.resolve(c, repo, row["id"]))

    def write_tree(self, c: sqlite3.Connection, repo: str, commit_id: str, tree: Tree) -> None:
        """Store a commit's whole file tree."""
        c.execute("DELETE FROM files WHERE repo=? AND commit_id=?", (repo, commit_id))
        c.executemany(
            "INSERT INTO files(repo, commit_id, path, hash, size) VALUES(?,?,?,?,?)",
            [(repo, commit_id, p, h, s) for p, (h, s) in tree.items()],
        )

    def finish_output_commit(self, repo: str, commit_id: str, tree: Tree, *, error: str = "") -> None:
        """Finish a pipeline's output commit with the given tree (and error, for failed jobs)."""
        with self.store.tx() as c:
            self.write_tree(c, repo, commit_id, tree)
            c.execute(
                "UPDATE commits SET finished=?, size=?, error=?, owner_pid=NULL WHERE repo=? AND id=?",
                (now_ts(), sum(s for _, s in tree.values()), error, repo, commit_id),
            )

    def _abandon(self, c: sqlite3.Connection, repo: str, commit_id: str) -> None:
        row = c.execute("SELECT * FROM commits WHERE repo=? AND id=?", (repo, commit_id)).fetchone()
        if row is None:
            return
        c.execute("DELETE FROM staging WHERE repo=? AND commit_id=?", (repo, commit_id))
        c.execute("DELETE FROM provenance WHERE repo=? AND commit_id=?", (repo, commit_id))
        c.execute("DELETE FROM files WHERE repo=? AND commit_id=?", (repo, commit_id))
        c.execute("DELETE FROM commits WHERE repo=? AND id=?", (repo, commit_id))
        c.execute("UPDATE branches SET head=? WHERE repo=? AND head=?", (row["parent"], repo, commit_id))

    def abandon_commit(self, repo: str, commit_id: str) -> None:
        """Drop an open commit entirely (its branch head goes back to its parent)."""
        with self.store.tx() as c:
            self._abandon(c, repo, commit_id)

    def start_output_commit(
        self, repo: str, branch: str, commit_id: str, provenance: Sequence[tuple[str, str, str]]
    ) -> None:
        """Open a pipeline's AUTO output commit on ``branch`` (its parent: the branch head), recording the
        input commits it is computed from."""
        with self.store.tx() as c:
            b = c.execute("SELECT head FROM branches WHERE repo=? AND name=?", (repo, branch)).fetchone()
            parent = b[0] if b else None
            self.insert_commit(
                c, repo, branch, commit_id, origin=ORIGIN_AUTO, parent=parent, provenance=provenance
            )

    def abandon_open_commits(self, repo: str) -> None:
        """Abandon every open commit of a repo."""
        with self.store.tx() as c:
            for r in c.execute(
                "SELECT id FROM commits WHERE repo=? AND finished IS NULL", (repo,)
            ).fetchall():
                self._abandon(c, repo, r[0])

    def set_commit_error(self, repo: str, commit_id: str, error: str) -> None:
        """Set the error of a (finished) commit, e.g. an output commit whose egress failed."""
        with self.store.tx() as c:
            c.execute("UPDATE commits SET error=? WHERE repo=? AND id=?", (error, repo, commit_id))
