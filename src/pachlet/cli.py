"""The ``pachlet`` command line: pachctl's verbs and argument forms over a local root.

Every command talks to a *backend* that returns python-pachyderm proto messages (``LocalBackend`` over
``pachlet.api.Pachlet``), so ``-o json`` prints what ``pachctl ... -o json`` prints and the tables come
from the same objects. Mutating commands that queue jobs run them to completion (with a progress bar on
stderr) unless ``--no-wait``. Errors are one line on stderr and exit code 1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import click
import grpc
from google.protobuf.message import Message
from python_pachyderm.proto.v2.pfs import pfs_pb2
from python_pachyderm.proto.v2.pps import pps_pb2

from pachlet import __version__, protos, tables
from pachlet.errors import NotFoundError, PachletError, SpecError
from pachlet.names import COMMIT_ID_RE, NAME_RE

PACHYDERM_API_VERSION = "2.7.0"

# --------------------------------------------------------------------------- argument parsing


class RefError(PachletError):
    """A malformed ``repo@ref:path`` (or ``pipeline@job``) argument."""


@dataclass(frozen=True)
class Ref:
    """A parsed ``REPO[@BRANCH_OR_COMMIT][:PATH]`` argument, read as pachctl's ParseFile/ParseCommit do.

    ``branch`` and ``commit_id`` are exclusive unless the ``branch=commit`` form was used; ``ancestry``
    counts generations back (``master^``, ``master^2``, ``master^^``), or with ``from_start`` the n-th
    commit of the branch from its first (``master.1``), as in Pachyderm's ancestry syntax.
    """

    repo: str
    branch: str = ""
    commit_id: str = ""
    path: str = ""
    ancestry: int = 0
    from_start: bool = False
    has_ref: bool = False

    @property
    def ref(self) -> str:
        """The commit ID if one was given, else the branch (default ``master``)."""
        return self.commit_id or self.branch or "master"


def _parse_ancestry(text: str, arg: str) -> tuple[str, int, bool]:
    idx = min((i for i in (text.find("^"), text.find(".")) if i >= 0), default=-1)
    if idx < 0:
        return text, 0, False
    sep, tail = text[idx], text[idx + 1 :]
    base = text[:idx]
    if tail.isdigit():
        return base, int(tail), sep == "."
    if tail.strip(sep) == "":
        return base, len(text) - idx, sep == "."
    raise RefError(f'invalid format "{arg}": invalid ancestry syntax {text!r}, cannot mix ^ and . characters')


def parse_ref(arg: str, *, allow_path: bool = True, require_ref: bool = False) -> Ref:
    """Parse ``repo[@branch-or-commit][:path]`` like pachctl (``RefError`` names the argument).

    A 32-hex-character ref is a commit ID, anything else a branch name; ``branch=commitid`` pins both;
    ``^``/``.`` ancestry suffixes are accepted; a path without a leading ``/`` gets one.
    """
    repo, at, rest = arg.partition("@")
    if repo == "":
        raise RefError(f'invalid format "{arg}": repo cannot be empty')
    if not at and ":" in repo:
        raise RefError(
            f'invalid format "{arg}": expected repo@branch:/path (the branch or commit is missing)'
        )
    if not NAME_RE.match(repo):
        raise RefError(
            f'invalid format "{arg}": repo name {repo!r} may only contain letters, digits, "_" and "-"'
        )
    if not at:
        if require_ref:
            raise RefError(f'invalid format "{arg}": expected repo@branch or repo@commit')
        return Ref(repo=repo)
    ref, colon, path = rest.partition(":")
    if colon and not allow_path:
        raise RefError(f'invalid format "{arg}": a path is not allowed here (expected repo@branch)')
    if ref == "":
        raise RefError(f'invalid format "{arg}": commit cannot be empty')
    if path and not path.startswith("/"):
        path = "/" + path
    base, ancestry, from_start = _parse_ancestry(ref, arg)
    branch, eq, commit_id = base.partition("=")
    if eq:
        if not COMMIT_ID_RE.match(commit_id):
            raise RefError(f'invalid format "{arg}": {commit_id!r} is not a commit ID (32 hex characters)')
    elif COMMIT_ID_RE.match(base):
        branch, commit_id = "", base
    if branch and not NAME_RE.match(branch):
        raise RefError(
            f'invalid format "{arg}": branch name {branch!r} may only contain letters, digits, "_" and "-"'
        )
    if not branch and not commit_id:
        raise RefError(f'invalid format "{arg}": commit cannot be empty')
    return Ref(repo, branch, commit_id, path, ancestry, from_start, True)


def parse_job_ref(arg: str) -> tuple[str, str]:
    """Parse ``pipeline@job_id`` (both required)."""
    pipeline, at, job_id = arg.partition("@")
    if not pipeline:
        raise RefError(f'invalid format "{arg}": pipeline cannot be empty (expected pipeline@job_id)')
    if not at or not job_id:
        raise RefError(f'invalid format "{arg}": job ID cannot be empty (expected pipeline@job_id)')
    if not NAME_RE.match(pipeline):
        raise RefError(f'invalid format "{arg}": pipeline name {pipeline!r} is not valid')
    return pipeline, job_id


def parse_key_values(pairs: Sequence[str], what: str = "--arg") -> dict[str, str]:
    """``k=v`` strings -> dict (``RefError`` naming the bad pair)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise RefError(f"{what} {pair!r}: expected key=value")
        out[key] = value
    return out


# --------------------------------------------------------------------------- backends

ProgressFn = Callable[[str, str, int, int], None]
"""progress(pipeline, job_id, done, total)"""


class LocalBackend:
    """The CLI's view of a local root: facade calls in, proto messages out."""

    def __init__(self, pachlet: Any) -> None:
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

    def delete_branch(self, repo: str, branch: str) -> None:
        self.p.delete_branch(repo, branch)

    # commits
    def start_commit(self, repo: str, branch: str, description: str) -> pfs_pb2.CommitInfo:
        return protos.commit_info(self.p.start_commit(repo, branch, description=description))

    def finish_commit(self, repo: str, ref: str, description: str | None) -> pfs_pb2.CommitInfo:
        return protos.commit_info(self.p.finish_commit(repo, ref, description=description))

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

    # secrets
    def create_secret(self, manifest: Mapping[str, Any]) -> None:
        self.p.create_secret(manifest)

    def list_secrets(self) -> list[tuple[pps_pb2.SecretInfo, tuple[str, ...]]]:
        return [(protos.secret_info(s), tuple(s.keys)) for s in self.p.list_secrets()]

    def inspect_secret(self, name: str) -> tuple[pps_pb2.SecretInfo, tuple[str, ...]]:
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

    def server_version(self) -> str:
        return f"{PACHYDERM_API_VERSION} (pachlet {__version__}, local root {self.p.root})"


