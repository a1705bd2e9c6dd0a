"""The console over a root with projects: objects outside the default project show and link as
``project/name``, and the lineage of a pipeline reading another project's repo shows on the DAG, the
pipeline, commit, global-ID and job pages (the HTTP views, no browser)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pachlet.api import Pachlet
from pachlet.console.app import create_app


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``raw-data/words`` (with a default-project ``words`` beside it) read by ``analysis/upper``."""
    path = tmp_path_factory.mktemp("console-projects") / "root"
    with Pachlet(path, timeout=5, runtime="host") as p:
        p.create_project("raw-data")
        p.create_project("analysis")
        p.create_repo("raw-data/words")
        p.create_repo("words", "the default project's words")
        p.put_file("raw-data/words", "master", "/a.txt", b"alpha\n")
        p.create_pipeline(
            {
                "pipeline": {"name": "upper", "project": {"name": "analysis"}},
                "input": {"pfs": {"project": "raw-data", "repo": "words", "glob": "/*"}},
                "transform": {
                    "cmd": [
                        "sh",
                        "-c",
                        "echo upper-ran; for f in /pfs/words/*; do tr a-z A-Z < $f > /pfs/out/${f##*/}; done",
                    ]
                },
            }
        )
        p.run_until_idle()
        p.put_file("raw-data/words", "master", "/b.txt", b"beta\n")  # one global ID over both projects
        jobs = p.run_until_idle()
        assert [j.state for j in jobs] == ["JOB_SUCCESS"]
    return path


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[TestClient]:
    """A test client over the root, opened read-only, with no plugins."""
    app = create_app(root, load_entry_points=False)
    with TestClient(app, base_url="http://localhost", raise_server_exceptions=True) as c:
        yield c


@pytest.fixture(scope="module")
def gid(root: Path) -> str:
    """The global ID of the latest job of analysis/upper (and of the raw-data/words commit it read)."""
    with Pachlet(root, read_only=True) as p:
        return p.list_jobs("analysis/upper")[0].id


def _get(client: TestClient, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code, resp.text[:300])
    return resp.text


def test_dag_shows_the_cross_project_edge(client: TestClient) -> None:
    page = _get(client, "/")
    assert 'data-node="raw-data/words"' in page and 'data-node="analysis/upper"' in page
    assert 'href="/repos/raw-data/words"' in page and 'href="/pipelines/analysis/upper"' in page
    assert 'data-node="words"' in page  # the default project's words is another node


def test_pipeline_page_links_the_other_projects_input(client: TestClient, gid: str) -> None:
    page = _get(client, "/pipelines/analysis/upper")
    assert '<a href="/repos/raw-data/words">raw-data/words</a>@master' in page
    assert 'href="/repos/analysis/upper"' in page
    assert f'href="/pipelines/analysis/upper/jobs/{gid}"' in page
    listing = _get(client, "/pipelines")
    assert '<a href="/pipelines/analysis/upper">analysis/upper</a>' in listing


def test_output_commit_shows_its_provenance_in_the_other_project(client: TestClient, gid: str) -> None:
    page = _get(client, f"/repos/analysis/upper/commits/{gid}")
    assert f'href="/repos/raw-data/words/commits/{gid}"' in page
    files = _get(client, "/repos/analysis/upper/commits/master/files/a.txt")
    assert "ALPHA" in files
    assert client.get("/repos/analysis/upper/commits/master/raw/a.txt").content == b"ALPHA\n"
    same_id = _get(client, f"/commits/{gid}")
    assert "raw-data/words" in same_id and "analysis/upper" in same_id


def test_repo_pages_keep_the_two_words_apart(client: TestClient) -> None:
    default = _get(client, "/repos/words")
    assert "the default project&#39;s words" in default or "the default project's words" in default
    other = _get(client, "/repos/raw-data/words")
    assert "the default project" not in other
    assert re.search(r'href="/pipelines/analysis/upper"', other)  # read by
    repos = _get(client, "/repos")
    assert 'href="/repos/raw-data/words"' in repos and 'href="/repos/analysis/upper"' in repos


def test_job_and_datum_pages_of_a_project_pipeline(client: TestClient, gid: str) -> None:
    page = _get(client, f"/pipelines/analysis/upper/jobs/{gid}")
    datum = re.search(r'href="(/pipelines/analysis/upper/jobs/[0-9a-f]+/datums/[0-9a-f]+)"', page)
    assert datum, page
    assert "upper-ran" in _get(client, datum.group(1))
    assert _get(client, datum.group(1) + "/log") == "upper-ran\n"


def test_bad_project_names_are_not_found(client: TestClient) -> None:
    assert client.get("/pipelines/nope/upper").status_code == 404
    assert client.get("/repos/raw-data/nope").status_code == 404
    assert client.get("/repos/a/b/c").status_code == 404
