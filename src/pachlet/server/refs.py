"""Reading what a request names: repos and pipelines (qualified by their project), commits, and the
filters ListCommit and SubscribeCommit share (used by the ``pfs``, ``modify`` and ``pps`` servicers)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

import grpc
from python_pachyderm.proto.v2.pfs import pfs_pb2

from pachlet import projects, protos
from pachlet import records as r
from pachlet.server.errors import RpcAbort

FINISHED_STATES = (pfs_pb2.FINISHING, pfs_pb2.FINISHED)

T = TypeVar("T")


def project_object_name(kind: str, project: str, name: str) -> str:
    """The internal name (``pachlet.projects``) of the repo or pipeline (``kind``) a request names in
    ``project`` (empty: ``default``, as pachd's ``EnsureProject``)."""
    if not name:
        raise RpcAbort(grpc.StatusCode.INVALID_ARGUMENT, f"{kind} name is empty")
    if projects.SEP in name or projects.SEP in project:
        raise RpcAbort(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{kind} name ({name!r} in project {project!r}) invalid: only alphanumeric characters, "
            "underscores, and dashes are allowed",
        )
    return projects.qualify(project, name)


def repo_name(repo: pfs_pb2.Repo) -> str:
    """The repo's internal name."""
    return project_object_name("repo", repo.project.name, repo.name)


def in_projects(name: str, wanted: Iterable[pfs_pb2.Project]) -> bool:
    """Whether an internal name belongs to one of the projects of a request's ``projects`` filter."""
    return any(projects.in_project(name, p.name) for p in wanted)


def commit_ref(commit: pfs_pb2.Commit) -> tuple[str, str]:
    """(repo, ref) for a ``pfs.Commit``: the ref is the commit ID, else the branch name."""
    repo = commit.repo if commit.repo.name else commit.branch.repo
    name = repo_name(repo)
    ref = commit.id or commit.branch.name
    if not ref:
        raise RpcAbort(
            grpc.StatusCode.INVALID_ARGUMENT, f"commit in repo {name} has neither an ID nor a branch"
        )
    return name, ref


def commit_state_reached(info: r.CommitInfo, wanted: int) -> bool:
    """Whether a commit is in ``wanted`` (a ``pfs.CommitState``) or later; pachlet commits go straight
    from STARTED/READY to FINISHED."""
    return wanted not in FINISHED_STATES or info.finished is not None


def passes_origin(info: r.CommitInfo, all_: bool, origin_kind: int) -> bool:
    """pachd's filter for ListCommit / SubscribeCommit: ``all``, else the requested origin kind."""
    if all_ or origin_kind == pfs_pb2.ORIGIN_KIND_UNKNOWN:
        return True
    return protos.commit_info(info).origin.kind == origin_kind


def page(items: list[T], number: int, reverse: bool) -> list[T]:
    """``items`` reversed if asked, then the first ``number`` (all when ``number`` is 0)."""
    if reverse:
        items = list(reversed(items))
    return items[:number] if number > 0 else items