class RemoteBackend:
    """The CLI's view of a running pachd (``pachlet serve`` or a Pachyderm cluster) via python-pachyderm.

    The server runs jobs itself; "running" them here means waiting for the ones still in progress."""

    last_address: str = ""

    def __init__(self, address: str) -> None:
        import python_pachyderm

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
        self.c.create_repo(name, description=description or None, update=update)
        return self.inspect_repo(name)

    def list_repos(self) -> list[pfs_pb2.RepoInfo]:
        return list(self.c.list_repo())

    def inspect_repo(self, name: str) -> pfs_pb2.RepoInfo:
        return self.c.inspect_repo(name)

    def delete_repo(self, name: str, force: bool) -> None:
        self.c.delete_repo(name, force=force)

    def create_branch(
        self, repo: str, branch: str, head: str | None, provenance: Sequence[tuple[str, str]]
    ) -> pfs_pb2.BranchInfo:
        self.c.create_branch(
            repo, branch, head_commit=self._commit(repo, head) if head else None,
            provenance=[protos.branch(r, b) for r, b in provenance] or None,
        )  # fmt: skip
        return self.inspect_branch(repo, branch)

    def list_branches(self, repo: str) -> list[pfs_pb2.BranchInfo]:
        return list(self.c.list_branch(repo))

    def inspect_branch(self, repo: str, branch: str) -> pfs_pb2.BranchInfo:
        return self.c.inspect_branch(repo, branch)

    def delete_branch(self, repo: str, branch: str) -> None:
        self.c.delete_branch(repo, branch)

    # commits
    def start_commit(self, repo: str, branch: str, description: str) -> pfs_pb2.CommitInfo:
        commit = self.c.start_commit(repo, branch, description=description or None)
        return self.inspect_commit(repo, commit.id)

    def finish_commit(self, repo: str, ref: str, description: str | None) -> pfs_pb2.CommitInfo:
        self.c.finish_commit(self._commit(repo, ref), description=description)
        return self.inspect_commit(repo, ref)

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
        return list(self.c.list_commit(repo, to_commit=to_commit, number=number, all=True))

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
        return self.inspect_pipeline(req.pipeline.name)

    def list_pipelines(self) -> list[pps_pb2.PipelineInfo]:
        return list(self.c.list_pipeline(details=True))

    def inspect_pipeline(self, name: str) -> pps_pb2.PipelineInfo:
        return next(iter(self.c.inspect_pipeline(name, details=True)))

    def delete_pipeline(self, name: str, force: bool, keep_repo: bool) -> None:
        self.c.delete_pipeline(name, force=force, keep_repo=keep_repo)

    def run_cron(self, pipeline: str) -> str:
        self.c.run_cron(pipeline)
        return ""

    # jobs and datums
    def list_jobs(self, pipeline: str | None, global_id: str | None) -> list[pps_pb2.JobInfo]:
        if global_id:
            jobs = list(self.c.inspect_job(global_id))
            return [j for j in jobs if not pipeline or j.job.pipeline.name == pipeline]
        if pipeline:
            return list(self.c.list_job(pipeline_name=pipeline))
        return [j for s in self.c.list_job() for j in s.jobs]

    def job_sets(self) -> list[pps_pb2.JobSetInfo]:
        return list(self.c.list_job())

    def inspect_job(self, pipeline: str, job_id: str) -> pps_pb2.JobInfo:
        return next(iter(self.c.inspect_job(job_id, pipeline_name=pipeline, details=True)))

    def list_datums(self, pipeline: str, job_id: str) -> list[pps_pb2.DatumInfo]:
        return list(self.c.list_datum(pipeline, job_id))

    def inspect_datum(self, pipeline: str, job_id: str, datum_id: str) -> pps_pb2.DatumInfo:
        return self.c.inspect_datum(pipeline, job_id, datum_id)

    def datums_for_spec(self, spec: Mapping[str, Any]) -> list[pps_pb2.DatumInfo]:
        from pachlet.spec import normalize_spec

        req = protos.create_pipeline_request(normalize_spec(spec))
        return list(self.c.list_datum(input=req.input))

    def logs(self, pipeline: str, job_id: str | None, datum_id: str | None) -> list[pps_pb2.LogMessage]:
        if job_id is None:
            jobs = self.c.list_job(pipeline_name=pipeline, number=1)
            first = next(iter(jobs), None)
            if first is None:
                return []
            job_id = first.job.id
        datum = pps_pb2.Datum(job=protos.job(pipeline, job_id), id=datum_id) if datum_id else None
        return list(self.c.get_job_logs(pipeline, job_id, datum=datum))

    # secrets
    def create_secret(self, manifest: Mapping[str, Any]) -> None:
        import base64

        data: dict[str, str | bytes] = {}
        for key, value in (manifest.get("data") or {}).items():
            data[key] = base64.b64decode(str(value))
        for key, value in (manifest.get("stringData") or {}).items():
            data[key] = str(value)
        self.c.create_secret(manifest["metadata"]["name"], data)

    def list_secrets(self) -> list[tuple[pps_pb2.SecretInfo, tuple[str, ...]]]:
        return [(s, ()) for s in self.c.list_secret()]

    def inspect_secret(self, name: str) -> tuple[pps_pb2.SecretInfo, tuple[str, ...]]:
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
                done = next(iter(self.c.inspect_job(j.job.id, pipeline_name=j.job.pipeline.name, wait=True)))
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

    def server_version(self) -> str:
        v = self.c.get_remote_version()
        extra = f"-{v.additional}" if v.additional else ""
        return f"{v.major}.{v.minor}.{v.micro}{extra} ({self.address})"


# --------------------------------------------------------------------------- context and output


@dataclass
class State:
    """Global options, shared by every command through click's context."""

    root: Path
    lock_timeout: float | None
    pachd: str | None = None


Backend = LocalBackend | RemoteBackend


@contextmanager
def open_backend(ctx: click.Context, write: bool) -> Iterator[Any]:
    """Yield a backend: a client of ``--pachd`` when given, else the local root (opened read-only for
    reads when it already exists, so reads never wait for a writer)."""
    state: State = ctx.find_object(State)
    if state.pachd:
        yield RemoteBackend(state.pachd)
        return
    from pachlet.api import Pachlet

    check_not_served(state.root)
    read_only = not write and (state.root / "pachlet.db").exists()
    kwargs: dict[str, Any] = {"read_only": read_only}
    if state.lock_timeout is not None:
        kwargs["timeout"] = state.lock_timeout
    with Pachlet.open(state.root, **kwargs) as p:
        yield LocalBackend(p)


