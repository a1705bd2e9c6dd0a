"""PFS: repos, branches, commits and files on top of ``pachlet.store.Store``.

A finished commit's file tree is stored whole in ``files`` (rows are cheap: contents are deduplicated
objects). An open commit keeps only its changes in ``staging`` (``deleted`` marks removals); reading it
overlays the staging rows on its parent's tree. ``finish_commit`` writes the merged tree and sets
``finished`` in one transaction, so a commit's content appears atomically or not at all.

The operations are split the way pachd's PFS server is: ``repos`` (repos and branches), ``refs`` (ref
resolution), ``projects``, ``commits`` (commit lifecycle), ``files`` (trees and file I/O), ``fsck`` and ``mount``.
Methods taking a connection ``c`` run inside the caller's transaction; the others open their own, which
joins an enclosing one (``Store.tx`` is re-entrant), so PPS composes them into one transaction.
"""

from __future__ import annotations

from pachlet.pfs.branchprov import ProvenanceOps
from pachlet.pfs.commits import CommitOps
from pachlet.pfs.commitsets import CommitSetOps
from pachlet.pfs.diff import DiffOps
from pachlet.pfs.files import FileOps
from pachlet.pfs.fsck import FsckOps
from pachlet.pfs.gc import GcOps
from pachlet.pfs.mount import MountOps
from pachlet.pfs.projects import ProjectOps
from pachlet.pfs.refs import RefOps
from pachlet.pfs.repos import RepoOps
from pachlet.store import Store


class PFS(
    ProjectOps,
    RepoOps,
    RefOps,
    CommitOps,
    FileOps,
    FsckOps,
    MountOps,
    ProvenanceOps,
    CommitSetOps,
    DiffOps,
    GcOps,
):
    """Versioned file system operations of one root (the public API PPS and the facade use)."""

    def __init__(self, store: Store) -> None:
        self.store = store
