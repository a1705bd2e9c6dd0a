"""The interface every CLI command talks to: a ``Backend`` returns python-pachyderm proto messages.

Two implementations: ``pachlet.cli.local.LocalBackend`` (a local root through ``pachlet.api``) and
``pachlet.cli.remote.RemoteBackend`` (a running pachd through python-pachyderm). Commands only see this
protocol, so ``-o json`` and the tables come from the same objects whichever backend answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:
    from python_pachyderm.proto.v2.pfs import pfs_pb2
    from python_pachyderm.proto.v2.pps import pps_pb2

    from pachlet.secrets import SecretManifest

ProgressFn = Callable[[str, str, int, int], None]
"""progress(pipeline, job_id, done, total)"""

SecretWithKeys = tuple["pps_pb2.SecretInfo", tuple[str, ...]]
"""A secret's info and its key names (empty when the backend does not tell them)."""


class Backend(Protocol):
    """What the CLI needs from a root or a pachd; every read returns proto messages."""

    #: Whether a mutation's triggered jobs run in this process (a local root) or in the server (pachd,
    #: ``pachlet serve``), where pachctl returns as soon as the commit or pipeline exists.
    inline_jobs: bool

    # repos and branches
    def create_repo(self, name: str, description: str, update: bool) -> pfs_pb2.RepoInfo:
        """Create (or with ``update`` re-describe) a repo."""
        ...

    def list_repos(self) -> list[pfs_pb2.RepoInfo]:
        """Every repo."""
        ...

    def inspect_repo(self, name: str) -> pfs_pb2.RepoInfo:
        """One repo."""
        ...

    def delete_repo(self, name: str, force: bool) -> None:
        """Delete a repo (``force``: even if pipelines use it)."""
        ...

    def create_branch(
        self, repo: str, branch: str, head: str | None, provenance: Sequence[tuple[str, str]]
    ) -> pfs_pb2.BranchInfo:
        """Create or move a branch; ``provenance`` is (repo, branch) pairs."""
        ...

    def list_branches(self, repo: str) -> list[pfs_pb2.BranchInfo]:
        """The branches of a repo."""
        ...

    def inspect_branch(self, repo: str, branch: str) -> pfs_pb2.BranchInfo:
        """One branch."""
        ...

    def delete_branch(self, repo: str, branch: str, force: bool = False) -> None:
        """Delete a branch (``force``: even if other branches are provenant on it)."""
        ...

    # commits
    def start_commit(self, repo: str, branch: str, description: str) -> pfs_pb2.CommitInfo:
        """Open a commit on a branch."""
        ...

    def finish_commit(self, repo: str, ref: str, description: str | None) -> pfs_pb2.CommitInfo:
        """Finish an open commit."""
        ...

    def abandon_commit(self, repo: str, commit_id: str) -> None:
        """Drop an open commit a failed command started (best effort; errors are swallowed)."""
        ...

    def inspect_commit(self, repo: str, ref: str) -> pfs_pb2.CommitInfo:
        """One commit, by ID or branch."""
        ...

    def wait_commit(self, repo: str, ref: str, progress: ProgressFn | None) -> pfs_pb2.CommitInfo:
        """Wait for a commit to finish (running pending jobs first when the backend runs them)."""
        ...

    def list_commits(
        self, repo: str | None, branch: str | None, number: int | None
    ) -> list[pfs_pb2.CommitInfo]:
        """Commits of a repo (or branch), newest first, at most ``number``."""
        ...

    def commit_set(self, global_id: str) -> list[pfs_pb2.CommitInfo]:
        """The commits of one global ID."""
        ...

    def commit_sets(self, number: int | None) -> list[pfs_pb2.CommitSetInfo]:
        """Every commit set, newest first, at most ``number``."""
        ...

    # files
    def put_file(self, repo: str, ref: str, path: str, data: bytes | BinaryIO | Path, append: bool) -> None:
        """Write (or append to) one file."""
        ...

    def put_tree(self, repo: str, ref: str, path: str, source: Path) -> None:
        """Write a local directory under ``path``."""
        ...

    def delete_file(self, repo: str, ref: str, path: str) -> None:
        """Delete a file or directory."""
        ...

    def copy_file_to(self, repo: str, ref: str, path: str, out: BinaryIO) -> None:
        """Stream a file's bytes into ``out``."""
        ...

    def inspect_file(self, repo: str, ref: str, path: str) -> pfs_pb2.FileInfo:
        """One file or directory."""
        ...

    def list_files(self, repo: str, ref: str, path: str) -> list[pfs_pb2.FileInfo]:
        """The entries of a directory."""
        ...

    def walk_files(self, repo: str, ref: str, path: str) -> list[pfs_pb2.FileInfo]:
        """Every file (not directory) under ``path``."""
        ...

    def glob_files(self, repo: str, ref: str, pattern: str) -> list[pfs_pb2.FileInfo]:
        """The files matching a glob pattern."""
        ...

    # pipelines
    def create_pipeline(
        self, spec: Mapping[str, Any], update: bool, reprocess: bool, source: str | None
    ) -> pps_pb2.PipelineInfo:
        """Create or update a pipeline from a spec (``source`` names its file in errors)."""
        ...

    def list_pipelines(self) -> list[pps_pb2.PipelineInfo]:
        """Every pipeline."""
        ...

    def inspect_pipeline(self, name: str) -> pps_pb2.PipelineInfo:
        """One pipeline."""
        ...

    def delete_pipeline(self, name: str, force: bool, keep_repo: bool) -> None:
        """Delete a pipeline (and its output repo unless ``keep_repo``)."""
        ...

    def run_cron(self, pipeline: str) -> str:
        """Tick a pipeline's cron inputs now; the global ID, or "" when the backend does not say."""
        ...

    # jobs and datums
    def list_jobs(self, pipeline: str | None, global_id: str | None) -> list[pps_pb2.JobInfo]:
        """Jobs, optionally of one pipeline and/or one global ID."""
        ...

    def job_sets(self) -> list[pps_pb2.JobSetInfo]:
        """Every job set, newest first."""
        ...

    def inspect_job(self, pipeline: str, job_id: str) -> pps_pb2.JobInfo:
        """One job, with its pipeline's details."""
        ...

    def list_datums(self, pipeline: str, job_id: str) -> list[pps_pb2.DatumInfo]:
        """The datums of a job."""
        ...

    def inspect_datum(self, pipeline: str, job_id: str, datum_id: str) -> pps_pb2.DatumInfo:
        """One datum of a job."""
        ...

    def datums_for_spec(self, spec: Mapping[str, Any]) -> list[pps_pb2.DatumInfo]:
        """The datums a spec's input gives now."""
        ...

    def logs(self, pipeline: str, job_id: str | None, datum_id: str | None) -> list[pps_pb2.LogMessage]:
        """Log lines of a pipeline's job (default: the latest), optionally of one datum."""
        ...

    def stream_logs(
        self, pipeline: str, job_id: str | None, datum_id: str | None, master: bool, follow: bool
    ) -> Iterator[pps_pb2.LogMessage]:
        """Log lines (``master``: the master's) of a pipeline or a job; with ``follow`` also those written
        later: a job's until it ends, a pipeline's until interrupted."""
        ...

    # lifecycle
    def stop_pipeline(self, name: str) -> None:
        """Stop a pipeline (it starts no job; its unfinished jobs are killed)."""
        ...

    def start_pipeline(self, name: str) -> None:
        """Restart a stopped pipeline."""
        ...

    def stop_job(self, pipeline: str, job_id: str) -> None:
        """Kill a job."""
        ...

    def delete_job(self, pipeline: str, job_id: str) -> None:
        """Stop and forget a job."""
        ...

    def restart_datum(self, pipeline: str, job_id: str, data_filters: Sequence[str]) -> None:
        """Restart the job's running datums matching the filters."""
        ...

    # secrets
    def create_secret(self, manifest: SecretManifest) -> None:
        """Create or replace a secret from a validated Kubernetes Secret manifest."""
        ...

    def list_secrets(self) -> list[SecretWithKeys]:
        """Every secret with its key names."""
        ...

    def inspect_secret(self, name: str) -> SecretWithKeys:
        """One secret with its key names."""
        ...

    def delete_secret(self, name: str) -> None:
        """Delete a secret."""
        ...

    # engine and maintenance
    def run_until_idle(self, progress: ProgressFn | None) -> list[pps_pb2.JobInfo]:
        """Run (or wait for) every pending job; the jobs that ended."""
        ...

    def fsck(self, fix: bool) -> tuple[list[str], list[str]]:
        """(problems, fixed) of an integrity check."""
        ...

    def mount(self, target: Path, repos: Sequence[str] | None) -> list[Path]:
        """Materialize repos under ``target``; the directories written."""
        ...

    # projects
    def create_project(self, name: str, description: str, update: bool) -> pfs_pb2.ProjectInfo:
        """Create (or with ``update`` re-describe) a project."""
        ...

    def list_projects(self) -> list[pfs_pb2.ProjectInfo]:
        """Every project."""
        ...

    def inspect_project(self, name: str) -> pfs_pb2.ProjectInfo:
        """One project."""
        ...

    def delete_project(self, name: str, force: bool) -> None:
        """Delete an empty project."""
        ...

    def server_version(self) -> Any:
        """The server's ``versionpb.Version`` (GetVersion's answer; for a local root, pachlet's own)."""
        ...

    # commit sets and file operations (pachd's SquashCommitSet, DropCommitSet, DiffFile, CopyFile,
    # AddFile URL, SubscribeCommit)
    def squash_commit(self, global_id: str) -> None:
        """Squash a commit set (its changes stay in the children)."""
        ...

    def drop_commit(self, global_id: str) -> None:
        """Drop a commit set (its commits must have no children)."""
        ...

    def diff_files(
        self, new: tuple[str, str, str], old: tuple[str, str, str] | None
    ) -> list[tuple[pfs_pb2.FileInfo | None, pfs_pb2.FileInfo | None]]:
        """``(new, old)`` file infos of each differing path; ``old`` None: the new commit's parent."""
        ...

    def copy_file(self, src: tuple[str, str, str], dst: tuple[str, str, str], append: bool) -> None:
        """Copy a file or directory (repo, ref, path) to another place."""
        ...

    def put_url(self, repo: str, ref: str, path: str, url: str, recursive: bool, append: bool) -> None:
        """Put what a URL names (http(s):// or file://) at ``path``."""
        ...

    def subscribe_commits(
        self, repo: str, branch: str, from_id: str, all_: bool, origin: int
    ) -> Iterator[pfs_pb2.CommitInfo]:
        """Every commit of the repo (branch), then each new one, without end; ``from_id`` is left out;
        ``origin`` a ``pfs.OriginKind`` (0: every kind)."""
        ...
