"""The console's Starlette application: routes, templates, security headers, error pages.

Read-only by construction: every route is GET (HEAD), anything else is 405; the facade is only read.
Every template is autoescaped; raw file downloads are served as attachments with
``application/octet-stream`` (images excepted, for ``<img>``) under a strict Content-Security-Policy.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pachlet import tables
from pachlet.api import Pachlet
from pachlet.console import views
from pachlet.console.hostcheck import HostCheckMiddleware, allowed_hosts
from pachlet.console.plugins import PluginRegistry, discover, register_all
from pachlet.console.preview import UnsafePathError, content_type, safe_repo_path
from pachlet.errors import NotFoundError, PachletError
from pachlet.names import ANCESTRY_RE, BRANCH_RE, COMMIT_ID_RE, NAME_RE
from pachlet.projects import project_name_error, split

log = logging.getLogger("pachlet.console")

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
DEFAULT_CONSOLE_PORT = 4000

# Route parameters are checked before the facade sees them: repo and pipeline names, refs (a branch or
# commit ID with ancestry suffixes) and global/job IDs follow pachlet.names. A datum ID has no
# Pachyderm naming rule there; it is a lower-case hex digest.
DATUM_RE = re.compile(r"^[0-9a-f]{8,128}$")

CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'none'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
NAV = [
    ("DAG", "/"),
    ("Repos", "/repos"),
    ("Pipelines", "/pipelines"),
    ("Jobs", "/jobs"),
    ("Changes", "/commits"),
]

STATE_CLASSES = {
    "JOB_SUCCESS": "success",
    "SUCCESS": "success",
    "JOB_FAILURE": "failure",
    "FAILED": "failure",
    "JOB_UNRUNNABLE": "failure",
    "JOB_KILLED": "killed",
    "SKIPPED": "skipped",
    "RECOVERED": "recovered",
    "JOB_CREATED": "pending",
    "JOB_STARTING": "running",
    "JOB_RUNNING": "running",
    "JOB_EGRESSING": "running",
    "JOB_FINISHING": "running",
    "STARTING": "running",
}


class ReadOnlyMiddleware:
    """405 for every method but GET and HEAD; security headers and a Server-Timing on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            response = PlainTextResponse(
                "405 Method Not Allowed: the console is read-only",
                status_code=405,
                headers={"Allow": "GET, HEAD"},
            )
            await response(scope, receive, self._wrap(send, time.perf_counter()))
            return
        await self.app(scope, receive, self._wrap(send, time.perf_counter()))

    @staticmethod
    def _wrap(send: Send, started: float) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                ms = (time.perf_counter() - started) * 1000
                headers.append((b"server-timing", f"app;dur={ms:.1f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        return wrapped


def _state_class(state: str | None) -> str:
    return STATE_CLASSES.get(state or "", "unknown")


def _state_label(state: str | None) -> str:
    if not state:
        return "-"
    return state.removeprefix("JOB_").lower()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return tables.human_duration(seconds)


def _elapsed(start: Any, end: Any) -> str:
    if start is None or end is None:
        return "-"
    return _duration((end - start).total_seconds())


def make_environment(extra_loaders: list[jinja2.BaseLoader]) -> jinja2.Environment:
    """The console's Jinja2 environment: autoescape on for every template, the console's filters."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(TEMPLATES)), *extra_loaders]),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ago=tables.ago,
        ts=tables.full_timestamp,
        size=tables.bytes_size,
        short=lambda s, n=12: (s or "")[:n],
        duration=_duration,
        state_class=_state_class,
        state_label=_state_label,
        pathquote=lambda s: quote(s or "", safe="/"),
        q=lambda s: quote(str(s or ""), safe=""),
    )
    env.globals["elapsed"] = _elapsed
    return env


class Console:
    """The state behind the app: the facade, the templates and the registered plugins."""

    def __init__(self, pachlet: Pachlet, plugins: Mapping[str, Any]) -> None:
        self.pachlet = pachlet
        self.registries: list[PluginRegistry] = []
        self.plugin_errors: dict[str, str] = {}
        self.env = make_environment([])
        self.registries, self.plugin_errors = register_all(self, plugins)
        loaders: list[jinja2.BaseLoader] = []
        for reg in self.registries:
            if reg.templates:
                loaders.append(jinja2.DictLoader({f"{reg.name}/{k}": v for k, v in reg.templates.items()}))
            for d in reg.template_dirs:
                loaders.append(jinja2.PrefixLoader({reg.name: jinja2.FileSystemLoader(str(d))}))
        self.env = make_environment(loaders)
        self.nav = NAV + [(page.nav, page.path) for reg in self.registries for page in reg.pages if page.nav]
        self.repo_links: dict[str, list[tuple[str, str]]] = {}
        for reg in self.registries:
            for repo, links in reg.repo_links.items():
                self.repo_links.setdefault(repo, []).extend(links)

    def render(
        self, request: Request, template: str, context: dict[str, Any], status_code: int = 200
    ) -> HTMLResponse:
        """Render a template (autoescaped) with the console's common context."""
        ctx = {
            "request": request,
            "nav": self.nav,
            "path": request.url.path,
            "plugin_errors": self.plugin_errors,
            "repo_links": self.repo_links,
            "root": str(self.pachlet.root),
            **context,
        }
        return HTMLResponse(self.env.get_template(template).render(ctx), status_code=status_code)


def _is_ref(value: str) -> bool:
    """A branch name or commit ID, with optional ancestry suffixes (``master^``, ``master~2``)."""
    m = ANCESTRY_RE.match(value)
    return m is not None and BRANCH_RE.match(m.group("base")) is not None


class QualifiedNameConvertor(Convertor[str]):
    """A repo or pipeline name in a URL: ``name``, or ``project/name`` outside the default project
    (``pachlet.projects``), so the console's links are the names it shows."""

    regex = r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)?"

    def convert(self, value: str) -> str:
        """The name as the facade takes it."""
        return value

    def to_string(self, value: str) -> str:
        """The name as a URL path part."""
        return value


register_url_convertor("qname", QualifiedNameConvertor())


def is_object_name(value: str) -> bool:
    """A valid repo or pipeline name, bare or ``project/name``."""
    project, name = split(value or "")
    return bool(NAME_RE.match(name)) and project_name_error(project) is None


def _check(value: str, valid: Callable[[str], object], what: str) -> str:
    if not valid(value or ""):
        raise NotFoundError(f"{what} {value!r} not found")
    return value


def _page(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        return 1


def _routes(console: Console) -> list[Route | Mount]:
    render = console.render
    p = console.pachlet

    def home(request: Request) -> Response:
        return render(request, "dag.html", views.dag_page(p))

    def repos(request: Request) -> Response:
        return render(request, "repos.html", views.repos_page(p))

    def repo(request: Request) -> Response:
        name = _check(request.path_params["repo"], is_object_name, "repo")
        return render(request, "repo.html", views.repo_page(p, name, _page(request)))

    def commit(request: Request) -> Response:
        name = _check(request.path_params["repo"], is_object_name, "repo")
        ref = _check(request.path_params["ref"], _is_ref, "commit")
        return render(request, "commit.html", views.commit_page(p, name, ref))

    def files(request: Request) -> Response:
        name = _check(request.path_params["repo"], is_object_name, "repo")
        ref = _check(request.path_params["ref"], _is_ref, "commit")
        path = safe_repo_path(request.path_params.get("path", ""))
        return render(request, "files.html", views.files_page(p, name, ref, path))

    def raw(request: Request) -> Response:
        name = _check(request.path_params["repo"], is_object_name, "repo")
        ref = _check(request.path_params["ref"], _is_ref, "commit")
        path = safe_repo_path(request.path_params.get("path", ""))
        obj = p.file_object_path(name, ref, path)
        mime = content_type(path)
        filename = path.rsplit("/", 1)[-1] or "file"
        disposition = "inline" if mime.startswith("image/") else "attachment"
        return FileResponse(
            obj,
            media_type=mime,
            headers={"Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename, safe='')}"},
        )

    def changes(request: Request) -> Response:
        return render(request, "changes.html", {"changes": views.global_ids(p, limit=200)})

    def global_id(request: Request) -> Response:
        gid = _check(request.path_params["gid"], COMMIT_ID_RE.match, "global ID")
        return render(request, "global_id.html", views.global_id_page(p, gid))

    def pipelines(request: Request) -> Response:
        return render(request, "pipelines.html", views.pipelines_page(p))

    def pipeline(request: Request) -> Response:
        name = _check(request.path_params["name"], is_object_name, "pipeline")
        return render(request, "pipeline.html", views.pipeline_page(p, name, _page(request)))

    def jobs(request: Request) -> Response:
        return render(request, "jobs.html", views.jobs_page(p))

    def job(request: Request) -> Response:
        name = _check(request.path_params["name"], is_object_name, "pipeline")
        jid = _check(request.path_params["job"], COMMIT_ID_RE.match, "job")
        state = request.query_params.get("state") or None
        return render(request, "job.html", views.job_page(p, name, jid, state))

    def datum(request: Request) -> Response:
        name = _check(request.path_params["name"], is_object_name, "pipeline")
        jid = _check(request.path_params["job"], COMMIT_ID_RE.match, "job")
        did = _check(request.path_params["datum"], DATUM_RE.match, "datum")
        return render(request, "datum.html", views.datum_page(p, name, jid, did))

    def datum_log(request: Request) -> Response:
        name = _check(request.path_params["name"], is_object_name, "pipeline")
        jid = _check(request.path_params["job"], COMMIT_ID_RE.match, "job")
        did = _check(request.path_params["datum"], DATUM_RE.match, "datum")
        p.inspect_datum(name, jid, did)
        text = "".join(line.message + "\n" for line in p.logs(name, jid, did))
        return PlainTextResponse(text)

    get = ["GET"]
    commit_base = "/repos/{repo:qname}/commits/{ref}"
    job_base = "/pipelines/{name:qname}/jobs/{job}"
    routes: list[Route | Mount] = [
        Route("/", home, methods=get, name="dag"),
        Route("/repos", repos, methods=get),
        Route("/repos/{repo:qname}", repo, methods=get),
        Route(commit_base, commit, methods=get),
        Route(commit_base + "/files", files, methods=get),
        Route(commit_base + "/files/{path:path}", files, methods=get),
        Route(commit_base + "/raw/{path:path}", raw, methods=get),
        Route("/commits", changes, methods=get),
        Route("/commits/{gid}", global_id, methods=get),
        Route("/pipelines", pipelines, methods=get),
        Route("/pipelines/{name:qname}", pipeline, methods=get),
        Route("/jobs", jobs, methods=get),
        Route(job_base, job, methods=get),
        Route(job_base + "/datums/{datum}", datum, methods=get),
        Route(job_base + "/datums/{datum}/log", datum_log, methods=get),
    ]
    for reg in console.registries:
        for page in reg.pages:
            routes.append(Route(page.path, page.endpoint, methods=get))
    routes.append(Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"))
    return routes


def _error_handlers(console: Console) -> dict[Any, Callable[..., Any]]:
    def page(request: Request, status: int, title: str, message: str) -> Response:
        try:
            return console.render(
                request, "error.html", {"status": status, "title": title, "message": message}, status
            )
        except Exception:  # the error page itself must never fail
            return PlainTextResponse(f"{status} {title}: {message}", status_code=status)

    def not_found(request: Request, exc: Exception) -> Response:
        return page(request, 404, "Not found", str(exc))

    def bad_request(request: Request, exc: Exception) -> Response:
        return page(request, 400, "Bad request", str(exc))

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return PlainTextResponse(
                "405 Method Not Allowed", status_code=405, headers={"Allow": "GET, HEAD"}
            )
        return page(request, exc.status_code, "Error", str(exc.detail))

    def server_error(request: Request, exc: Exception) -> Response:
        log.exception("console: %s %s failed", request.method, request.url.path, exc_info=exc)
        return page(request, 500, "Internal error", f"{type(exc).__name__} (see the server log)")

    return {
        NotFoundError: not_found,
        UnsafePathError: bad_request,
        PachletError: bad_request,
        HTTPException: http_error,
        Exception: server_error,
    }


def create_app(
    source: Pachlet | str | os.PathLike[str] | None = None,
    *,
    plugins: Mapping[str, Any] | None = None,
    load_entry_points: bool = True,
    address: str | None = None,
    hosts: Iterable[str] = (),
) -> Starlette:
    """The console app over a ``Pachlet`` (shared, e.g. ``pachlet serve``'s own) or a root path (opened
    read-only, without the lock, and closed on shutdown). ``plugins`` maps names to plugin modules
    (or module names), added to those of the ``pachlet.console_plugins`` entry points unless
    ``load_entry_points`` is False. Requests are served only when their ``Host`` names loopback, the
    bound ``address`` or one of ``hosts`` (pachlet.console.hostcheck)."""
    owned = not isinstance(source, Pachlet)
    pachlet = Pachlet(source, read_only=True) if owned else source
    assert isinstance(pachlet, Pachlet)
    console = Console(pachlet, discover(plugins, use_entry_points=load_entry_points))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if owned:
            pachlet.close()

    app = Starlette(
        routes=_routes(console),
        middleware=[
            Middleware(ReadOnlyMiddleware),
            Middleware(HostCheckMiddleware, hosts=allowed_hosts(address, hosts)),
        ],
        exception_handlers=_error_handlers(console),
        lifespan=lifespan,
    )
    app.state.console = console
    return app
