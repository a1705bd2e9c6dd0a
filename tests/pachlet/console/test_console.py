"""The pachlet console without a browser: every page through Starlette's test client over a small root,
escaping of user-controlled text, refusal of path traversal and of every method but GET, plugins, the
DAG layout, and `pachlet serve`'s console flags."""

from __future__ import annotations

import http.client
import json
import re
import socket
import sys
import types
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from pachlet.api import Pachlet
from pachlet.console.app import create_app
from pachlet.console.dag import build_graph, layout
from pachlet.console.preview import UnsafePathError, safe_repo_path
from pachlet.records import PipelineInfo, RepoInfo

XSS = "<script>alert(1)</script>"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6300010000050001a5f645400000000049454e44ae426082"
)


def copy_spec(name: str = "copy", repo: str = "raw") -> dict[str, Any]:
    """A pipeline that copies its input and logs user-controlled text."""
    return {
        "pipeline": {"name": name},
        "description": f"copies raw {XSS}",
        "input": {"pfs": {"repo": repo, "glob": "/*"}},
        "transform": {
            "cmd": ["sh", "-c", f"cp -r /pfs/{repo}/. /pfs/out/; echo 'log line {XSS}'"],
            "env": {"NOTE": XSS},
        },
    }


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with a user repo full of awkward names, a pipeline over it, and its job."""
    path = tmp_path_factory.mktemp("console") / "root"
    with Pachlet(path, timeout=5) as p:
        p.create_repo("raw", f"raw data {XSS}")
        p.start_commit("raw", "master")
        p.put_file("raw", "master", "/<script>", XSS.encode())
        p.put_file("raw", "master", "/data.csv", f"MSNO,NOTE\nu1,{XSS}\nu2,plain\n".encode())
        p.put_file("raw", "master", "/doc.json", json.dumps({"k": XSS, "n": [1, 2]}).encode())
        p.put_file("raw", "master", "/dir/nested file.txt", b"nested text\n")
        p.put_file("raw", "master", "/blob.bin", bytes(range(256)))
        p.put_file("raw", "master", "/page.html", f"<html>{XSS}</html>".encode())
        p.put_file("raw", "master", "/plot.png", PNG)
        p.finish_commit("raw", "master")
        p.create_pipeline(copy_spec())
        p.run_until_idle()
    return path


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[TestClient]:
    """A test client over the root, opened read-only, with no plugins."""
    app = create_app(root, load_entry_points=False)
    with TestClient(app, base_url="http://localhost", raise_server_exceptions=True) as c:
        yield c


@pytest.fixture(scope="module")
def ids(root: Path) -> dict[str, str]:
    """IDs the tests link to."""
    p = Pachlet(root, read_only=True)
    try:
        raw = p.inspect_commit("raw", "master")
        job = p.list_jobs("copy")[0]
        datum = p.list_datums("copy", job.id)[0]
        return {"raw": raw.id, "job": job.id, "datum": datum.datum_id}
    finally:
        p.close()


def test_every_page_renders(client: TestClient, ids: dict[str, str]) -> None:
    job, datum, raw = ids["job"], ids["datum"], ids["raw"]
    pages = [
        "/",
        "/repos",
        "/repos/raw",
        "/repos/copy",
        f"/repos/raw/commits/{raw}",
        "/repos/raw/commits/master",
        "/repos/raw/commits/master/files/",
        "/repos/raw/commits/master/files/dir",
        "/repos/raw/commits/master/files/dir/nested%20file.txt",
        "/repos/raw/commits/master/files/data.csv",
        "/repos/raw/commits/master/files/doc.json",
        "/repos/raw/commits/master/files/blob.bin",
        "/repos/raw/commits/master/files/plot.png",
        "/commits",
        f"/commits/{raw}",
        f"/commits/{job}",
        "/pipelines",
        "/pipelines/copy",
        "/jobs",
        f"/pipelines/copy/jobs/{job}",
        f"/pipelines/copy/jobs/{job}?state=SUCCESS",
        f"/pipelines/copy/jobs/{job}/datums/{datum}",
    ]
    for url in pages:
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:500])
        assert r.headers["content-type"].startswith("text/html")
        assert "content-security-policy" in r.headers and r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/console.css").status_code == 200


def test_dag_shows_nodes_edges_and_last_job_state(client: TestClient, ids: dict[str, str]) -> None:
    html = client.get("/").text
    assert re.search(r'<a href="/pipelines/copy" class="node pipeline success"', html)
    assert 'data-node="raw"' in html and 'data-node="copy"' in html
    assert html.count('class="edge"') == 2  # raw -> copy -> copy (output repo)
    assert f'href="/pipelines/copy/jobs/{ids["job"]}"' in html


def test_repo_commit_and_global_id_views_link_each_other(client: TestClient, ids: dict[str, str]) -> None:
    raw, job = ids["raw"], ids["job"]
    repo = client.get("/repos/raw").text
    assert f'href="/repos/raw/commits/{raw}"' in repo and f'href="/commits/{raw}"' in repo
    assert 'href="/repos/raw/commits/' + raw + '/raw/data.csv"' in repo  # download link
    # the raw commit's subvenance holds the copy commit computed from it, and back
    down = client.get(f"/repos/raw/commits/{raw}").text
    sub = down.split("Subvenance", 1)[1]
    assert f'href="/repos/copy/commits/{job}"' in sub
    up = client.get(f"/repos/copy/commits/{job}").text
    prov = up.split("Provenance", 1)[1].split("Subvenance", 1)[0]
    assert f'href="/repos/raw/commits/{raw}"' in prov
    assert f'href="/pipelines/copy/jobs/{job}"' in up  # produced by
    gid = client.get(f"/commits/{job}").text
    assert f'href="/repos/copy/commits/{job}"' in gid and f'href="/pipelines/copy/jobs/{job}"' in gid


def test_job_datums_filter_and_logs(client: TestClient, ids: dict[str, str]) -> None:
    job, datum = ids["job"], ids["datum"]
    html = client.get(f"/pipelines/copy/jobs/{job}").text
    assert html.count('<tr data-state="SUCCESS">') == 7
    assert f'href="/pipelines/copy/jobs/{job}/datums/{datum}"' in html
    failed = client.get(f"/pipelines/copy/jobs/{job}?state=FAILED").text
    assert '<tr data-state="' not in failed and "no datums in state FAILED" in failed
    page = client.get(f"/pipelines/copy/jobs/{job}/datums/{datum}").text
    assert "log line &lt;script&gt;alert(1)&lt;/script&gt;" in page
    text = client.get(f"/pipelines/copy/jobs/{job}/datums/{datum}/log")
    assert text.headers["content-type"].startswith("text/plain") and "log line" in text.text


def test_pipeline_view_renders_spec_and_history(client: TestClient, ids: dict[str, str]) -> None:
    html = client.get("/pipelines/copy").text
    assert f'href="/pipelines/copy/jobs/{ids["job"]}"' in html
    assert "&#34;NOTE&#34;: &#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;" in html  # spec, escaped
    assert 'href="/repos/raw"' in html


def test_user_controlled_text_is_escaped_everywhere(client: TestClient, ids: dict[str, str]) -> None:
    urls = [
        "/",
        "/repos",
        "/repos/raw",
        f"/repos/raw/commits/{ids['raw']}",
        "/repos/raw/commits/master/files/%3Cscript%3E",
        "/repos/raw/commits/master/files/data.csv",
        "/repos/raw/commits/master/files/doc.json",
        "/repos/raw/commits/master/files/page.html",
        "/pipelines",
        "/pipelines/copy",
        f"/pipelines/copy/jobs/{ids['job']}/datums/{ids['datum']}",
    ]
    for url in urls:
        html = client.get(url).text
        assert "<script" not in html, url  # the console itself ships no script at all
    listing = client.get("/repos/raw").text
    assert "&lt;script&gt;" in listing  # the file named <script> shows as text
    assert 'href="/repos/raw/commits/' + ids["raw"] + '/files/%3Cscript%3E"' in listing
    f = client.get("/repos/raw/commits/master/files/%3Cscript%3E").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in f
    csv_page = client.get("/repos/raw/commits/master/files/data.csv").text
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in csv_page


def test_raw_downloads_are_attachments_never_html(client: TestClient) -> None:
    r = client.get("/repos/raw/commits/master/raw/page.html")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.content == f"<html>{XSS}</html>".encode()
    png = client.get("/repos/raw/commits/master/raw/plot.png")
    assert png.headers["content-type"] == "image/png" and png.content == PNG
    weird = client.get("/repos/raw/commits/master/raw/%3Cscript%3E")
    assert weird.status_code == 200 and weird.content == XSS.encode()
    assert "filename*=UTF-8''%3Cscript%3E" in weird.headers["content-disposition"]


@pytest.mark.parametrize(
    "url",
    [
        "/repos/raw/commits/master/files/%2e%2e/%2e%2e/etc/passwd",
        "/repos/raw/commits/master/files/dir/%2E%2E/data.csv",
        "/repos/raw/commits/master/files/..%2F..%2Fetc%2Fpasswd",
        "/repos/raw/commits/master/raw/%2e%2e/%2e%2e/pachlet.db",
        "/repos/raw/commits/master/raw/dir/..%5C..%5Cpachlet.db",
        "/repos/raw/commits/master/files/%2e/data.csv",
        "/repos/raw/commits/master/raw/a%00b",
    ],
)
def test_path_traversal_is_refused(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 400, (url, r.status_code)
    assert "pachlet.db" not in r.text or "invalid path" in r.text


def test_safe_repo_path() -> None:
    assert safe_repo_path("") == "/" and safe_repo_path("a//b/") == "/a/b"
    for bad in ("..", "a/../b", "./a", "a\\b", "a\x00", "a\nb"):
        with pytest.raises(UnsafePathError):
            safe_repo_path(bad)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("url", ["/", "/repos/raw", "/static/console.css", "/nope"])
def test_only_get(client: TestClient, method: str, url: str) -> None:
    r = client.request(method, url)
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"
    assert client.head("/repos/raw").status_code == 200


def test_unknown_things_are_404(client: TestClient) -> None:
    for url in [
        "/repos/nope",
        "/repos/raw/commits/0123456789abcdef0123456789abcdef",
        "/repos/raw/commits/master/files/missing.csv",
        "/pipelines/nope",
        "/pipelines/copy/jobs/0123456789abcdef0123456789abcdef",
        "/commits/0123456789abcdef0123456789abcdef",
        "/commits/not-an-id",
        "/nope",
    ]:
        r = client.get(url)
        assert r.status_code == 404, url
        assert "text/html" in r.headers["content-type"]


# ---------------------------------------------------------------- plugins
def _plugin_module(name: str) -> types.ModuleType:
    mod = types.ModuleType(name)

    def register(console: Any) -> None:
        console.add_templates(
            {"hello.html": '{% extends "base.html" %}{% block content %}hi {{ who }}{% endblock %}'}
        )

        def hello(request: Any) -> Any:
            return console.render(request, "hello.html", {"who": request.query_params.get("who", "")})

        console.add_page("/hello", hello, nav="Hello")
        console.add_repo_link("raw", "raw view", "/hello")

    mod.register = register  # type: ignore[attr-defined]
    return mod


def test_plugins_add_pages_nav_and_links(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = types.ModuleType("broken")
    broken.register = lambda console: 1 / 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_env_plugin", _plugin_module("fake_env_plugin"))
    monkeypatch.setenv("PACHLET_CONSOLE_PLUGINS", "envy=fake_env_plugin")
    app = create_app(
        root, plugins={"demo": _plugin_module("demo"), "broken": broken}, load_entry_points=False
    )
    with TestClient(app, base_url="http://localhost") as c:
        r = c.get(f"/demo/hello?who={XSS}")
        assert r.status_code == 200 and "hi &lt;script&gt;" in r.text
        assert c.get("/envy/hello").status_code == 200
        assert c.post("/demo/hello").status_code == 405
        home = c.get("/").text
        assert 'href="/demo/hello"' in home and ">Hello<" in home
        assert "console plugin <b>broken</b> is not loaded: ZeroDivisionError" in home
        assert 'href="/demo/hello">raw view<' in c.get("/repos/raw").text


def test_churn_plugin_model_page_and_score_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import churn.console_plugin as plugin
    import churn.lineage

    metrics = {"model": {"auc": 0.8123, "log_loss": 0.25}, "baseline": {"auc": 0.7}, "model_type": XSS}
    with Pachlet(tmp_path / "root", timeout=5) as p:
        p.create_repo("churn_model")
        p.start_commit("churn_model", "master")
        p.put_file("churn_model", "master", "/metrics.json", json.dumps(metrics).encode())
        p.put_file("churn_model", "master", "/calibration.png", PNG)
        p.put_file("churn_model", "master", "/model_card.md", f"# Model card {XSS}\n".encode())
        model = p.finish_commit("churn_model", "master")
        p.create_repo("churn_predict")
        header = "MSNO,CHURN_PROBABILITY,CHURN_PREDICTION,MODEL_COMMIT,GLOBAL_ID,SCORED_AT\n"
        row = f"m/1+=,0.75,1,{model.id},{'a' * 32},2026-01-01T00:00:00Z\n"
        p.put_file("churn_predict", "master", "/CHURN_SCORES/shard-00.csv", (header + row).encode())

    seen: dict[str, Any] = {}

    def fake_explain(p: Any, msno: str, *, url: str | None = None, row: dict[str, Any] | None = None) -> dict:
        seen.update(msno=msno, row=row)
        if msno != "m/1+=":
            raise churn.lineage.LineageError(f"no CHURN_SCORES row for MSNO {msno!r}")
        return {
            "msno": msno,
            "score": row,
            "predict_job": {"pipeline": "churn_predict", "id": "a" * 32, "state": "JOB_SUCCESS"},
            "feature_shard": {"repo": "churn_score_features", "commit": "b" * 32, "path": "/shard-00/"},
            "model": {"repo": "churn_model", "commit": model.id, "metrics": metrics},
            "ingest": [{"pipeline": "churn_train_data", "repo": "churn_train_data", "commit": "c" * 32,
                        "sql": f"SELECT 1 -- {XSS}", "tick": {"time": "2026-01-01T00:00:00Z"}}],
            "chain": [{"repo": "churn_predict", "commit": "a" * 32, "pipeline": "churn_predict",
                       "job_state": "JOB_SUCCESS"}],
        }  # fmt: skip

    monkeypatch.setattr(churn.lineage, "explain", fake_explain)
    app = create_app(tmp_path / "root", plugins={"churn": plugin}, load_entry_points=False)
    with TestClient(app, base_url="http://localhost") as c:
        page = c.get("/churn/model").text
        assert "0.8123" in page and "&lt;script&gt;" in page and "<script" not in page
        assert f'src="/repos/churn_model/commits/{model.id}/raw/calibration.png"' in page
        assert "Model card &lt;script&gt;" in page
        assert 'href="/churn/model">' in c.get("/repos/churn_model").text

        assert 'name="msno"' in c.get("/churn/scores").text
        r = c.get("/churn/scores", params={"msno": "m/1+="})
        assert r.status_code == 200
        assert seen["row"]["CHURN_PROBABILITY"] == 0.75 and seen["row"]["MODEL_COMMIT"] == model.id
        assert "SELECT 1 -- &lt;script&gt;" in r.text and "<script" not in r.text
        assert "score row read from churn_predict@" in r.text
        assert f'href="/commits/{"a" * 32}"' in r.text
        assert 'href="/repos/churn_score_features/commits/' + "b" * 32 + '/files/shard-00"' in r.text

        missing = c.get("/churn/scores", params={"msno": XSS}).text
        assert "no CHURN_SCORES row for MSNO" in missing and "<script" not in missing


# ---------------------------------------------------------------- DAG layout at scale
def _fake_pipelines(n: int) -> tuple[list[RepoInfo], list[PipelineInfo]]:
    now = datetime.now(UTC)
    repos = [RepoInfo(name="src_a", created=now), RepoInfo(name="src_b", created=now)]
    pipelines = []
    for i in range(n):
        name = f"p{i:02d}"
        ups = ["src_a"] if i == 0 else [f"p{(i - 1):02d}"]
        if i % 3 == 2:
            ups.append(f"p{(i - 2):02d}")
        if i % 5 == 4:
            ups.append("src_b")
        spec = {
            "pipeline": {"name": name},
            "input": {"cross": [{"pfs": {"repo": r, "glob": "/*"}} for r in ups]} if len(ups) > 1 else {"pfs": {"repo": ups[0], "glob": "/*"}},
        }  # fmt: skip
        pipelines.append(
            PipelineInfo(name=name, spec=spec, version=1, salt="s", state="PIPELINE_RUNNING", created=now,
                         last_job_state="JOB_SUCCESS", output_repo=name)
        )  # fmt: skip
        repos.append(RepoInfo(name=name, created=now, pipeline=name))
    return repos, pipelines


def test_dag_layout_of_20_pipelines_is_layered_and_overlap_free() -> None:
    repos, pipelines = _fake_pipelines(20)
    nodes, edges = build_graph(repos, pipelines)
    out = layout(nodes, edges)
    assert len(out.nodes) == 42 and len(out.edges) == len(edges)
    by_id = {n.id: n for n in out.nodes}
    for e in out.edges:  # every edge runs downward
        assert by_id[e.target].y > by_id[e.source].y + by_id[e.source].h - 1
        assert e.path.startswith("M")
    for a in out.nodes:  # no two boxes overlap
        for b in out.nodes:
            if a.id < b.id:
                apart_x = a.x + a.w <= b.x or b.x + b.w <= a.x
                apart_y = a.y + a.h <= b.y or b.y + b.h <= a.y
                assert apart_x or apart_y, (a, b)
    assert all(n.x >= 0 and n.x + n.w <= out.width and n.y + n.h <= out.height for n in out.nodes)


# ---------------------------------------------------------------- serve
def test_server_console_port_busy_default_goes_on_explicit_fails(tmp_path: Path) -> None:
    from pachlet.server.serve import Server

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        s = Server(tmp_path / "a", port=0, console_port=port, console_required=False, cron=False)
        s.start()
        try:
            assert s.console_url is None and s.console_error and str(port) in s.console_error
        finally:
            s.stop()
        s2 = Server(tmp_path / "b", port=0, console_port=port, console_required=True, cron=False)
        with pytest.raises(OSError, match="--console-port"):
            s2.start()
        Pachlet(tmp_path / "b", timeout=1).close()  # the failed start released the root


def test_server_serves_the_console_and_stops_it(root: Path, tmp_path: Path) -> None:
    import httpx

    from pachlet.server.serve import Server

    s = Server(tmp_path / "srv", port=0, console_port=0, cron=False)
    s.start()
    try:
        url = s.console_url
        assert url and url.startswith("http://127.0.0.1:")
        r = httpx.get(url, timeout=10)
        assert r.status_code == 200 and "DAG" in r.text
        assert httpx.post(url, timeout=10).status_code == 405
        # a client that sends `..` as is (no normalization) is refused too
        conn = http.client.HTTPConnection("127.0.0.1", s.console_port, timeout=10)
        conn.request("GET", "/repos/raw/commits/master/files/../../../etc/passwd")
        resp = conn.getresponse()
        assert resp.status == 400 and b"root:" not in resp.read()
        conn.close()
    finally:
        s.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=2)