def serving_address(root: Path) -> tuple[int, str] | None:
    """(pid, HOST:PORT) of a running ``pachlet serve`` that holds ``root``, else None. Read from the
    lock holder's record (``lock.info``) and confirmed by the lock being held right now."""
    import filelock

    try:
        info = json.loads((root / "lock.info").read_text())
    except (OSError, ValueError):
        return None
    cmd = str(info.get("cmd", ""))
    if not re.search(r"(^|\s)serve(\s|$)", cmd):
        return None
    probe = filelock.FileLock(str(root / "lock"), thread_local=False)
    try:
        probe.acquire(timeout=0)
    except filelock.Timeout:
        port = re.search(r"--port[= ](\d+)", cmd)
        host = re.search(r"--(?:address|bind)[= ](\S+)", cmd)
        address = host.group(1) if host and host.group(1) not in ("0.0.0.0", "::") else "127.0.0.1"
        port_text = port.group(1) if port else "30650"
        return int(info.get("pid") or 0), "" if port_text == "0" else f"{address}:{port_text}"
    probe.release()
    return None


def check_not_served(root: Path) -> None:
    """Refuse to open a root that a running ``pachlet serve`` owns, saying how to reach the server."""
    served = serving_address(root)
    if served is not None:
        pid, address = served
        how = (
            f"--pachd {address} (or export PACHD_ADDRESS={address})"
            if address
            else "--pachd HOST:PORT (the address it printed when it started)"
        )
        raise PachletError(
            f"pachlet root {root} is owned by a running pachlet serve (pid {pid}); talk to it with {how}"
        )


OUTPUT_FORMATS = ("table", "json")


def output_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``-o/--output [table|json]`` (``--raw`` is an alias for json, as in pachctl)."""
    f = click.option("--raw", is_flag=True, help="Same as -o json.")(f)
    f = click.option(
        "-o", "--output", "output", type=click.Choice(OUTPUT_FORMATS), default="table", show_default=True,
        help="json: one protobuf-JSON document per line, shaped like pachctl's.",
    )(f)  # fmt: skip
    return click.option("--full-timestamps", is_flag=True, help="Absolute timestamps.")(f)


def wait_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--no-wait``: leave the jobs this command queues for a later command (or ``pachlet serve``)."""
    return click.option("--no-wait", is_flag=True, help="Queue triggered jobs without running them now.")(f)


def emit_json(messages: Iterable[Message]) -> None:
    """Print each message as one protobuf-JSON line."""
    for m in messages:
        click.echo(protos.to_json_line(m))


def want_json(output: str, raw: bool) -> bool:
    """True when ``-o json`` or ``--raw`` was given."""
    return raw or output == "json"


class ProgressBars:
    """One click progress bar per running job on stderr (datums done / total)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._key: tuple[str, str] | None = None
        self._pos = 0

    def __call__(self, pipeline: str, job_id: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        key = (pipeline, job_id)
        if key != self._key:
            self.close()
            self._bar = click.progressbar(
                length=max(total, 1), label=f"{pipeline}@{job_id}", file=sys.stderr, show_pos=True,
                show_percent=False, show_eta=False,
            )  # fmt: skip
            self._bar.__enter__()
            self._key, self._pos = key, 0
        if total and self._bar.length != total:
            self._bar.length = total
        if done > self._pos:
            self._bar.update(done - self._pos)
            self._pos = done

    def close(self) -> None:
        """Finish the current bar."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
            self._key = None


def run_jobs(backend: LocalBackend, no_wait: bool) -> None:
    """Run the jobs a mutation queued, with progress bars; summarize each job on stderr; exit 1 if any
    job failed (after printing its reason)."""
    if no_wait:
        return
    bars = ProgressBars(enabled=True)
    try:
        jobs = backend.run_until_idle(bars)
    finally:
        bars.close()
    failed = []
    for j in jobs:
        counts = tables.progress(j.data_processed, j.data_skipped, j.data_total, j.data_recovered)
        state = tables.job_state_name(j.state)
        click.echo(f"{j.job.pipeline.name}@{j.job.id}: {state} ({counts} datums)", err=True)
        if j.state != pps_pb2.JOB_SUCCESS:
            failed.append(j)
    if failed:
        j = failed[0]
        reason = f": {j.reason}" if j.reason else ""
        raise PachletError(
            f"job {j.job.pipeline.name}@{j.job.id} ended {tables.job_state_name(j.state)}{reason}"
            + (f" (and {len(failed) - 1} more failed)" if len(failed) > 1 else "")
        )


def resolve_ref(backend: LocalBackend, ref: Ref) -> str:
    """The commit ID or branch a parsed ref names, following ``^n`` / ``.n`` ancestry."""
    if not ref.ancestry and not ref.from_start:
        return ref.ref
    info = backend.inspect_commit(ref.repo, ref.ref)
    if ref.from_start:
        chain = [info]
        while chain[-1].HasField("parent_commit") and chain[-1].parent_commit.id:
            chain.append(backend.inspect_commit(ref.repo, chain[-1].parent_commit.id))
        chain.reverse()
        if ref.ancestry < 1 or ref.ancestry > len(chain):
            raise NotFoundError(f"{ref.repo}@{ref.ref}.{ref.ancestry}: the branch has {len(chain)} commit(s)")
        return chain[ref.ancestry - 1].commit.id
    for _ in range(ref.ancestry):
        if not (info.HasField("parent_commit") and info.parent_commit.id):
            raise NotFoundError(f"{ref.repo}@{ref.ref}^{ref.ancestry}: commit {info.commit.id} has no parent")
        info = backend.inspect_commit(ref.repo, info.parent_commit.id)
    return info.commit.id


# --------------------------------------------------------------------------- the CLI


class PachletGroup(click.Group):
    """A group whose subcommands are listed in the order they were added."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


PLUGIN_GROUP = "pachlet.commands"
"""Entry-point group for top-level commands other modules add (e.g. ``serve = "pachlet.server:serve"``,
a click command); loaded lazily, so ``pachlet`` starts fast and a broken plugin only breaks itself."""


LAZY_COMMANDS = {"serve": "pachlet.server.cli:serve_command"}
"""Top-level commands of pachlet's own heavier modules, imported only when used."""


@dataclass(frozen=True)
class _LazyCommand:
    name: str
    target: str

    def load(self) -> Any:
        import importlib

        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


