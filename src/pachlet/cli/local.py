"""``LocalBackend``: the CLI's view of a local root, ``pachlet.api.Pachlet`` calls in, proto messages out."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.pps import pps_pb2

from pachlet import protos
from pachlet.cli.backend import ProgressFn, SecretWithKeys
from pachlet.errors import NotFoundError, PachletError
from pachlet.names import COMMIT_ID_RE
from pachlet.records import JOB_TERMINAL_STATES
from pachlet.secrets import SecretManifest

FOLLOW_POLL_SECONDS = 0.2
"""How often ``logs -f`` reads the logs for new lines."""

if TYPE_CHECKING:
    from pachlet.api import Pachlet


SUBSCRIBE_POLL_SECONDS = 0.2
"""How often ``subscribe commit`` on a local root looks for new commits (other processes write them)."""


class LocalBackend:
    """The CLI's view of a local root: facade calls in, proto messages out."""

    inline_jobs = True

    def __init__(self, pachlet: Pachlet) -> None:
        self.p = pachlet

    # repos and branches
    def create_repo(self, name: str, description: str, update: bool) -> pfs_pb2.RepoInfo:
        return protos.repo_info(self.p.create_repo(name, description, update=update))

    def list_repos(self) -> list[pfs_pb2.RepoInfo]:
        return [protos.repo_info(i) for i in self.p.list_repos()]

    def inspect_repo(self, name: str) -> pfs_pb2.RepoInfo:
        return protos.repo_info(self.p.inspect_repo(name))

    def delete_repo(self, name: str, force: bool) -> None:
        self.p.delete_repo(name, force=force)

    def create_branch(
        self, repo: str, branch: str, head: str | None, provenance: Sequence[tuple[str, str]]
    ) -> pfs_pb2.BranchInfo:
        return protos.branch_info(self.p.create_branch(repo, branch, head, provenance=provenance))

    def list_branches(self, repo: str) -> list[pfs_pb2.BranchInfo]:
        return [protos.branch_info(b) for b in self.p.list_branches(repo)]

    def inspect_branch(self, repo: str, branch: str) -> pfs_pb2.BranchInfo:
        return protos.branch_info(self.p.inspect_branch(repo, branch))

    def delete_branch(self, repo: str, branch: str, force: bool = False) -> None:
        self.p.delete_branch(repo, branch, force=force)

    # commits
    def start_commit(self, repo: str, branch: str, description: str) -> pfs_pb2.CommitInfo:
        return protos.commit_info(self.p.start_commit(repo, branch, description=description))

    def finish_commit(self, repo: str, ref: str, description: str | None) -> pfs_pb2.CommitInfo:
        return protos.commit_info(self.p.finish_commit(repo, ref, description=description))

    def abandon_commit(self, repo: str, commit_id: str) -> None:
        with suppress(PachletError):
            self.p.abandon_commit(repo, commit_id)

    def inspect_commit(self, repo: str, ref: str) -> pfs_pb2.CommitInfo:
        return protos.commit_info(self.p.inspect_commit(repo, ref))

    def wait_commit(self, repo: str, ref: str, progress: ProgressFn | None) -> pfs_pb2.CommitInfo:
        if progress is not None:
            self.run_until_idle(progress)
        return protos.commit_info(self.p.wait_commit(repo, ref))

    def list_commits(
        self, repo: str | None, branch: str | None, number: int | None
    ) -> list[pfs_pb2.CommitInfo]:
        return [protos.commit_info(c) for c in self.p.list_commits(repo, branch, number=number)]

    def commit_set(self, global_id: str) -> list[pfs_pb2.CommitInfo]:
        return [protos.commit_info(c) for c in self.p.commit_set(global_id)]

    def commit_sets(self, number: int | None) -> list[pfs_pb2.CommitSetInfo]:
        groups: dict[str, list[Any]] = {}
        for c in self.p.list_commits():
            groups.setdefault(c.id, []).append(c)
        sets = sorted(groups.items(), key=lambda kv: max(c.started for c in kv[1]), reverse=True)
        if number:
            sets = sets[:number]
        return [protos.commit_set_info(sorted(cs, key=lambda c: c.started), gid) for gid, cs in sets]

    # files
    def put_file(self, repo: str, ref: str, path: str, data: bytes | BinaryIO | Path, append: bool) -> None:
        self.p.put_file(repo, ref, path, data, append=append)

    def put_tree(self, repo: str, ref: str, path: str, source: Path) -> None:
        self.p.put_files(repo, ref, path, source)

    def delete_file(self, repo: str, ref: str, path: str) -> None:
        self.p.delete_file(repo, ref, path)

    def copy_file_to(self, repo: str, ref: str, path: str, out: BinaryIO) -> None:
        try:
            src = self.p.file_object_path(repo, ref, path)
        except (AttributeError, NotImplementedError):
            out.write(self.p.get_file(repo, ref, path))
            return
        with open(src, "rb") as fh:
            shutil.copyfileobj(fh, out, 1 << 20)

    def inspect_file(self, repo: str, ref: str, path: str) -> pfs_pb2.FileInfo:
        return self._file(self.p.inspect_file(repo, ref, path), repo, ref)

    def list_files(self, repo: str, ref: str, path: str) -> list[pfs_pb2.FileInfo]:
        return [self._file(f, repo, ref) for f in self.p.list_files(repo, ref, path)]

    def walk_files(self, repo: str, ref: str, path: str) -> list[pfs_pb2.FileInfo]:
        return [self._file(f, repo, ref) for f in self.p.walk_files(repo, ref, path)]

    def glob_files(self, repo: str, ref: str, pattern: str) -> list[pfs_pb2.FileInfo]:
        return [self._file(f, repo, ref) for f in self.p.glob_files(repo, ref, pattern)]

    def _file(self, rec: Any, repo: str, ref: str) -> pfs_pb2.FileInfo:
        commit_id = rec.commit or (ref if COMMIT_ID_RE.match(ref) else "")
        branch = "" if COMMIT_ID_RE.match(ref) else ref
        return protos.file_info(rec, repo, commit_id, branch)

    # pipelines
    def create_pipeline(
        self, spec: Mapping[str, Any], update: bool, reprocess: bool, source: str | None
    ) -> pps_pb2.PipelineInfo:
        return protos.pipeline_info(
            self.p.create_pipeline(spec, update=update, reprocess=reprocess, source=source)
        )

    def list_pipelines(self) -> list[pps_pb2.PipelineInfo]:
        return [protos.pipeline_info(i) for i in self.p.list_pipelines()]

    def inspect_pipeline(self, name: str) -> pps_pb2.PipelineInfo:
        return protos.pipeline_info(self.p.inspect_pipeline(name))

    def delete_pipeline(self, name: str, force: bool, keep_repo: bool) -> None:
        self.p.delete_pipeline(name, force=force, keep_repo=keep_repo)

    def run_cron(self, pipeline: str) -> str:
        return str(self.p.run_cron(pipeline))

    # jobs and datums
    def list_jobs(self, pipeline: str | None, global_id: str | None) -> list[pps_pb2.JobInfo]:
        return [protos.job_info(j) for j in self.p.list_jobs(pipeline, global_id)]

    def job_sets(self) -> list[pps_pb2.JobSetInfo]:
        groups: dict[str, list[Any]] = {}
        for j in self.p.list_jobs():
            groups.setdefault(j.id, []).append(j)
        ordered = sorted(groups.items(), key=lambda kv: max(j.created for j in kv[1]), reverse=True)
        return [protos.job_set_info(sorted(js, key=lambda j: j.created), gid) for gid, js in ordered]

    def inspect_job(self, pipeline: str, job_id: str) -> pps_pb2.JobInfo:
        rec = self.p.inspect_job(pipeline, job_id)
        try:
            pipe = self.p.inspect_pipeline(pipeline)
        except NotFoundError:
            return protos.job_info(rec)
        return protos.job_info(rec, pipe.spec, pipe.salt)

    def list_datums(self, pipeline: str, job_id: str) -> list[pps_pb2.DatumInfo]:
        return [protos.datum_info(d) for d in self.p.list_datums(pipeline, job_id)]

    def inspect_datum(self, pipeline: str, job_id: str, datum_id: str) -> pps_pb2.DatumInfo:
        return protos.datum_info(self.p.inspect_datum(pipeline, job_id, datum_id))

    def datums_for_spec(self, spec: Mapping[str, Any]) -> list[pps_pb2.DatumInfo]:
        name = str((spec.get("pipeline") or {}).get("name", ""))
        return [protos.planned_datum_info(d, name) for d in self.p.datums_for_spec(spec)]

    def logs(self, pipeline: str, job_id: str | None, datum_id: str | None) -> list[pps_pb2.LogMessage]:
        return [protos.log_message(line) for line in self.p.logs(pipeline, job_id, datum_id)]

    def stream_logs(
        self, pipeline: str, job_id: str | None, datum_id: str | None, master: bool, follow: bool
    ) -> Iterator[pps_pb2.LogMessage]:
        follower = self.p.follow_logs(pipeline, job_id, datum_id, master=master)
        while True:
            ended = not follow or (
                job_id is not None and self.p.inspect_job(pipeline, job_id).state in JOB_TERMINAL_STATES
            )
            for line in follower.poll():
                msg = protos.log_message(line)
                msg.master = not line.user
                yield msg
            if ended:
                return
            time.sleep(FOLLOW_POLL_SECONDS)

    # lifecycle
    def stop_pipeline(self, name: str) -> None:
        self.p.stop_pipeline(name)

    def start_pipeline(self, name: str) -> None:
        self.p.start_pipeline(name)

    def stop_job(self, pipeline: str, job_id: str) -> None:
        self.p.stop_job(pipeline, job_id)

    def delete_job(self, pipeline: str, job_id: str) -> None:
        self.p.delete_job(pipeline, job_id)

    def restart_datum(self, pipeline: str, job_id: str, data_filters: Sequence[str]) -> None:
        self.p.restart_datum(pipeline, job_id, data_filters)

    # secrets
    def create_secret(self, manifest: SecretManifest) -> None:
        self.p.create_secret(manifest)

    def list_secrets(self) -> list[SecretWithKeys]:
        return [(protos.secret_info(s), tuple(s.keys)) for s in self.p.list_secrets()]

    def inspect_secret(self, name: str) -> SecretWithKeys:
        s = self.p.inspect_secret(name)
        return protos.secret_info(s), tuple(s.keys)

    def delete_secret(self, name: str) -> None:
        self.p.delete_secret(name)

    # engine and maintenance
    def run_until_idle(self, progress: ProgressFn | None) -> list[pps_pb2.JobInfo]:
        def cb(job: Any, done: int, total: int) -> None:
            if progress is not None:
                progress(job.pipeline, job.id, done, total)

        return [protos.job_info(j) for j in self.p.run_until_idle(cb)]

    def fsck(self, fix: bool) -> tuple[list[str], list[str]]:
        report = self.p.fsck(fix=fix)
        return list(report.problems), list(report.fixed)

    def mount(self, target: Path, repos: Sequence[str] | None) -> list[Path]:
        return list(self.p.mount(target, repos))

    # projects
    def create_project(self, name: str, description: str, update: bool) -> pfs_pb2.ProjectInfo:
        return protos.project_info(self.p.create_project(name, description, update=update))

    def list_projects(self) -> list[pfs_pb2.ProjectInfo]:
        return [protos.project_info(i) for i in self.p.list_projects()]

    def inspect_project(self, name: str) -> pfs_pb2.ProjectInfo:
        return protos.project_info(self.p.inspect_project(name))

    def delete_project(self, name: str, force: bool) -> None:
        self.p.delete_project(name)

    def server_version(self) -> Any:
        return protos.version_message()

    # commit sets and file operations
    def squash_commit(self, global_id: str) -> None:
        self.p.squash_commit(global_id)

    def drop_commit(self, global_id: str) -> None:
        self.p.drop_commit(global_id)

    def diff_files(
        self, new: tuple[str, str, str], old: tuple[str, str, str] | None
    ) -> list[tuple[pfs_pb2.FileInfo | None, pfs_pb2.FileInfo | None]]:
        def info(rec: Any) -> pfs_pb2.FileInfo | None:
            return None if rec is None else protos.file_info(rec, rec.repo, rec.commit)

        return [(info(n), info(o)) for o, n in self.p.diff_file(new, old)]

    def copy_file(self, src: tuple[str, str, str], dst: tuple[str, str, str], append: bool) -> None:
        self.p.copy_file(src, dst, append=append)

    def put_url(self, repo: str, ref: str, path: str, url: str, recursive: bool, append: bool) -> None:
        self.p.put_file_url(repo, ref, path, url, recursive=recursive, append=append)

    def subscribe_commits(
        self, repo: str, branch: str, from_id: str, all_: bool, origin: int
    ) -> Iterator[pfs_pb2.CommitInfo]:
        self.p.inspect_repo(repo)
        seen = {from_id} if from_id else set()
        while True:
            for rec in reversed(self.p.list_commits(repo, branch or None)):
                info = protos.commit_info(rec)
                if rec.id in seen or not (all_ or not origin or info.origin.kind == origin):
                    continue
                seen.add(rec.id)
                yield info
            time.sleep(SUBSCRIBE_POLL_SECONDS)
