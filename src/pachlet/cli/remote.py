"""``RemoteBackend``: the CLI's view of a running pachd (``pachlet serve`` or a Pachyderm cluster).

The only CLI module that imports python-pachyderm's client (and so grpc); ``pachlet.cli.session``
imports it only when ``--pachd`` is given.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import python_pachyderm
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.pps import pps_pb2

from pachlet import protos
from pachlet.cli.backend import ProgressFn, SecretWithKeys
from pachlet.cli.refs import Ref, parse_ref
from pachlet.errors import PachletError
from pachlet.names import COMMIT_ID_RE
from pachlet.projects import bare, project_of, qualify
from pachlet.secrets import SecretManifest


def _pipeline_of(job: pps_pb2.JobInfo) -> str:
    return qualify(job.job.pipeline.project.name, job.job.pipeline.name)


class RemoteBackend:
    """The CLI's view of a running pachd (``pachlet serve`` or a Pachyderm cluster) via python-pachyderm.

    The server runs jobs itself: a mutation returns once the commit or pipeline exists, as pachctl's
    does (``wait commit`` waits); ``run_until_idle`` waits for the jobs still in progress."""

    inline_jobs = False

    last_address: str = ""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise PachletError(f"--pachd {address!r}: expected HOST:PORT")
        host = host.removeprefix("grpc://")
        self.address = address
        RemoteBackend.last_address = address
        self.c = python_pachyderm.Client(host=host, port=int(port))

    @staticmethod
    def _commit(repo: str, ref: str) -> pfs_pb2.Commit:
        if COMMIT_ID_RE.match(ref):
            return pfs_pb2.Commit(branch=protos.branch(repo, ""), repo=protos.repo(repo), id=ref)
        return pfs_pb2.Commit(branch=protos.branch(repo, ref), repo=protos.repo(repo))

    # repos and branches
    def create_repo(self, name: str, description: str, update: bool) -> pfs_pb2.RepoInfo:
        self.c.create_repo(
            bare(name), description=description or None, update=update, project_name=project_of(name)
        )
        return self.inspect_repo(name)

    def list_repos(self) -> list[pfs_pb2.RepoInfo]:
        return list(self.c.list_repo())

    def inspect_repo(self, name: str) -> pfs_pb2.RepoInfo:
        return self.c.inspect_repo(bare(name), project_name=project_of(name))

    def delete_repo(self, name: str, force: bool) -> None:
        self.c.delete_repo(bare(name), force=force, project_name=project_of(name))

    def create_branch(
        self, repo: str, branch: str, head: str | None, provenance: Sequence[tuple[str, str]]
    ) -> pfs_pb2.BranchInfo:
        self.c.create_branch(
            bare(repo), branch, head_commit=self._commit(repo, head) if head else None,
            provenance=[protos.branch(r, b) for r, b in provenance] or None, project_name=project_of(repo),
        )  # fmt: skip
        return self.inspect_branch(repo, branch)

    def list_branches(self, repo: str) -> list[pfs_pb2.BranchInfo]:
        return list(self.c.list_branch(bare(repo), project_name=project_of(repo)))

    def inspect_branch(self, repo: str, branch: str) -> pfs_pb2.BranchInfo:
        return self.c.inspect_branch(bare(repo), branch, project_name=project_of(repo))

    def delete_branch(self, repo: str, branch: str, force: bool = False) -> None:
        self.c.delete_branch(bare(repo), branch, force=force, project_name=project_of(repo))

    # commits
    def start_commit(self, repo: str, branch: str, description: str) -> pfs_pb2.CommitInfo:
        commit = self.c.start_commit(
            bare(repo), branch, description=description or None, project_name=project_of(repo)
        )
        return self.inspect_commit(repo, commit.id)

    def finish_commit(self, repo: str, ref: str, description: str | None) -> pfs_pb2.CommitInfo:
        self.c.finish_commit(self._commit(repo, ref), description=description)
        return self.inspect_commit(repo, ref)

    def abandon_commit(self, repo: str, commit_id: str) -> None:
        # pachd 2.7 has no per-commit abandon (only DropCommitSet, which drops downstream commits
        # too), so a failed multi-file put leaves the commit open, as pachctl does.
        return None

    def inspect_commit(self, repo: str, ref: str) -> pfs_pb2.CommitInfo:
        infos = self.c.inspect_commit(self._commit(repo, ref))
        return next(iter(infos)) if not isinstance(infos, pfs_pb2.CommitInfo) else infos

    def wait_commit(self, repo: str, ref: str, progress: ProgressFn | None) -> pfs_pb2.CommitInfo:
        infos = self.c.inspect_commit(self._commit(repo, ref), commit_state=pfs_pb2.FINISHED)
        return next(iter(infos)) if not isinstance(infos, pfs_pb2.CommitInfo) else infos

    def list_commits(
        self, repo: str | None, branch: str | None, number: int | None
    ) -> list[pfs_pb2.CommitInfo]:
        to_commit = self._commit(repo, branch) if repo and branch else None
        if repo is None:
            return list(self.c.list_commit(None, to_commit=to_commit, number=number, all=True))
        return list(
            self.c.list_commit(
                bare(repo), to_commit=to_commit, number=number, all=True, project_name=project_of(repo)
            )
        )

    def commit_set(self, global_id: str) -> list[pfs_pb2.CommitInfo]:
        return list(self.c.inspect_commit(global_id))

    def commit_sets(self, number: int | None) -> list[pfs_pb2.CommitSetInfo]:
        sets = list(self.c.list_commit())
        return sets[:number] if number else sets

    # files
    def put_file(self, repo: str, ref: str, path: str, data: bytes | BinaryIO | Path, append: bool) -> None:
        if isinstance(data, Path):
            with open(data, "rb") as fh:
                self.c.put_file_bytes(self._commit(repo, ref), path, fh, append=append)
        else:
            self.c.put_file_bytes(self._commit(repo, ref), path, data, append=append)

    def put_tree(self, repo: str, ref: str, path: str, source: Path) -> None:
        with self.c.modify_file_client(self._commit(repo, ref)) as mfc:
            for f in sorted(p for p in source.rglob("*") if p.is_file()):
                mfc.put_file_from_filepath(path.rstrip("/") + "/" + f.relative_to(source).as_posix(), str(f))

    def delete_file(self, repo: str, ref: str, path: str) -> None:
        self.c.delete_file(self._commit(repo, ref), path)

    def copy_file_to(self, repo: str, ref: str, path: str, out: BinaryIO) -> None:
        shutil.copyfileobj(self.c.get_file(self._commit(repo, ref), path), out, 1 << 20)

    def inspect_file(self, repo: str, ref: str, path: str) -> pfs_pb2.FileInfo:
        return self.c.inspect_file(self._commit(repo, ref), path)

    def list_files(self, repo: str, ref: str, path: str) -> list[pfs_pb2.FileInfo]:
        return list(self.c.list_file(self._commit(repo, ref), path))

    def walk_files(self, repo: str, ref: str, path: str) -> list[pfs_pb2.FileInfo]:
        return [f for f in self.c.walk_file(self._commit(repo, ref), path) if f.file_type == pfs_pb2.FILE]

    def glob_files(self, repo: str, ref: str, pattern: str) -> list[pfs_pb2.FileInfo]:
        return list(self.c.glob_file(self._commit(repo, ref), pattern))

    # pipelines
    def create_pipeline(
        self, spec: Mapping[str, Any], update: bool, reprocess: bool, source: str | None
    ) -> pps_pb2.PipelineInfo:
        from pachlet.spec import normalize_spec

        req = protos.create_pipeline_request(normalize_spec(spec, source=source))
        req.update = update
        req.reprocess = reprocess
        self.c.create_pipeline_from_request(req)
        return self.inspect_pipeline(qualify(req.pipeline.project.name, req.pipeline.name))

    def list_pipelines(self) -> list[pps_pb2.PipelineInfo]:
        return list(self.c.list_pipeline(details=True))

    def inspect_pipeline(self, name: str) -> pps_pb2.PipelineInfo:
        return next(iter(self.c.inspect_pipeline(bare(name), details=True, project_name=project_of(name))))

    def delete_pipeline(self, name: str, force: bool, keep_repo: bool) -> None:
        self.c.delete_pipeline(bare(name), force=force, keep_repo=keep_repo, project_name=project_of(name))

    def run_cron(self, pipeline: str) -> str:
        self.c.run_cron(bare(pipeline), project_name=project_of(pipeline))
        return ""

    # jobs and datums
    def list_jobs(self, pipeline: str | None, global_id: str | None) -> list[pps_pb2.JobInfo]:
        if global_id:
            jobs = list(self.c.inspect_job(global_id))
            return [j for j in jobs if not pipeline or _pipeline_of(j) == pipeline]
        if pipeline:
            return list(self.c.list_job(pipeline_name=bare(pipeline), project_name=project_of(pipeline)))
        return [j for s in self.c.list_job() for j in s.jobs]

    def job_sets(self) -> list[pps_pb2.JobSetInfo]:
        return list(self.c.list_job())

    def inspect_job(self, pipeline: str, job_id: str) -> pps_pb2.JobInfo:
        return next(
            iter(
                self.c.inspect_job(
                    job_id, pipeline_name=bare(pipeline), details=True, project_name=project_of(pipeline)
                )
            )
        )

    def list_datums(self, pipeline: str, job_id: str) -> list[pps_pb2.DatumInfo]:
        return list(self.c.list_datum(bare(pipeline), job_id, project_name=project_of(pipeline)))

    def inspect_datum(self, pipeline: str, job_id: str, datum_id: str) -> pps_pb2.DatumInfo:
        return self.c.inspect_datum(bare(pipeline), job_id, datum_id, project_name=project_of(pipeline))

    def datums_for_spec(self, spec: Mapping[str, Any]) -> list[pps_pb2.DatumInfo]:
        from pachlet.spec import normalize_spec

        req = protos.create_pipeline_request(normalize_spec(spec))
        return list(self.c.list_datum(input=req.input))

    def logs(self, pipeline: str, job_id: str | None, datum_id: str | None) -> list[pps_pb2.LogMessage]:
        if job_id is None:
            jobs = self.c.list_job(pipeline_name=bare(pipeline), number=1, project_name=project_of(pipeline))
            first = next(iter(jobs), None)
            if first is None:
                return []
            job_id = first.job.id
        datum = pps_pb2.Datum(job=protos.job(pipeline, job_id), id=datum_id) if datum_id else None
        return list(
            self.c.get_job_logs(bare(pipeline), job_id, datum=datum, project_name=project_of(pipeline))
        )

    def stream_logs(
        self, pipeline: str, job_id: str | None, datum_id: str | None, master: bool, follow: bool
    ) -> Iterator[pps_pb2.LogMessage]:
        if job_id is not None and not master:
            datum = pps_pb2.Datum(job=protos.job(pipeline, job_id), id=datum_id) if datum_id else None
            yield from self.c.get_job_logs(pipeline, job_id, datum=datum, follow=follow)
            return
        # python-pachyderm's get_job_logs has no ``master``: a job's master lines are the pipeline's
        # with its job ID, the last one written when the job ends
        stream = self.c.get_pipeline_logs(pipeline, master=master, follow=follow)
        terminal = {pps_pb2.JOB_SUCCESS, pps_pb2.JOB_FAILURE, pps_pb2.JOB_KILLED, pps_pb2.JOB_UNRUNNABLE}
        try:
            for msg in stream:
                if job_id is None or msg.job_id == job_id:
                    yield msg
                    if follow and job_id is not None and self.inspect_job(pipeline, job_id).state in terminal:
                        return
        finally:
            cancel = getattr(stream, "cancel", None)
            if cancel is not None:
                cancel()

    # lifecycle
    def stop_pipeline(self, name: str) -> None:
        self.c.stop_pipeline(name)

    def start_pipeline(self, name: str) -> None:
        self.c.start_pipeline(name)

    def stop_job(self, pipeline: str, job_id: str) -> None:
        self.c.stop_job(job_id, pipeline)

    def delete_job(self, pipeline: str, job_id: str) -> None:
        self.c.delete_job(job_id, pipeline)

    def restart_datum(self, pipeline: str, job_id: str, data_filters: Sequence[str]) -> None:
        self.c.restart_datum(pipeline, job_id, list(data_filters))

    # secrets
    def create_secret(self, manifest: SecretManifest) -> None:
        self.c.create_secret(manifest.name, dict(manifest.values))

    def list_secrets(self) -> list[SecretWithKeys]:
        return [(s, ()) for s in self.c.list_secret()]

    def inspect_secret(self, name: str) -> SecretWithKeys:
        return self.c.inspect_secret(name), ()

    def delete_secret(self, name: str) -> None:
        self.c.delete_secret(name)

    # engine and maintenance
    def run_until_idle(self, progress: ProgressFn | None) -> list[pps_pb2.JobInfo]:
        terminal = {pps_pb2.JOB_SUCCESS, pps_pb2.JOB_FAILURE, pps_pb2.JOB_KILLED, pps_pb2.JOB_UNRUNNABLE}
        ended: dict[tuple[str, str], pps_pb2.JobInfo] = {}
        for _ in range(1000):
            pending = [j for s in self.c.list_job() for j in s.jobs if j.state not in terminal]
            if not pending:
                break
            for j in pending:
                done = next(
                    iter(
                        self.c.inspect_job(
                            j.job.id,
                            pipeline_name=j.job.pipeline.name,
                            wait=True,
                            project_name=j.job.pipeline.project.name,
                        )
                    )
                )
                if progress is not None:
                    progress(done.job.pipeline.name, done.job.id, done.data_total, done.data_total)
                ended[(done.job.pipeline.name, done.job.id)] = done
        return list(ended.values())

    def fsck(self, fix: bool) -> tuple[list[str], list[str]]:
        problems, fixed = [], []
        for resp in self.c.fsck(fix=fix):
            if resp.error:
                problems.append(resp.error)
            if resp.fix:
                fixed.append(resp.fix)
        return problems, fixed

    def mount(self, target: Path, repos: Sequence[str] | None) -> list[Path]:
        wanted = [parse_ref(r, allow_path=False) for r in repos] if repos else [
            Ref(i.repo.name) for i in self.list_repos()
        ]  # fmt: skip
        written = []
        for ref in wanted:
            dest = target / ref.repo
            if dest.exists():
                for p in sorted(dest.rglob("*"), reverse=True):
                    p.chmod(0o755 if p.is_dir() else 0o644)
                shutil.rmtree(dest)
            dest.mkdir(parents=True)
            for f in self.walk_files(ref.repo, ref.ref, "/"):
                out_path = dest / f.file.path.lstrip("/")
                out_path.parent.mkdir(parents=True, exist_ok=True)
                with open(out_path, "wb") as fh:
                    self.copy_file_to(ref.repo, ref.ref, f.file.path, fh)
                out_path.chmod(0o444)
            written.append(dest)
        return written

    # projects
    def create_project(self, name: str, description: str, update: bool) -> pfs_pb2.ProjectInfo:
        self.c.create_project(name, description=description or None, update=update)
        return self.inspect_project(name)

    def list_projects(self) -> list[pfs_pb2.ProjectInfo]:
        return list(self.c.list_project())

    def inspect_project(self, name: str) -> pfs_pb2.ProjectInfo:
        return self.c.inspect_project(name)

    def delete_project(self, name: str, force: bool) -> None:
        self.c.delete_project(name, force=force)

    def server_version(self) -> Any:
        return self.c.get_remote_version()

    # commit sets and file operations
    def squash_commit(self, global_id: str) -> None:
        self.c.squash_commit(global_id)

    def drop_commit(self, global_id: str) -> None:
        self.c.drop_commit(global_id)

    def diff_files(
        self, new: tuple[str, str, str], old: tuple[str, str, str] | None
    ) -> list[tuple[pfs_pb2.FileInfo | None, pfs_pb2.FileInfo | None]]:
        old_commit = self._commit(old[0], old[1]) if old else None
        out: list[tuple[pfs_pb2.FileInfo | None, pfs_pb2.FileInfo | None]] = []
        for d in self.c.diff_file(self._commit(new[0], new[1]), new[2], old_commit, old[2] if old else None):
            out.append(
                (
                    d.new_file if d.HasField("new_file") else None,
                    d.old_file if d.HasField("old_file") else None,
                )
            )
        return out

    def copy_file(self, src: tuple[str, str, str], dst: tuple[str, str, str], append: bool) -> None:
        self.c.copy_file(
            self._commit(src[0], src[1]), src[2], self._commit(dst[0], dst[1]), dst[2], append=append
        )

    def put_url(self, repo: str, ref: str, path: str, url: str, recursive: bool, append: bool) -> None:
        with self.c.modify_file_client(self._commit(repo, ref)) as mfc:
            mfc.put_file_from_url(path, url, recursive=recursive, append=append)

    def subscribe_commits(
        self, repo: str, branch: str, from_id: str, all_: bool, origin: int
    ) -> Iterator[pfs_pb2.CommitInfo]:
        return iter(
            self.c.subscribe_commit(
                bare(repo),
                branch,
                from_commit=from_id or None,
                all=all_,
                origin_kind=origin,
                project_name=project_of(repo),
            )
        )