class RootGroup(PachletGroup):
    """The top-level group: built-in verbs, pachlet's lazily loaded commands (``serve``) and commands
    registered under the ``pachlet.commands`` entry-point group."""

    def _plugins(self) -> dict[str, Any]:
        from importlib.metadata import entry_points

        found: dict[str, Any] = {n: _LazyCommand(n, t) for n, t in LAZY_COMMANDS.items()}
        found.update({ep.name: ep for ep in entry_points(group=PLUGIN_GROUP)})
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands) + sorted(n for n in self._plugins() if n not in self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = self.commands.get(cmd_name)
        if cmd is not None:
            return cmd
        ep = self._plugins().get(cmd_name)
        if ep is None:
            return None
        loaded = ep.load()
        return loaded if isinstance(loaded, click.Command) else None


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--root", envvar="PACHLET_ROOT", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="pachlet root (env PACHLET_ROOT; default ./.pachlet).",
)  # fmt: skip
@click.option(
    "--lock-timeout", envvar="PACHLET_LOCK_TIMEOUT", type=float, default=None,
    help="Seconds to wait for another process holding the root (default 30).",
)  # fmt: skip
@click.option(
    "--pachd", envvar="PACHD_ADDRESS", default=None, metavar="HOST:PORT",
    help="Talk to a running pachd (pachlet serve, or a cluster) instead of opening the root (env PACHD_ADDRESS).",
)  # fmt: skip
@click.version_option(__version__, "--version", prog_name="pachlet")
@click.pass_context
def cli(ctx: click.Context, root: Path | None, lock_timeout: float | None, pachd: str | None) -> None:
    """pachlet: run Pachyderm 2.x pipeline specs locally, with pachctl's verbs."""
    ctx.obj = State(
        root=root if root is not None else Path(".pachlet"), lock_timeout=lock_timeout, pachd=pachd or None
    )


@cli.group(cls=PachletGroup)
def create() -> None:
    """Create a repo, branch, pipeline or secret."""


@cli.group(cls=PachletGroup, name="list")
def list_() -> None:
    """List repos, branches, commits, files, pipelines, jobs, datums or secrets."""


@cli.group(cls=PachletGroup)
def inspect() -> None:
    """Show one repo, branch, commit, file, pipeline, job, datum or secret."""


@cli.group(cls=PachletGroup)
def delete() -> None:
    """Delete a repo, branch, file, pipeline or secret."""


@cli.group(cls=PachletGroup)
def put() -> None:
    """Put data into a repo."""


@cli.group(cls=PachletGroup)
def get() -> None:
    """Get data out of a repo."""


@cli.group(cls=PachletGroup)
def glob() -> None:
    """Match files by a glob pattern."""


@cli.group(cls=PachletGroup)
def wait() -> None:
    """Wait for a commit to finish."""


@cli.group(cls=PachletGroup)
def start() -> None:
    """Start a commit."""


@cli.group(cls=PachletGroup)
def finish() -> None:
    """Finish a commit."""


@cli.group(cls=PachletGroup)
def update() -> None:
    """Update a pipeline."""


@cli.group(cls=PachletGroup)
def run() -> None:
    """Run a cron pipeline now."""


# ---- repos


@create.command("repo")
@click.argument("name")
@click.option("-d", "--description", default="", help="A description of the repo.")
@click.pass_context
def create_repo(ctx: click.Context, name: str, description: str) -> None:
    """Create a new repo."""
    if not NAME_RE.match(name):
        raise RefError(f'repo name {name!r} may only contain letters, digits, "_" and "-"')
    with open_backend(ctx, write=True) as b:
        b.create_repo(name, description, False)


@update.command("repo")
@click.argument("name")
@click.option("-d", "--description", default="", help="A description of the repo.")
@click.pass_context
def update_repo(ctx: click.Context, name: str, description: str) -> None:
    """Update a repo's description."""
    with open_backend(ctx, write=True) as b:
        b.create_repo(name, description, True)


