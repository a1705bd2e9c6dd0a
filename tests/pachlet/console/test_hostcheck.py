"""The console refuses requests whose ``Host`` is not its own address (DNS rebinding: a page on
evil.example whose name resolves to 127.0.0.1 would otherwise read every repo, file, spec and log)."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pachlet.api import Pachlet
from pachlet.console import create_app
from pachlet.console.hostcheck import allowed_hosts, host_name


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostcheck") / "root"
    with Pachlet(path) as p:
        p.create_repo("secretive")
        p.put_file("secretive", "master", "/plan.txt", b"the quarterly plan")
    return path


def _get(app: object, host: str, *paths: str) -> list[tuple[int, str]]:
    """GET each path with ``Host: host`` (one client: the app closes its root when the client ends)."""
    with TestClient(app, base_url="http://localhost") as c:  # type: ignore[arg-type]
        return [((r := c.get(p, headers={"host": host})).status_code, r.text) for p in paths or ("/repos",)]


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:4000", "127.0.0.1:4000", "[::1]:4000", "LOCALHOST."]
)
def test_loopback_names_are_served(root: Path, host: str) -> None:
    [(status, text)] = _get(create_app(root, load_entry_points=False), host)
    assert status == 200 and "secretive" in text


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:4000", "localhost.evil.example", "127.0.0.1.nip.io:4000", ""]
)
def test_a_foreign_host_is_refused_and_learns_nothing(root: Path, host: str) -> None:
    app = create_app(root, load_entry_points=False)
    for status, text in _get(app, host, "/repos", "/repos/secretive/commits/master/files/plan.txt"):
        assert status == 421, (host, status)
        assert "secretive" not in text and "quarterly" not in text


def test_added_names_and_the_bound_address_are_served(root: Path) -> None:
    for host, want in (("pachlet.lan:4000", 200), ("10.1.2.3:4000", 200), ("evil.example", 421)):
        app = create_app(root, load_entry_points=False, address="10.1.2.3", hosts=["pachlet.lan"])
        assert _get(app, host)[0][0] == want, host


def test_a_wildcard_bind_adds_no_name() -> None:
    assert allowed_hosts("0.0.0.0") == allowed_hosts() == {"localhost", "127.0.0.1", "::1"}
    assert "fe80::1" in allowed_hosts("fe80::1")
    assert host_name("[::1]:80") == "::1" and host_name("Example.COM.:8080") == "example.com"


def test_pachlet_serve_console_refuses_a_foreign_host(tmp_path: Path) -> None:
    from pachlet.server.serve import Server

    s = Server(tmp_path / "srv", port=0, console_port=0, cron=False, console_hosts=["pachlet.lan"])
    s.start()
    try:
        assert s.console_port is not None
        for host, want in (("evil.example:%d", 421), ("127.0.0.1:%d", 200), ("pachlet.lan:%d", 200)):
            conn = http.client.HTTPConnection("127.0.0.1", s.console_port, timeout=10)
            conn.request("GET", "/repos", headers={"Host": host % s.console_port})
            resp = conn.getresponse()
            resp.read()
            conn.close()
            assert resp.status == want, host
    finally:
        s.stop()
