"""Branch provenance on plain repos, as pachd's driver keeps it (v2.7.6 ``driver.go`` ``createBranch``,
``fillNewBranches``, ``makeEmptyCommit``, ``propagateBranches``, ``computeBranchProvenance``,
``validateDAGStructure``, ``deleteBranch``).

A branch's direct provenance is the ``(repo, branch)`` list in ``branches.provenance``. Pipeline output
branches carry their inputs there too, but their commits are PPS's (jobs open them), so propagation here
reaches only *plain* branches: those of repos no pipeline owns. The rules:

- ``create branch --provenance``: a provenance branch that does not exist (or has no head) is created
  with a finished empty AUTO commit; the branch gets a new open AUTO head commit whose provenance is its
  provenance branches' heads when it has no head or its provenance changed (removing every provenance
  adds no commit); all of it in one new global ID, propagated downstream.
- every new commit on a branch opens an AUTO commit of the same global ID on each plain branch
  downstream (upstream first), whose parent is that branch's head and whose provenance is its
  provenance branches' heads (``propagateBranches``). Those commits are finished by the user (pachd
  refuses only pipeline output commits), and nobody may start a commit on such a branch.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from pachlet.errors import PachletError
from pachlet.names import check_name
from pachlet.records import ORIGIN_AUTO
from pachlet.store import Store, new_id
from pachlet.timeutil import now_ts

BranchKey = tuple[str, str]


def _prov(text: str | None) -> list[BranchKey]:
    return [(p[0], p[1]) for p in json.loads(text or "[]")]


def branch_str(key: BranchKey) -> str:
    """``repo@branch``, as pachd prints a ``pfs.Branch``."""
    return f"{key[0]}@{key[1]}"


class ProvenanceOps:
    """Branch provenance and commit propagation of ``PFS``."""

    store: Store

    # ------------------------------------------------------------------ the branch graph
    def _graph(self, c: sqlite3.Connection) -> dict[BranchKey, tuple[list[BranchKey], bool]]:
        """Every branch: (direct provenance, whether its repo is plain)."""
        rows = c.execute(
            "SELECT b.repo, b.name, b.provenance, r.pipeline FROM branches b JOIN repos r ON r.name=b.repo"
        ).fetchall()
        return {(r[0], r[1]): (_prov(r[2]), r[3] is None) for r in rows}

    @staticmethod
    def _downstream(
        graph: dict[BranchKey, tuple[list[BranchKey], bool]], start: BranchKey
    ) -> list[BranchKey]:
        """Every branch downstream of ``start`` (transitively), upstream ones first."""
        subv: dict[BranchKey, list[BranchKey]] = {}
        for key, (prov, _plain) in graph.items():
            for p in prov:
                subv.setdefault(p, []).append(key)
        seen: set[BranchKey] = set()
        todo = [start]
        while todo:
            for s in subv.get(todo.pop(), []):
                if s not in seen:
                    seen.add(s)
                    todo.append(s)
        order: list[BranchKey] = []
        placed: set[BranchKey] = {start}
        pending = sorted(seen)
        while pending:
            ready = [k for k in pending if all(p in placed or p not in seen for p in graph[k][0])]
            if not ready:  # a cycle: should not exist; keep a stable order anyway
                ready = pending[:1]
            for k in ready:
                order.append(k)
                placed.add(k)
            pending = [k for k in pending if k not in placed]
        return order

    def branch_closure(
        self, c: sqlite3.Connection, repo: str, branch: str
    ) -> tuple[list[BranchKey], list[BranchKey]]:
        """(every branch upstream, every branch downstream) of ``repo@branch``, transitively, sorted."""
        graph = self._graph(c)
        up: set[BranchKey] = set()
        todo = list(graph.get((repo, branch), ([], True))[0])
        while todo:
            k = todo.pop()
            if k not in up:
                up.add(k)
                todo.extend(graph.get(k, ([], True))[0])
        return sorted(up), sorted(self._downstream(graph, (repo, branch)))

    def plain_subvenance(self, c: sqlite3.Connection, repo: str, branch: str) -> list[BranchKey]:
        """The plain branches downstream of ``repo@branch``, upstream ones first."""
        graph = self._graph(c)
        return [k for k in self._downstream(graph, (repo, branch)) if graph[k][1]]

    def branch_provenance(self, c: sqlite3.Connection, repo: str, branch: str) -> list[BranchKey]:
        """The direct provenance of a branch (empty when it has none or does not exist)."""
        row = c.execute("SELECT provenance FROM branches WHERE repo=? AND name=?", (repo, branch)).fetchone()
        return _prov(row[0]) if row else []

    # ------------------------------------------------------------------ commits
    def _head(self, c: sqlite3.Connection, key: BranchKey) -> str | None:
        row = c.execute("SELECT head FROM branches WHERE repo=? AND name=?", key).fetchone()
        return row[0] if row else None

    def _auto_commit(
        self,
        c: sqlite3.Connection,
        key: BranchKey,
        gid: str,
        *,
        finished: bool,
        provenance: Sequence[BranchKey],
    ) -> None:
        """A new AUTO commit ``gid`` on ``key`` (parent: its head), made its head; its provenance is the
        heads of ``provenance``. A finished one is empty (``makeEmptyCommit``: an empty file set)."""
        repo, branch = key
        parent = self._head(c, key)
        ts = now_ts()
        c.execute(
            "INSERT INTO commits(repo, id, branch, origin, parent, started, finished) VALUES(?,?,?,?,?,?,?)",
            (repo, gid, branch, ORIGIN_AUTO, parent, ts, ts if finished else None),
        )
        rows = []
        for p in provenance:
            head = self._head(c, p)
            if head is not None:
                rows.append((repo, gid, p[0], p[1], head))
        c.executemany(
            "INSERT OR REPLACE INTO provenance(repo, commit_id, prov_repo, prov_branch, prov_commit)"
            " VALUES(?,?,?,?,?)",
            rows,
        )
        c.execute("UPDATE branches SET head=? WHERE repo=? AND name=?", (gid, repo, branch))

    def propagate(self, c: sqlite3.Connection, repo: str, branch: str, gid: str) -> None:
        """Open an AUTO commit ``gid`` on every plain branch downstream of ``repo@branch`` (pachd's
        ``propagateBranches``), upstream first; a repo that already has commit ``gid`` is passed over."""
        if not c.execute(
            "SELECT 1 FROM branches b JOIN repos r ON r.name=b.repo WHERE r.pipeline IS NULL"
            " AND b.provenance NOT IN ('', '[]') LIMIT 1"
        ).fetchone():
            return  # no plain branch has provenance (the common case): nothing to load
        graph = self._graph(c)
        for key in self._downstream(graph, (repo, branch)):
            prov, plain = graph[key]
            if not plain:
                continue
            if c.execute("SELECT 1 FROM commits WHERE repo=? AND id=?", (key[0], gid)).fetchone():
                continue
            self._auto_commit(c, key, gid, finished=False, provenance=prov)

    # ------------------------------------------------------------------ create / delete
    def set_branch_provenance(
        self,
        c: sqlite3.Connection,
        repo: str,
        branch: str,
        head: str | None,
        provenance: Sequence[tuple[str, str]],
    ) -> None:
        """pachd's ``createBranch`` for a plain repo's branch with (or losing) provenance, in ``c``."""
        this = (repo, branch)
        wanted: list[BranchKey] = list(dict.fromkeys((p[0], p[1]) for p in provenance))
        for prepo, pbranch in wanted:
            check_name("branch", pbranch)
            if prepo == repo:
                raise PachletError(f"repo {repo} cannot be in the provenance of its own branch")
            self.repo_row(c, prepo)  # type: ignore[attr-defined]
        gid = new_id()
        filled: set[str] = set()
        for key in wanted:
            row = c.execute("SELECT head FROM branches WHERE repo=? AND name=?", key).fetchone()
            if row is not None and row[0] is not None:
                continue
            if row is None:
                c.execute(
                    "INSERT INTO branches(repo, name, head, provenance, created) VALUES(?,?,?,?,?)",
                    (key[0], key[1], None, "[]", now_ts()),
                )
            if key[0] in filled:
                continue
            filled.add(key[0])
            self._auto_commit(c, key, gid, finished=True, provenance=())
        graph = self._graph(c)
        below = set(self._downstream(graph, this))
        for key in wanted:
            if key in below:
                raise PachletError(
                    f'branch "{branch_str(key)}" cannot be both in "{branch_str(this)}"\'s provenance and subvenance'
                )
        row = c.execute("SELECT * FROM branches WHERE repo=? AND name=?", this).fetchone()
        old = _prov(row["provenance"]) if row is not None else []
        blob = json.dumps([list(k) for k in wanted])
        if row is None:
            c.execute(
                "INSERT INTO branches(repo, name, head, provenance, created) VALUES(?,?,?,?,?)",
                (repo, branch, head, blob, now_ts()),
            )
        else:
            c.execute("UPDATE branches SET provenance=? WHERE repo=? AND name=?", (blob, repo, branch))
            if head is not None:
                c.execute("UPDATE branches SET head=? WHERE repo=? AND name=?", (head, repo, branch))
        moved = head is not None
        if self._head(c, this) is None or (set(old) != set(wanted) and wanted):
            self._auto_commit(c, this, gid, finished=not wanted, provenance=wanted)
            moved = True
        self._check_dag(c, this)
        if moved:
            self.propagate(c, repo, branch, gid)

    def _check_dag(self, c: sqlite3.Connection, start: BranchKey) -> None:
        """pachd's ``validateDAGStructure``: at most one branch of a repo in a provenance DAG."""
        graph = self._graph(c)
        links: dict[BranchKey, set[BranchKey]] = {}
        for key, (prov, _plain) in graph.items():
            for p in prov:
                links.setdefault(key, set()).add(p)
                links.setdefault(p, set()).add(key)
        seen = {start}
        todo = [start]
        while todo:
            for n in links.get(todo.pop(), ()):
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        repos: set[str] = set()
        for key in sorted(seen):
            if key[0] in repos:
                raise PachletError(
                    f'multiple branches from the same repo, "{key[0]}", cannot participate in a DAG'
                )
            repos.add(key[0])

    def check_branch_deletable(
        self, c: sqlite3.Connection, keys: Sequence[BranchKey], *, force: bool
    ) -> None:
        """pachd's ``deleteBranch`` refusal: a branch with plain branches downstream (outside ``keys``)
        is not deleted unless ``force``; with ``force`` those branches lose it from their provenance."""
        graph = self._graph(c)
        doomed = set(keys)
        for key in keys:
            subv = [k for k, (prov, plain) in graph.items() if plain and key in prov and k not in doomed]
            if not subv:
                continue
            if not force:
                listed = " ".join(branch_str(k) for k in sorted(subv))
                raise PachletError(
                    f"branch {key[1]} has [{listed}] as subvenance, deleting it would break those branches"
                )
            for k in subv:
                kept = [p for p in graph[k][0] if p not in doomed]
                c.execute(
                    "UPDATE branches SET provenance=? WHERE repo=? AND name=?",
                    (json.dumps([list(p) for p in kept]), k[0], k[1]),
                )

    def drop_upstream_repo(self, c: sqlite3.Connection, repo: str, *, force: bool) -> None:
        """Before deleting ``repo``: the ``check_branch_deletable`` rule for every branch of it."""
        keys = [(repo, r[0]) for r in c.execute("SELECT name FROM branches WHERE repo=?", (repo,))]
        self.check_branch_deletable(c, keys, force=force)