@list_.command("repo")
@output_option
@click.pass_context
def list_repo(ctx: click.Context, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return a list of repos."""
    with open_backend(ctx, write=False) as b:
        infos = b.list_repos()
    if want_json(output, raw):
        emit_json(infos)
    else:
        click.echo(tables.repo_table(infos, full_timestamps), nl=False)


@inspect.command("repo")
@click.argument("name")
@output_option
@click.pass_context
def inspect_repo(ctx: click.Context, name: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return info about a repo."""
    with open_backend(ctx, write=False) as b:
        info = b.inspect_repo(name)
    if want_json(output, raw):
        emit_json([info])
    else:
        click.echo(tables.repo_details(info, full_timestamps), nl=False)


@delete.command("repo")
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Delete even if pipelines use the repo.")
@click.pass_context
def delete_repo(ctx: click.Context, name: str, force: bool) -> None:
    """Delete a repo."""
    with open_backend(ctx, write=True) as b:
        b.delete_repo(name, force)


# ---- branches


@create.command("branch")
@click.argument("branch_ref", metavar="REPO@BRANCH")
@click.option("--head", default=None, help="The commit (ID or branch) the branch points at.")
@click.option("-p", "--provenance", multiple=True, help="REPO@BRANCH the branch is provenant on.")
@wait_option
@click.pass_context
def create_branch(
    ctx: click.Context, branch_ref: str, head: str | None, provenance: tuple[str, ...], no_wait: bool
) -> None:
    """Create a new branch, or update an existing one."""
    ref = parse_ref(branch_ref, allow_path=False, require_ref=True)
    if ref.commit_id and not ref.branch:
        raise RefError(f'invalid format "{branch_ref}": expected repo@branch, not a commit ID')
    provs = []
    for p in provenance:
        pr = parse_ref(p, allow_path=False, require_ref=True)
        provs.append((pr.repo, pr.branch or "master"))
    with open_backend(ctx, write=True) as b:
        head_ref = None
        if head:
            hr = parse_ref(head if "@" in head else f"{ref.repo}@{head}", allow_path=False)
            head_ref = resolve_ref(b, hr)
        b.create_branch(ref.repo, ref.branch, head_ref, provs)
        run_jobs(b, no_wait)


@list_.command("branch")
@click.argument("repo")
@output_option
@click.pass_context
def list_branch(ctx: click.Context, repo: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return all branches on a repo."""
    r = parse_ref(repo, allow_path=False)
    with open_backend(ctx, write=False) as b:
        infos = b.list_branches(r.repo)
    if want_json(output, raw):
        emit_json(infos)
    else:
        click.echo(tables.branch_table(infos), nl=False)


@inspect.command("branch")
@click.argument("branch_ref", metavar="REPO@BRANCH")
@output_option
@click.pass_context
def inspect_branch(
    ctx: click.Context, branch_ref: str, output: str, raw: bool, full_timestamps: bool
) -> None:
    """Return info about a branch."""
    ref = parse_ref(branch_ref, allow_path=False, require_ref=True)
    with open_backend(ctx, write=False) as b:
        info = b.inspect_branch(ref.repo, ref.branch or ref.ref)
    if want_json(output, raw):
        emit_json([info])
        return
    lines = [f"Name: {info.branch.repo.name}@{info.branch.name}"]
    if info.HasField("head") and info.head.id:
        lines.append(f"Head Commit: {info.branch.repo.name}@{info.head.id}")
    if info.provenance:
        lines.append("Provenance: " + ", ".join(f"{p.repo.name}@{p.name}" for p in info.provenance))
    click.echo("\n".join(lines))


@delete.command("branch")
@click.argument("branch_ref", metavar="REPO@BRANCH")
@click.pass_context
def delete_branch(ctx: click.Context, branch_ref: str) -> None:
    """Delete a branch (its commits stay reachable by ID)."""
    ref = parse_ref(branch_ref, allow_path=False, require_ref=True)
    with open_backend(ctx, write=True) as b:
        b.delete_branch(ref.repo, ref.branch or ref.ref)


# ---- commits


@start.command("commit")
@click.argument("branch_ref", metavar="REPO@BRANCH")
@click.option("-m", "--message", "--description", "description", default="", help="Commit description.")
@click.pass_context
def start_commit(ctx: click.Context, branch_ref: str, description: str) -> None:
    """Start a new commit; prints its ID."""
    ref = parse_ref(branch_ref, allow_path=False, require_ref=True)
    with open_backend(ctx, write=True) as b:
        info = b.start_commit(ref.repo, ref.branch or "master", description)
    click.echo(info.commit.id)


@finish.command("commit")
@click.argument("commit_ref", metavar="REPO@BRANCH_OR_COMMIT")
@click.option("-m", "--message", "--description", "description", default=None, help="Commit description.")
@wait_option
@click.pass_context
def finish_commit(ctx: click.Context, commit_ref: str, description: str | None, no_wait: bool) -> None:
    """Finish an open commit (its files become visible and jobs run)."""
    ref = parse_ref(commit_ref, allow_path=False, require_ref=True)
    with open_backend(ctx, write=True) as b:
        b.finish_commit(ref.repo, ref.ref, description)
        run_jobs(b, no_wait)


@list_.command("commit")
@click.argument("target", required=False, metavar="[REPO[@BRANCH]|GLOBAL_ID]")
@click.option("-n", "--number", type=int, default=None, help="At most this many commits (newest first).")
@output_option
@click.pass_context
def list_commit(
    ctx: click.Context, target: str | None, number: int | None, output: str, raw: bool, full_timestamps: bool
) -> None:
    """List commits of a repo/branch, the commits of one global ID, or (no argument) every commit set."""
    as_json = want_json(output, raw)
    with open_backend(ctx, write=False) as b:
        if target is None:
            sets = b.commit_sets(number)
            if as_json:
                emit_json(sets)
            else:
                click.echo(tables.commit_set_table(sets, full_timestamps), nl=False)
            return
        if COMMIT_ID_RE.match(target):
            infos = b.commit_set(target)
        else:
            ref = parse_ref(target, allow_path=False)
            if ref.commit_id:
                raise RefError(f'invalid format "{target}": list commit takes repo[@branch] or a global ID')
            infos = b.list_commits(ref.repo, ref.branch or None, number)
    if as_json:
        emit_json(infos)
    else:
        click.echo(tables.commit_table(infos, full_timestamps), nl=False)


@inspect.command("commit")
@click.argument("commit_ref", metavar="REPO@BRANCH_OR_COMMIT")
@output_option
@click.pass_context
def inspect_commit(
    ctx: click.Context, commit_ref: str, output: str, raw: bool, full_timestamps: bool
) -> None:
    """Return info about a commit, with its provenance."""
    ref = parse_ref(commit_ref, allow_path=False, require_ref=True)
    with open_backend(ctx, write=False) as b:
        info = b.inspect_commit(ref.repo, resolve_ref(b, ref))
    if want_json(output, raw):
        emit_json([info])
    else:
        click.echo(tables.commit_details(info, full_timestamps), nl=False)


@wait.command("commit")
@click.argument("commit_ref", metavar="REPO@BRANCH_OR_COMMIT")
@output_option
@click.pass_context
def wait_commit(ctx: click.Context, commit_ref: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Run pending jobs, then wait for the commit to finish and print it."""
    ref = parse_ref(commit_ref, allow_path=False, require_ref=True)
    with open_backend(ctx, write=True) as b:
        bars = ProgressBars()
        try:
            info = b.wait_commit(ref.repo, resolve_ref(b, ref), bars)
        finally:
            bars.close()
    if want_json(output, raw):
        emit_json([info])
    else:
        click.echo(tables.commit_table([info], full_timestamps), nl=False)


# ---- files


def _target_path(path: str, source: str, many: bool) -> str:
    """Where ``-f source`` lands: the given path, ``path/basename`` for a directory path (or several
    sources), ``/basename`` without a path (pachctl's rule)."""
    name = "" if source == "-" else Path(source.rstrip("/")).name
    if not path:
        if not name:
            raise RefError("put file -f -: a path is required when reading stdin (repo@branch:/path)")
        return "/" + name
    if (path.endswith("/") or many) and name:
        return path.rstrip("/") + "/" + name
    return path


@put.command("file")
@click.argument("file_ref", metavar="REPO@BRANCH[:/PATH]")
@click.option(
    "-f", "--file", "files", multiple=True, required=True, help="Local file or directory; - is stdin."
)
@click.option("-r", "--recursive", is_flag=True, help="Put directories recursively.")
@click.option("-a", "--append", is_flag=True, help="Append to the file instead of overwriting it.")
@wait_option
@click.pass_context
def put_file(
    ctx: click.Context, file_ref: str, files: tuple[str, ...], recursive: bool, append: bool, no_wait: bool
) -> None:
    """Put a file (or, with -r, a directory) into a repo, in one commit."""
    ref = parse_ref(file_ref, require_ref=True)
    many = len(files) > 1
    plan: list[tuple[str, str]] = []
    for src in files:
        if src != "-":
            sp = Path(src)
            if not sp.exists():
                raise PachletError(f"put file -f {src}: no such file or directory")
            if sp.is_dir() and not recursive:
                raise PachletError(f"put file -f {src}: is a directory (use -r)")
        plan.append((src, _target_path(ref.path, src, many)))
    with open_backend(ctx, write=True) as b:
        target = resolve_ref(b, ref)
        commit_id = None
        if many and not COMMIT_ID_RE.match(target):
            commit_id = b.start_commit(ref.repo, target, "").commit.id
        try:
            for src, path in plan:
                dest = commit_id or target
                if src == "-":
                    b.put_file(ref.repo, dest, path, sys.stdin.buffer.read(), append)
                elif Path(src).is_dir():
                    b.put_tree(ref.repo, dest, path, Path(src))
                else:
                    b.put_file(ref.repo, dest, path, Path(src), append)
        except BaseException:
            if commit_id is not None:
                _abandon(b, ref.repo, commit_id)
            raise
        if commit_id is not None:
            b.finish_commit(ref.repo, commit_id, None)
        run_jobs(b, no_wait)


def _abandon(b: LocalBackend, repo: str, commit_id: str) -> None:
    pfs = getattr(getattr(b.p, "_pfs", None), "abandon_commit", None)
    if pfs is not None:
        with suppress(PachletError):
            pfs(repo, commit_id)


@get.command("file")
@click.argument("file_ref", metavar="REPO@REF:/PATH")
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), default=None, help="Write here.")
@click.pass_context
def get_file(ctx: click.Context, file_ref: str, out: Path | None) -> None:
    """Return the contents of a file (a directory needs -o DIR)."""
    ref = parse_ref(file_ref, require_ref=True)
    if not ref.path:
        raise RefError(f'invalid format "{file_ref}": expected repo@ref:/path')
    with open_backend(ctx, write=False) as b:
        target = resolve_ref(b, ref)
        info = b.inspect_file(ref.repo, target, ref.path)
        if info.file_type == pfs_pb2.DIR:
            if out is None:
                raise PachletError(f"{file_ref} is a directory; pass -o DIR to download it")
            base = ref.path.rstrip("/")
            for f in b.walk_files(ref.repo, target, ref.path):
                dest = out / f.file.path[len(base) :].lstrip("/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                with open(dest, "wb") as fh:
                    b.copy_file_to(ref.repo, target, f.file.path, fh)
            return
        if out is None:
            b.copy_file_to(ref.repo, target, ref.path, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            if out.parent and not out.parent.exists():
                out.parent.mkdir(parents=True, exist_ok=True)
            with open(out, "wb") as fh:
                b.copy_file_to(ref.repo, target, ref.path, fh)


@list_.command("file")
@click.argument("file_ref", metavar="REPO@REF[:/PATH]")
@output_option
@click.pass_context
def list_file(ctx: click.Context, file_ref: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return the files in a directory."""
    ref = parse_ref(file_ref, require_ref=True)
    with open_backend(ctx, write=False) as b:
        infos = b.list_files(ref.repo, resolve_ref(b, ref), ref.path or "/")
    if want_json(output, raw):
        emit_json(infos)
    else:
        click.echo(tables.file_table(infos), nl=False)


@inspect.command("file")
@click.argument("file_ref", metavar="REPO@REF:/PATH")
@output_option
@click.pass_context
def inspect_file(ctx: click.Context, file_ref: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return info about a file."""
    ref = parse_ref(file_ref, require_ref=True)
    with open_backend(ctx, write=False) as b:
        info = b.inspect_file(ref.repo, resolve_ref(b, ref), ref.path or "/")
    if want_json(output, raw):
        emit_json([info])
        return
    kind = "dir" if info.file_type == pfs_pb2.DIR else "file"
    click.echo(f"Path: {info.file.path}\nType: {kind}\nSize: {tables.bytes_size(info.size_bytes)}")
    if info.hash:
        click.echo(f"Hash: {info.hash.hex()}")


@glob.command("file")
@click.argument("pattern_ref", metavar="REPO@REF:PATTERN")
@output_option
@click.pass_context
def glob_file(ctx: click.Context, pattern_ref: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return the files matching a glob pattern."""
    ref = parse_ref(pattern_ref, require_ref=True)
    if not ref.path:
        raise RefError(f'invalid format "{pattern_ref}": expected repo@ref:PATTERN')
    with open_backend(ctx, write=False) as b:
        infos = b.glob_files(ref.repo, resolve_ref(b, ref), ref.path)
    if want_json(output, raw):
        emit_json(infos)
    else:
        click.echo(tables.file_table(infos), nl=False)


@delete.command("file")
@click.argument("file_ref", metavar="REPO@BRANCH:/PATH")
@wait_option
@click.pass_context
def delete_file(ctx: click.Context, file_ref: str, no_wait: bool) -> None:
    """Delete a file or directory (in a new commit on the branch)."""
    ref = parse_ref(file_ref, require_ref=True)
    if not ref.path:
        raise RefError(f'invalid format "{file_ref}": expected repo@branch:/path')
    with open_backend(ctx, write=True) as b:
        b.delete_file(ref.repo, resolve_ref(b, ref), ref.path)
        run_jobs(b, no_wait)


# ---- pipelines


def _read_stdin_to_temp() -> Path:
    data = sys.stdin.read()
    suffix = ".json" if data.lstrip()[:1] in ("{", "[") else ".yaml"
    fd, name = tempfile.mkstemp(prefix="pachlet-spec-", suffix=suffix)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)
    return Path(name)


def load_specs(
    file: str | None, jsonnet: str | None, args: Sequence[str]
) -> tuple[list[dict[str, Any]], str]:
    """The specs of ``-f FILE`` (``-`` = stdin) or ``--jsonnet FILE --arg k=v``, and the source name."""
    from pachlet.spec import load_spec_file

    if bool(file) == bool(jsonnet):
        raise PachletError("give exactly one of -f SPEC or --jsonnet FILE")
    if args and not jsonnet:
        raise PachletError("--arg is only valid with --jsonnet")
    source = jsonnet or file or ""
    tmp: Path | None = None
    try:
        if file == "-":
            tmp = _read_stdin_to_temp()
            path, source = tmp, "<stdin>"
        else:
            path = Path(source)
            if not path.exists():
                raise PachletError(f"{source}: no such file")
        try:
            specs = load_spec_file(path, jsonnet_args=parse_key_values(args) if jsonnet else None)
        except PachletError:
            raise
        except (ValueError, RuntimeError, TypeError) as exc:  # JSON/YAML/Jsonnet syntax errors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SpecError(first, source=source) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return specs, source


def _spec_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--arg", "args", multiple=True, help="Jsonnet top-level argument k=v (repeatable).")(f)
    f = click.option("--jsonnet", default=None, help="A Jsonnet template rendering the spec(s).")(f)
    return click.option("-f", "--file", "file", default=None, help="Pipeline spec (JSON/YAML; - is stdin).")(
        f
    )


def _create_or_update(
    ctx: click.Context, file: str | None, jsonnet: str | None, args: Sequence[str], update: bool,
    reprocess: bool, no_wait: bool,
) -> None:  # fmt: skip
    specs, source = load_specs(file, jsonnet, args)
    with open_backend(ctx, write=True) as b:
        for spec in specs:
            with _naming_source(source):
                b.create_pipeline(spec, update, reprocess, source)
        run_jobs(b, no_wait)


@contextmanager
def _naming_source(source: str) -> Iterator[None]:
    """Make sure a spec error names the file it came from."""
    try:
        yield
    except SpecError as exc:
        if source and source not in str(exc):
            raise SpecError(str(exc), source=source) from None
        raise


@create.command("pipeline")
@_spec_options
@wait_option
@click.pass_context
def create_pipeline(
    ctx: click.Context, file: str | None, jsonnet: str | None, args: tuple[str, ...], no_wait: bool
) -> None:
    """Create pipelines from a spec file (one spec or a list) and run their first jobs."""
    _create_or_update(ctx, file, jsonnet, args, False, False, no_wait)


@update.command("pipeline")
@_spec_options
@click.option("--reprocess", is_flag=True, help="Reprocess datums that were already processed.")
@wait_option
@click.pass_context
def update_pipeline(
    ctx: click.Context, file: str | None, jsonnet: str | None, args: tuple[str, ...], reprocess: bool,
    no_wait: bool,
) -> None:  # fmt: skip
    """Update pipelines (create them if absent); unchanged datums are skipped unless --reprocess."""
    _create_or_update(ctx, file, jsonnet, args, True, reprocess, no_wait)


@list_.command("pipeline")
@click.argument("name", required=False)
@output_option
@click.pass_context
def list_pipeline(
    ctx: click.Context, name: str | None, output: str, raw: bool, full_timestamps: bool
) -> None:
    """Return info about all pipelines (or one)."""
    with open_backend(ctx, write=False) as b:
        infos = [b.inspect_pipeline(name)] if name else b.list_pipelines()
    if want_json(output, raw):
        emit_json(infos)
    else:
        click.echo(tables.pipeline_table(infos, full_timestamps), nl=False)


@inspect.command("pipeline")
@click.argument("name")
@output_option
@click.pass_context
def inspect_pipeline(ctx: click.Context, name: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return info about a pipeline."""
    with open_backend(ctx, write=False) as b:
        info = b.inspect_pipeline(name)
    if want_json(output, raw):
        emit_json([info])
    else:
        click.echo(tables.pipeline_details(info, full_timestamps), nl=False)


@delete.command("pipeline")
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Delete even if other pipelines read its output.")
@click.option("--keep-repo", is_flag=True, help="Keep the output repo.")
@click.pass_context
def delete_pipeline(ctx: click.Context, name: str, force: bool, keep_repo: bool) -> None:
    """Delete a pipeline (and its output repo unless --keep-repo)."""
    with open_backend(ctx, write=True) as b:
        b.delete_pipeline(name, force, keep_repo)


@run.command("cron")
@click.argument("pipeline")
@wait_option
@click.pass_context
def run_cron(ctx: click.Context, pipeline: str, no_wait: bool) -> None:
    """Tick every cron input of a pipeline now; prints the global ID."""
    with open_backend(ctx, write=True) as b:
        gid = b.run_cron(pipeline)
        if gid:  # a remote pachd does not return it
            click.echo(gid)
        run_jobs(b, no_wait)


# ---- jobs, datums, logs


@list_.command("job")
@click.argument("global_id", required=False)
@click.option("-p", "--pipeline", default=None, help="Only jobs of this pipeline.")
@click.option("-x", "--expand", is_flag=True, help="One line per job instead of per global ID.")
@output_option
@click.pass_context
def list_job(
    ctx: click.Context, global_id: str | None, pipeline: str | None, expand: bool, output: str, raw: bool,
    full_timestamps: bool,
) -> None:  # fmt: skip
    """List jobs: per global ID (no arguments), of one pipeline (-p) and/or one global ID."""
    as_json = want_json(output, raw)
    with open_backend(ctx, write=False) as b:
        if global_id is None and pipeline is None and not expand:
            sets = b.job_sets()
            if as_json:
                emit_json(sets)
            else:
                click.echo(tables.job_set_table(sets, full_timestamps), nl=False)
            return
        infos = b.list_jobs(pipeline, global_id)
    if as_json:
        emit_json(infos)
    else:
        click.echo(tables.job_table(infos, full_timestamps), nl=False)


@inspect.command("job")
@click.argument("job_ref", metavar="PIPELINE@JOB_ID")
@output_option
@click.pass_context
def inspect_job(ctx: click.Context, job_ref: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return info about a job."""
    pipeline, job_id = parse_job_ref(job_ref)
    with open_backend(ctx, write=False) as b:
        info = b.inspect_job(pipeline, job_id)
    if want_json(output, raw):
        emit_json([info])
    else:
        click.echo(tables.job_details(info, full_timestamps), nl=False)


@list_.command("datum")
@click.argument("job_ref", required=False, metavar="PIPELINE@JOB_ID")
@click.option("-f", "--file", "file", default=None, help="A spec: list the datums its input gives now.")
@output_option
@click.pass_context
def list_datum(
    ctx: click.Context, job_ref: str | None, file: str | None, output: str, raw: bool, full_timestamps: bool
) -> None:
    """List the datums of a job, or (-f SPEC) the datums a spec's input would produce now."""
    if bool(job_ref) == bool(file):
        raise PachletError("give exactly one of PIPELINE@JOB_ID or -f SPEC")
    if file:
        specs, _ = load_specs(file, None, ())
        with open_backend(ctx, write=False) as b, _naming_source(file):
            infos = [d for spec in specs for d in b.datums_for_spec(spec)]
    else:
        pipeline, job_id = parse_job_ref(job_ref or "")
        with open_backend(ctx, write=False) as b:
            infos = b.list_datums(pipeline, job_id)
    if want_json(output, raw):
        emit_json(infos)
    else:
        click.echo(tables.datum_table(infos), nl=False)


@inspect.command("datum")
@click.argument("job_ref", metavar="PIPELINE@JOB_ID")
@click.argument("datum_id")
@output_option
@click.pass_context
def inspect_datum(
    ctx: click.Context, job_ref: str, datum_id: str, output: str, raw: bool, full_timestamps: bool
) -> None:
    """Return info about one datum of a job."""
    pipeline, job_id = parse_job_ref(job_ref)
    with open_backend(ctx, write=False) as b:
        info = b.inspect_datum(pipeline, job_id, datum_id)
    if want_json(output, raw):
        emit_json([info])
        return
    click.echo(
        f"ID: {info.datum.id}\nJob ID: {info.datum.job.id}\nState: {tables.datum_state_name(info.state)}"
    )
    click.echo("Inputs:")
    click.echo(tables.render_table(("  REPO", "COMMIT", "PATH"), [
        (f"  {f.file.commit.repo.name}", f.file.commit.id, f.file.path) for f in info.data
    ]), nl=False)  # fmt: skip


@cli.command("logs")
@click.option("-p", "--pipeline", required=True, help="The pipeline.")
@click.option("-j", "--job", "job_id", default=None, help="A job ID (default: the pipeline's latest job).")
@click.option("--datum", "datum_id", default=None, help="Only this datum's lines.")
@click.option("-o", "--output", "output", type=click.Choice(OUTPUT_FORMATS), default="table")
@click.option("--raw", is_flag=True, help="Same as -o json (one LogMessage per line).")
@click.pass_context
def logs(
    ctx: click.Context, pipeline: str, job_id: str | None, datum_id: str | None, output: str, raw: bool
) -> None:
    """Return the output lines of a pipeline's datums."""
    with open_backend(ctx, write=False) as b:
        lines = b.logs(pipeline, job_id, datum_id)
    if want_json(output, raw):
        emit_json(lines)
        return
    for line in lines:
        click.echo(line.message.rstrip("\n"))


# ---- secrets


def load_manifest(file: str) -> dict[str, Any]:
    """A Kubernetes Secret manifest (YAML or JSON; ``-`` is stdin); errors name the file and field."""
    import yaml

    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
    except OSError as exc:
        raise PachletError(f"{file}: {exc.strerror or exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise PachletError(f"{file}: not a YAML/JSON document: {first}") from None
    if not isinstance(doc, dict):
        raise PachletError(f"{file}: expected a Kubernetes Secret object")
    if doc.get("kind", "Secret") != "Secret":
        raise PachletError(f"{file}: field 'kind': expected Secret, got {doc.get('kind')!r}")
    if not (doc.get("metadata") or {}).get("name"):
        raise PachletError(f"{file}: field 'metadata.name' is required")
    for section in ("data", "stringData"):
        if section in doc and not isinstance(doc[section], dict | type(None)):
            raise PachletError(f"{file}: field {section!r} must be a mapping of key to value")
    return doc


@create.command("secret")
@click.option("-f", "--file", "file", required=True, help="Kubernetes Secret manifest (YAML or JSON).")
@click.pass_context
def create_secret(ctx: click.Context, file: str) -> None:
    """Create (or replace) a secret from a Kubernetes Secret manifest."""
    manifest = load_manifest(file)
    with open_backend(ctx, write=True) as b:
        b.create_secret(manifest)


@list_.command("secret")
@output_option
@click.pass_context
def list_secret(ctx: click.Context, output: str, raw: bool, full_timestamps: bool) -> None:
    """List secrets (names, types and key names; never values)."""
    with open_backend(ctx, write=False) as b:
        items = b.list_secrets()
    if want_json(output, raw):
        emit_json(i for i, _ in items)
    else:
        click.echo(tables.secret_table([i for i, _ in items], {i.secret.name: k for i, k in items}), nl=False)


@inspect.command("secret")
@click.argument("name")
@output_option
@click.pass_context
def inspect_secret(ctx: click.Context, name: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return a secret's metadata and key names (never values)."""
    with open_backend(ctx, write=False) as b:
        info, keys = b.inspect_secret(name)
    if want_json(output, raw):
        emit_json([info])
    else:
        click.echo(tables.secret_details(info, keys), nl=False)


@delete.command("secret")
@click.argument("name")
@click.pass_context
def delete_secret(ctx: click.Context, name: str) -> None:
    """Delete a secret."""
    with open_backend(ctx, write=True) as b:
        b.delete_secret(name)


# ---- maintenance


@cli.command("fsck")
@click.option("--fix", is_flag=True, help="Repair what can be repaired (orphans, dead open commits).")
@click.pass_context
def fsck(ctx: click.Context, fix: bool) -> None:
    """Check the root's integrity; exit 1 if problems remain."""
    with open_backend(ctx, write=True) as b:
        problems, fixed = b.fsck(fix)
        for line in fixed:
            click.echo(f"fixed: {line}")
        if fix and (problems or fixed):
            problems, _ = b.fsck(False)
    for line in problems:
        click.echo(line)
    if problems:
        raise PachletError(
            f"fsck found {len(problems)} problem(s)" + ("" if fix else "; run pachlet fsck --fix")
        )
    click.echo("No errors found.")


@cli.command("mount")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.argument("repos", nargs=-1, metavar="[REPO[@REF]]...")
@click.option(
    "-r", "--repos", "repo_opts", multiple=True, help="REPO[@REF] to mount (default: all at master)."
)
@click.pass_context
def mount(ctx: click.Context, directory: Path, repos: tuple[str, ...], repo_opts: tuple[str, ...]) -> None:
    """Materialize repos read-only under DIR/<repo>/ (hard links; rerun to refresh)."""
    wanted = list(repos) + list(repo_opts)
    for item in wanted:
        parse_ref(item, allow_path=False)
    with open_backend(ctx, write=False) as b:
        written = b.mount(directory, wanted or None)
    for path in written:
        click.echo(str(path))


@cli.command("version")
@click.option("-o", "--output", "output", type=click.Choice(OUTPUT_FORMATS), default="table")
@click.option("--raw", is_flag=True)
@click.option("--client-only", is_flag=True, help="Do not open the root.")
@click.pass_context
def version(ctx: click.Context, output: str, raw: bool, client_only: bool) -> None:
    """Print pachlet's version and the Pachyderm API version it implements."""
    if want_json(output, raw):
        from python_pachyderm.proto.v2.version.versionpb import version_pb2

        major, minor, micro = (int(x) for x in PACHYDERM_API_VERSION.split("."))
        pachd = version_pb2.Version(
            major=major, minor=minor, micro=micro, additional=f"pachlet-{__version__}"
        )
        click.echo(
            json.dumps({"pachlet": __version__, "pachd": protos.to_dict(pachd)}, separators=(",", ":"))
        )
        return
    rows = [("pachlet", __version__)]
    if not client_only:
        with open_backend(ctx, write=False) as b:
            rows.append(("pachd", b.server_version()))
    click.echo(tables.render_table(("COMPONENT", "VERSION"), rows), nl=False)


# --------------------------------------------------------------------------- entry point


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).strip().splitlines() if part.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Console script entry point: run the CLI; PachletError -> one line on stderr, exit code 1."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="pachlet", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except PachletError as exc:
        click.echo(f"pachlet: {_one_line(str(exc))}", err=True)
        return 1
    except grpc.RpcError as exc:
        details = exc.details() if hasattr(exc, "details") else str(exc)
        code = exc.code().name if hasattr(exc, "code") else "ERROR"
        click.echo(
            f"pachlet: pachd {RemoteBackend.last_address}: {code}: {_one_line(details or '')}", err=True
        )
        return 1
    except ConnectionError as exc:  # python-pachyderm's rewording of UNAVAILABLE
        click.echo(
            f"pachlet: pachd {RemoteBackend.last_address}: UNAVAILABLE: {_one_line(str(exc))}", err=True
        )
        return 1
    except KeyboardInterrupt:
        click.echo("pachlet: interrupted (queued jobs resume on the next command)", err=True)
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        click.echo(f"pachlet:{where} {exc.strerror or exc}", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["Ref", "RefError", "cli", "main", "parse_job_ref", "parse_ref"]

from pachlet.server.cli import serve_command  # noqa: E402

cli.add_command(serve_command)
