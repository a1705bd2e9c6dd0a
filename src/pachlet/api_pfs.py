"""The facade's PFS calls: repos, branches, commits, files and projects, as pachctl's PFS verbs.

``PFSCalls`` is a base class of ``pachlet.api.Pachlet``; it needs the facade's store, PFS driver and PPS
service (set by ``Pachlet.__init__``), since a finished commit queues jobs and a deleted repo may be
read by a pipeline.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from pachlet.errors import PachletError
from pachlet.records import BranchInfo, CommitInfo, FileRecord, ProjectInfo, RepoInfo

if TYPE_CHECKING:
    from pachlet.pfs.driver import PFS
    from pachlet.pps.service import PPS
    from pachlet.store import Store

FileData = bytes | bytearray | memoryview | BinaryIO | os.PathLike
"""What ``put_file`` accepts: the bytes, a binary file object, or a ``pathlib.Path`` of a local file."""


class PFSCalls:
    """Repo, branch, commit, file and project calls of the facade."""

    _store: Store
    _pfs: PFS
    _pps: PPS

    # ------------------------------------------------------------------ repos and branches
    def create_repo(self, name: str, description: str = "", *, update: bool = False) -> RepoInfo:
        """Create a user repo (with no branches until its first commit). ``update=True`` changes the
        description of an existing repo instead of failing with ``AlreadyExistsError``."""
        return self._pfs.create_repo(name, description, update=update)

    def list_repos(self) -> list[RepoInfo]:
        """Every repo, newest first (as pachctl lists them)."""
        return self._pfs.list_repos()

    def inspect_repo(self, name: str) -> RepoInfo:
        """One repo; ``NotFoundError`` if absent."""
        return self._pfs.inspect_repo(name)

    def delete_repo(self, name: str, *, force: bool = False) -> None:
        """Delete a repo with its branches and commits. A pipeline's output repo, or a repo a pipeline
        reads, is refused unless ``force`` (then the pipelines keep running against nothing). A repo
        that does not exist is not an error (pachd 2.7.6). Objects nothing else uses are removed."""
        if not self._pfs.repo_exists(name):
            return
        self._pps.check_repo_deletable(name, force=force)
        self._pfs.delete_repo(name, force=force)

    def create_branch(
        self,
        repo: str,
        branch: str,
        head: str | None = None,
        *,
        provenance: Sequence[tuple[str, str]] = (),
    ) -> BranchInfo:
        """Create (or move) ``branch`` to ``head`` (a commit ID or another branch of the repo; None
        leaves it empty or where it is). ``provenance`` is recorded as (repo, branch) pairs."""
        return self._pfs.create_branch(repo, branch, head, provenance=provenance)

    def inspect_branch(self, repo: str, branch: str) -> BranchInfo:
        """One branch; ``NotFoundError`` if absent."""
        return self._pfs.inspect_branch(repo, branch)

    def list_branches(self, repo: str) -> list[BranchInfo]:
        """The repo's branches, newest first."""
        return self._pfs.list_branches(repo)

    def delete_branch(self, repo: str, branch: str, *, force: bool = False) -> None:
        """Delete a branch (its commits stay reachable by ID); one that plain branches are provenant on
        needs ``force``."""
        self._pfs.delete_branch(repo, branch, force=force)

    # ------------------------------------------------------------------ commits
    def start_commit(
        self, repo: str, branch: str = "master", *, description: str = "", parent: str | None = None
    ) -> CommitInfo:
        """Open a USER commit on ``branch`` (created if missing) with a new global ID. Fails if the
        branch head is still open. The commit is invisible to pipelines until ``finish_commit``."""
        return self._pfs.start_commit(repo, branch, description=description, parent=parent)

    def finish_commit(self, repo: str, ref: str = "master", *, description: str | None = None) -> CommitInfo:
        """Finish an open commit (by ID, or the open head of a branch): its file tree becomes visible
        atomically and jobs of the pipelines reading the branch are queued in the same global ID."""
        with self._store.tx():
            info = self._pfs.finish_commit(repo, ref, description=description)
            self._pps.on_commits_finished([info])
        return self._pfs.inspect_commit(repo, info.id)

    def put_file(
        self,
        repo: str,
        ref: str,
        path: str,
        data: FileData,
        *,
        append: bool = False,
    ) -> CommitInfo:
        """Write one file. If ``ref`` is an open commit (or a branch whose head is open) the file goes
        into it; otherwise a commit is started on the branch, written and finished (like ``pachctl put
        file``), which queues jobs. ``data``: bytes, a binary file object, or a ``Path`` to read.
        Returns the commit written to."""
        return self._write_files(repo, ref, lambda c: self._pfs.put_file(c, path, data, append=append))

    def put_files(self, repo: str, ref: str, path: str, source: str | os.PathLike[str]) -> CommitInfo:
        """Write a local file or directory tree (``put file -r``) under ``path`` in one commit; same
        commit rules as ``put_file``."""
        return self._write_files(repo, ref, lambda c: self._pfs.put_tree(c, path, Path(source)))

    def delete_file(self, repo: str, ref: str, path: str) -> CommitInfo:
        """Delete a file or a directory tree; same commit rules as ``put_file``."""
        return self._write_files(repo, ref, lambda c: self._pfs.delete_path(c, path))

    def _write_files(self, repo: str, ref: str, op: Callable[[CommitInfo], None]) -> CommitInfo:
        commit, auto = self._pfs.open_commit_for_write(repo, ref)
        try:
            op(commit)
            if auto:
                return self.finish_commit(repo, commit.id)
        except BaseException:
            if auto:
                self._pfs.abandon_commit(repo, commit.id)
            raise
        return self._pfs.inspect_commit(repo, commit.id)

    def abandon_commit(self, repo: str, commit_id: str) -> None:
        """Drop an open commit entirely, with what was written to it (its branch head goes back to its
        parent); nothing is queued. A missing commit is not an error."""
        self._pfs.abandon_commit(repo, commit_id)

    def get_file(self, repo: str, ref: str, path: str) -> bytes:
        """A file's content; ``NotFoundError`` if absent, ``PachletError`` for a directory."""
        return self._pfs.get_file(repo, ref, path)

    def file_object_path(self, repo: str, ref: str, path: str) -> Path:
        """The read-only object-store path holding a file's bytes (for streaming large files)."""
        return self._pfs.file_object_path(repo, ref, path)

    def list_files(self, repo: str, ref: str = "master", path: str = "/") -> list[FileRecord]:
        """Direct children of a directory (files and ``dir`` entries), sorted by path; a file path
        gives that one file."""
        return self._pfs.list_files(repo, ref, path)

    def walk_files(self, repo: str, ref: str = "master", path: str = "/") -> list[FileRecord]:
        """Every file (not directory) at or below ``path``, sorted by path."""
        return self._pfs.walk_files(repo, ref, path)

    def glob_files(self, repo: str, ref: str, pattern: str) -> list[FileRecord]:
        """Files and directories matching a Pachyderm glob pattern, sorted by path."""
        return self._pfs.glob_files(repo, ref, pattern)

    def inspect_file(self, repo: str, ref: str, path: str) -> FileRecord:
        """One file or directory; ``NotFoundError`` if absent."""
        return self._pfs.inspect_file(repo, ref, path)

    def list_commits(
        self,
        repo: str | None = None,
        branch: str | None = None,
        global_id: str | None = None,
        *,
        number: int | None = None,
    ) -> list[CommitInfo]:
        """Commits, newest first, filtered by repo, branch and/or global ID (at most ``number``)."""
        return self._pfs.list_commits(repo, branch, global_id, number=number)

    def inspect_commit(self, repo: str, ref: str = "master") -> CommitInfo:
        """A commit by ID, or a branch's head; ``NotFoundError`` if absent."""
        return self._pfs.inspect_commit(repo, ref)

    def wait_commit(self, repo: str, ref: str = "master", *, timeout: float | None = None) -> CommitInfo:
        """Run pending jobs, then return the commit once finished (``PachletError`` if still open after
        ``timeout`` seconds, e.g. a user commit nobody finishes)."""
        return self._pps.wait_commit(repo, ref, timeout=timeout)

    def squash_commit(self, global_id: str) -> None:
        """Delete every commit of a global ID, keeping its changes in their children (pachd's
        ``SquashCommitSet``; ``pachlet.pfs.commitsets`` has the refusals)."""
        self._check_no_jobs(global_id)
        self._pfs.squash_commit_set(global_id)

    def drop_commit(self, global_id: str) -> None:
        """Delete every commit of a global ID with its data; none may have children (pachd's
        ``DropCommitSet``)."""
        self._check_no_jobs(global_id)
        self._pfs.drop_commit_set(global_id)

    def _check_no_jobs(self, global_id: str) -> None:
        if any(j.id == global_id for j in self._pps.pending_jobs()):
            raise PachletError(f"commit set {global_id} has jobs still running; wait for them first")

    def diff_file(
        self, new: tuple[str, str, str], old: tuple[str, str, str] | None = None
    ) -> list[tuple[FileRecord | None, FileRecord | None]]:
        """``(old, new)`` for each path under ``new`` = (repo, ref, path) that differs from ``old``
        (default: the new commit's parent), files and directories, in path order (pachd's DiffFile)."""
        return self._pfs.diff_files(*new, *(old or (None, None, None)))

    def copy_file(
        self, src: tuple[str, str, str], dst: tuple[str, str, str], *, append: bool = False
    ) -> CommitInfo:
        """Copy a file or directory ``src`` = (repo, ref, path) to ``dst``; same commit rules as
        ``put_file``."""
        return self._write_files(dst[0], dst[1], lambda c: self._pfs.copy_path(c, src, dst[2], append=append))

    def put_file_url(
        self, repo: str, ref: str, path: str, url: str, *, recursive: bool = False, append: bool = False
    ) -> CommitInfo:
        """Write what ``url`` names (``http(s)://`` or ``file://``; ``recursive`` for a directory) at
        ``path``; same commit rules as ``put_file``."""
        return self._write_files(
            repo, ref, lambda c: self._pfs.put_url(c, path, url, recursive=recursive, append=append)
        )

    def commit_set(self, global_id: str) -> list[CommitInfo]:
        """Every commit of one global ID (upstream first); ``NotFoundError`` if there is none."""
        return self._pfs.commit_set(global_id)

    # ------------------------------------------------------------------ projects
    def create_project(self, name: str, description: str = "", *, update: bool = False) -> ProjectInfo:
        """Create a project (pachd 2.5+); ``update=True`` creates it or replaces its description.
        Objects of a project other than ``default`` are named ``project/name`` (``pachlet.projects``)."""
        return self._pfs.create_project(name, description, update=update)

    def inspect_project(self, name: str) -> ProjectInfo:
        """One project; ``NotFoundError`` if absent."""
        return self._pfs.inspect_project(name)

    def list_projects(self) -> list[ProjectInfo]:
        """Every project, ``default`` first."""
        return self._pfs.list_projects()

    def delete_project(self, name: str) -> None:
        """Delete a project; refused while it holds repos (as pachd 2.7.6, whatever ``force`` says)."""
        self._pfs.delete_project(name)
