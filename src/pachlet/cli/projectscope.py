"""pachctl's ``--project`` flag: which project the names of a command live in, and the backend that
reads them there (``ProjectBackend``); the project commands themselves are in ``pachlet.cli.project``.

``--project P`` (default ``default``, or ``$PACHLET_PROJECT``) on the repo, branch, commit, file,
pipeline, job and datum verbs and on ``logs`` (pachctl 2.7.6 src/server/pfs/cmds/cmds.go and
src/server/pps/cmds/cmds.go): every repo and pipeline name the command takes is read in P
(``pachlet put file images@master:/a -f a --project audio``), and ``list repo|pipeline|job`` show P's
objects only (pachctl's default; ``-A`` / ``--all-projects`` lists every project's).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import click

from pachlet.projects import DEFAULT_PROJECT, qualify

if TYPE_CHECKING:
    from pachlet.cli.backend import Backend

PROJECT_ENV = "PACHLET_PROJECT"
"""The environment variable naming the project when ``--project`` is not given (pachctl reads the
active context's project)."""

SCOPED_NOUNS = ("repo", "branch", "commit", "file", "pipeline", "cron", "job", "datum", "logs")
"""The nouns whose commands take ``--project`` (pachctl's pfs and pps commands; secrets are cluster-wide
Kubernetes secrets in pachd 2.7)."""

_ALL_PROJECTS_NOUNS = ("repo", "pipeline", "job")

# Backend methods whose first argument is a repo or pipeline name (None allowed where optional).
_NAMED_FIRST = frozenset(
    {
        "create_repo", "inspect_repo", "delete_repo", "list_branches", "inspect_branch", "delete_branch",
        "start_commit", "finish_commit", "abandon_commit", "inspect_commit", "wait_commit", "list_commits",
        "put_file", "put_tree", "delete_file", "copy_file_to", "inspect_file", "list_files", "walk_files",
        "glob_files", "inspect_pipeline", "delete_pipeline", "run_cron", "list_jobs", "inspect_job",
        "list_datums", "inspect_datum", "logs",
    }
)  # fmt: skip


def active_project(ctx: click.Context) -> str:
    """The project a command works in: its ``--project``, else ``$PACHLET_PROJECT``, else default."""
    value = ctx.meta.get("pachlet.project") or os.environ.get(PROJECT_ENV) or DEFAULT_PROJECT
    return str(value)


def all_projects(ctx: click.Context) -> bool:
    """Whether ``-A`` / ``--all-projects`` was given."""
    return bool(ctx.meta.get("pachlet.all_projects"))


def _spec_in(spec: Mapping[str, Any], project: str) -> dict[str, Any]:
    """A pipeline spec whose pipeline has no project gets ``project`` (as pachctl's ``--project``)."""
    out = dict(spec)
    pipeline = dict(out.get("pipeline") or {})
    if project != DEFAULT_PROJECT and not (pipeline.get("project") or {}).get("name"):
        pipeline["project"] = {"name": project}
        out["pipeline"] = pipeline
    return out


class ProjectBackend:
    """A backend whose names are read in one project: each repo or pipeline name a command passes is
    qualified (``pachlet.projects.qualify``), and the unfiltered lists keep that project's objects."""

    def __init__(self, inner: Backend, project: str, *, every_project: bool = False) -> None:
        self.inner = inner
        self.project = project
        self.every_project = every_project

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if name not in _NAMED_FIRST or not callable(target):
            return target

        def call(first: str | None, *args: Any, **kwargs: Any) -> Any:
            return target(qualify(self.project, first) if first else first, *args, **kwargs)

        return call

    def _mine(self, project_name: str) -> bool:
        return self.every_project or (project_name or DEFAULT_PROJECT) == self.project

    def create_branch(
        self, repo: str, branch: str, head: str | None, provenance: Iterable[tuple[str, str]]
    ) -> Any:
        """``create branch`` in the project, its provenance branches too."""
        prov = [(qualify(self.project, r), b) for r, b in provenance]
        return self.inner.create_branch(qualify(self.project, repo), branch, head, prov)

    def list_repos(self) -> list[Any]:
        """The project's repos (every project's with ``-A``)."""
        return [i for i in self.inner.list_repos() if self._mine(i.repo.project.name)]

    def list_pipelines(self) -> list[Any]:
        """The project's pipelines (every project's with ``-A``)."""
        return [i for i in self.inner.list_pipelines() if self._mine(i.pipeline.project.name)]

    def list_jobs(self, pipeline: str | None, global_id: str | None) -> list[Any]:
        """Jobs of a pipeline of the project, else the project's jobs (every project's with ``-A``)."""
        if pipeline:
            return self.inner.list_jobs(qualify(self.project, pipeline), global_id)
        return [j for j in self.inner.list_jobs(None, global_id) if self._mine(j.job.pipeline.project.name)]

    def create_pipeline(
        self, spec: Mapping[str, Any], update: bool, reprocess: bool, source: str | None
    ) -> Any:
        """Create a pipeline in the project unless its spec names one."""
        return self.inner.create_pipeline(_spec_in(spec, self.project), update, reprocess, source)

    def datums_for_spec(self, spec: Mapping[str, Any]) -> list[Any]:
        """``list datum -f``: the spec read in the project."""
        return self.inner.datums_for_spec(_spec_in(spec, self.project))


def scoped(ctx: click.Context, backend: Backend) -> Backend:
    """The backend a command talks to: for a command of ``SCOPED_NOUNS``, one reading its names in its
    project (``ProjectBackend``); any other command's backend as it is."""
    if ctx.info_name not in SCOPED_NOUNS:
        return backend
    return ProjectBackend(backend, active_project(ctx), every_project=all_projects(ctx))  # type: ignore[return-value]


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value:
            ctx.meta[key] = value
        return value

    return callback


def add_project_flags(groups: Iterable[click.Group], top_level: Iterable[click.Command] = ()) -> None:
    """Give every command of ``SCOPED_NOUNS`` on the verb groups pachctl's ``--project`` flag (and
    ``list repo|pipeline|job`` its ``-A`` / ``--all-projects``)."""
    pairs = [(g, n, c) for g in groups for n, c in g.commands.items()] + [
        (None, c.name, c) for c in top_level
    ]
    for group, noun, command in pairs:
        if noun not in SCOPED_NOUNS or any(p.name == "project" for p in command.params):
            continue
        command.params.append(
            click.Option(
                ["--project"], default=None, expose_value=False, callback=_remember("pachlet.project"),
                help=f"The project the names live in (default: ${PROJECT_ENV}, else default).",
            )
        )  # fmt: skip
        if group is not None and group.name == "list" and noun in _ALL_PROJECTS_NOUNS:
            command.params.append(
                click.Option(
                    ["-A", "--all-projects"], is_flag=True, expose_value=False,
                    callback=_remember("pachlet.all_projects"), help="List every project's, not one project's.",
                )
            )  # fmt: skip
