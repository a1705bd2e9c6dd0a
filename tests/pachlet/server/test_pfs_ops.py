"""python-pachyderm 7.6 against `pachlet serve`: branch provenance on plain repos, squash / drop commit,
diff / copy file, put file from a URL, subscribe commit, delete of a missing repo, garbage collection
and the error texts clients parse. Tests replay python-pachyderm v7.6.0 ``tests/test_pfs.py`` (named in
each docstring) and pachd v2.7.6 ``src/server/pfs/server/testing/server_test.go`` subtests."""

from __future__ import annotations

import http.server
import threading
import uuid
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import grpc
import pytest
import python_pachyderm
from python_pachyderm.proto.v2.pfs import pfs_pb2

from helpers.served import Served


def _repo(client: python_pachyderm.Client, name: str) -> str:
    repo = f"{name}-{uuid.uuid4().hex[:6]}"
    client.create_repo(repo)
    return repo


def _prov(repo: str) -> list[pfs_pb2.Branch]:
    return [pfs_pb2.Branch(repo=pfs_pb2.Repo(name=repo, type="user"), name="master")]


def _linked(client: python_pachyderm.Client, name: str) -> tuple[str, str]:
    """repo1 and repo2 with repo2@master provenant on repo1@master (its open head finished)."""
    repo1, repo2 = _repo(client, name), _repo(client, name + "2")
    client.create_branch(repo2, "master", provenance=_prov(repo1))
    client.finish_commit((repo2, "master"))
    return repo1, repo2


def test_wait_commit_across_provenance(client: python_pachyderm.Client) -> None:
    """test_pfs.py::test_wait_commit: a commit on repo1 propagates to repo2 in the same global ID."""
    repo1, repo2 = _linked(client, "wait")
    with client.commit(repo1, "master") as c:
        client.put_file_bytes(c, "input.json", b"hello world")
    client.finish_commit((repo2, "master"))
    commits = client.wait_commit(c.id)
    assert [ci.commit.repo.name for ci in commits] == [repo1, repo2]
    assert commits[1].finished.seconds > 0
    assert commits[1].direct_provenance[0].id == c.id
    with client.commit(repo1, "master") as c2:
        client.put_file_bytes(c2, "input.json", b"bye world")
    client.finish_commit((repo2, "master"))
    assert len(client.wait_commit(c2)) == 1
    assert len(list(client.list_file(c2, "/"))) == 1


def test_inspect_commit_across_provenance(client: python_pachyderm.Client) -> None:
    """test_pfs.py::test_inspect_commit."""
    repo1, repo2 = _linked(client, "inspect")
    with client.commit(repo1, "master") as c:
        client.put_file_bytes(c, "input.json", b"hello world")
    client.finish_commit((repo2, "master"))
    commits = list(client.inspect_commit(c, pfs_pb2.CommitState.FINISHED))
    assert len(commits) == 1 and commits[0].commit.branch.repo.name == repo1
    assert len(list(client.inspect_commit(c.id, pfs_pb2.CommitState.FINISHED))) == 2


def test_create_branch_provenance_gives_heads(client: python_pachyderm.Client) -> None:
    """pachd createBranch/fillNewBranches: the new provenance branch gets a finished empty commit, the
    branch an open AUTO head provenant on it, both in one global ID; nobody starts commits there."""
    repo1, repo2 = _repo(client, "heads"), _repo(client, "heads2")
    client.create_branch(repo2, "master", provenance=_prov(repo1))
    up = client.inspect_branch(repo1, "master").head
    down = list(client.inspect_commit((repo2, "master")))[0]
    assert down.commit.id == up.id and down.origin.kind == pfs_pb2.AUTO
    assert not down.HasField("finished") and down.direct_provenance[0].id == up.id
    with pytest.raises(grpc.RpcError, match="cannot start a commit on an output branch"):
        client.start_commit(repo2, "master")
    with pytest.raises(grpc.RpcError, match="cannot be in the provenance of its own branch"):
        client.create_branch(repo1, "dev", provenance=_prov(repo1))
    with pytest.raises(grpc.RpcError, match="cannot be both in"):
        client.create_branch(repo1, "master", provenance=_prov(repo2))


def test_squash_commit(client: python_pachyderm.Client) -> None:
    """test_pfs.py::test_squash_commit: the squashed set's commits go, their children stay."""
    repo1, repo2 = _linked(client, "squash")
    with client.commit(repo1, "master") as commit1:
        client.put_file_bytes(commit1, "a", b"1")
    client.finish_commit((repo2, "master"))
    with client.commit(repo1, "master") as commit2:
        client.put_file_bytes(commit2, "b", b"2")
    client.finish_commit((repo2, "master"))
    client.wait_commit(commit2.id)
    assert len(list(client.list_commit(repo1))) == 2
    client.squash_commit(commit1.id)
    assert len(list(client.list_commit(repo1))) == 1
    assert len(list(client.list_commit(repo2))) == 0
    assert len(list(client.list_commit(repo2, origin_kind=pfs_pb2.OriginKind.AUTO))) == 2
    assert sorted(f.file.path for f in client.list_file((repo1, "master"), "/")) == ["/a", "/b"]
    with pytest.raises(grpc.RpcError, match="cannot squash a commit that has no children") as info:
        client.squash_commit(commit2.id)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_drop_commit(client: python_pachyderm.Client) -> None:
    """test_pfs.py::test_drop_commit, and pachd's refusal to drop a commit with children."""
    repo1, repo2 = _linked(client, "drop")
    with client.commit(repo1, "master") as commit1:
        pass
    client.finish_commit((repo2, "master"))
    with client.commit(repo1, "master") as commit2:
        pass
    client.finish_commit((repo2, "master"))
    client.wait_commit(commit2.id)
    with pytest.raises(grpc.RpcError, match="cannot drop a commit that has children"):
        client.drop_commit(commit1.id)
    client.drop_commit(commit2.id)
    assert len(list(client.list_commit(repo1))) == 1
    assert len(list(client.list_commit(repo2, origin_kind=pfs_pb2.OriginKind.AUTO))) == 2
    assert client.inspect_branch(repo2, "master").head.id == commit1.id


def test_drop_only_commit_leaves_an_empty_head(client: python_pachyderm.Client) -> None:
    """server_test.go DropCommitSetFinished: the branch stays, with a new empty head."""
    repo = _repo(client, "droponly")
    with client.commit(repo, "master") as c:
        client.put_file_bytes(c, "foo", b"foo\n")
    client.drop_commit(c.id)
    branches = list(client.list_branch(repo))
    assert len(branches) == 1 and branches[0].head.id != c.id
    commits = list(client.list_commit(repo, all=True))
    assert [ci.commit.id for ci in commits] == [branches[0].head.id]
    assert client.inspect_repo(repo).details.size_bytes == 0


def test_subscribe_commit_keeps_streaming(client: python_pachyderm.Client) -> None:
    """test_pfs.py::test_subscribe_commit, then two more commits arrive on the same stream."""
    repo = _repo(client, "subscribe")
    commits = client.subscribe_commit(repo, "master")
    ids = []
    for _ in range(3):
        with client.commit(repo, "master") as c:
            pass
        ids.append(c.id)
    got = [next(commits) for _ in range(3)]
    assert [ci.commit.id for ci in got] == ids
    assert got[0].commit.branch.repo.name == repo and got[0].commit.branch.name == "master"
    commits.cancel()
    rest = client.subscribe_commit(repo, "master", from_commit=ids[0], state=pfs_pb2.CommitState.FINISHED)
    assert [next(rest).commit.id for _ in range(2)] == ids[1:]  # pachd leaves out the `from` commit only
    rest.cancel()


def test_copy_file(client: python_pachyderm.Client) -> None:
    """test_pfs.py::test_copy_file."""
    repo = _repo(client, "copy")
    with client.commit(repo, "master") as src:
        client.put_file_bytes(src, "file1.dat", BytesIO(b"DATA1"))
        client.put_file_bytes(src, "file2.dat", BytesIO(b"DATA2"))
    with client.commit(repo, "master") as dest:
        client.copy_file(src, "file1.dat", dest, "copy.dat")
    assert [f.file.path for f in client.list_file(dest, "")] == ["/copy.dat", "/file1.dat", "/file2.dat"]
    assert client.get_file(dest, "copy.dat").read() == b"DATA1"


def test_diff_file(client: python_pachyderm.Client) -> None:
    """test_pfs.py::test_diff_file, and the default old side (the parent commit)."""
    repo = _repo(client, "diff")
    with client.commit(repo, "master") as old:
        client.put_file_bytes(old, "file1.dat", BytesIO(b"old data 1"))
        client.put_file_bytes(old, "file2.dat", BytesIO(b"old data 2"))
    with client.commit(repo, "master") as new:
        client.put_file_bytes(new, "file1.dat", BytesIO(b"new data 1"))
    diff = list(client.diff_file(new, "file1.dat", old, "file2.dat"))
    assert diff[0].new_file.file.path == "/file1.dat" and not diff[0].HasField("old_file")
    assert diff[1].old_file.file.path == "/file2.dat" and not diff[1].HasField("new_file")
    changed = [(d.old_file.file.path, d.new_file.file.path) for d in client.diff_file(new, "/")]
    assert changed == [("/", "/"), ("/file1.dat", "/file1.dat")]


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path != "/index.html":
            self.send_error(404)
            return
        body = b"<html>wheel</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_url() -> Iterator[str]:
    """A loopback HTTP server on a free port serving /index.html."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_put_file_url(client: python_pachyderm.Client, http_url: str, tmp_path: Path) -> None:
    """test_pfs.py::test_put_file_url (loopback http), file:// (recursive) and pachd's 404 text."""
    repo = _repo(client, "url")
    with client.commit(repo, "master") as c:
        client.put_file_url(c, "index.html", f"{http_url}/index.html")
    files = list(client.list_file(c, ""))
    assert [f.file.path for f in files] == ["/index.html"]
    assert client.get_file(c, "index.html").read() == b"<html>wheel</html>"
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_bytes(b"A")
    (tmp_path / "d" / "sub" / "b.txt").write_bytes(b"B")
    with client.commit(repo, "master") as c2:
        client.put_file_url(c2, "local", (tmp_path / "d").as_uri(), recursive=True)
    walked = [f.file.path for f in client.walk_file(c2, "/local") if f.file_type == pfs_pb2.FILE]
    assert walked == ["/local/a.txt", "/local/sub/b.txt"]
    c3 = client.start_commit(repo, "master")
    with pytest.raises(grpc.RpcError, match=r'error retrieving content from ".*/missing": 404'):
        client.put_file_url(c3, "x", f"{http_url}/missing")


def test_start_commit_error_texts(client: python_pachyderm.Client) -> None:
    """test_pfs.py::test_start_commit: pachd's texts python-pachyderm's tests match."""
    repo = _repo(client, "start")
    commit = client.start_commit(repo, "master")
    with pytest.raises(grpc.RpcError, match=r"parent commit .* has not been finished"):
        client.start_commit(repo, "master")
    client.finish_commit(commit)
    client.start_commit(repo, "master")
    with pytest.raises(grpc.RpcError, match=r"repo .* not found") as info:
        client.start_commit("some-fake-repo", "master")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_path_exists(client: python_pachyderm.Client) -> None:
    """test_pfs.py::test_path_exists: a missing file is False, a missing branch/repo a ValueError."""
    repo = _repo(client, "exists")
    with client.commit(repo, "master") as c:
        client.put_file_bytes(c, "dir/file1", b"I'm a file in a dir.")
        client.put_file_bytes(c, "file2", b"I'm a file.")
    assert client.path_exists(c, "/") and client.path_exists(c, "dir/") and client.path_exists(c, "dir/file1")
    assert not client.path_exists(c, "file1")
    with pytest.raises(ValueError, match=r"nonexistent commit provided"):
        client.path_exists(("fake_repo", "master"), "dir")
    with pytest.raises(ValueError, match=r"nonexistent commit provided"):
        client.path_exists((repo, "nobranch"), "dir")


def test_delete_missing_repo_then_create(client: python_pachyderm.Client) -> None:
    """test_pfs.py::test_delete_non_existent_repo and the cleanup idiom delete(force) + create."""
    before = len(list(client.list_repo()))
    client.delete_repo("BOGUS_NAME")
    assert len(list(client.list_repo())) == before
    name = f"idiom-{uuid.uuid4().hex[:6]}"
    for _ in range(2):
        client.delete_repo(name, force=True)
        client.create_repo(name)


def _objects(root: Path) -> int:
    return sum(1 for sub in (root / "objects").iterdir() if sub.name != "tmp" for _ in sub.iterdir())


def test_deleting_100_repos_reclaims_their_objects(served: Served) -> None:
    """Done-when of issue 13 item 5: fsck is clean after creating and deleting 100 repos with files, and
    the store's object count returns to what it was."""
    client = served.client()
    shared = _repo(client, "keep")
    client.put_file_bytes((shared, "master"), "/shared", b"shared content")
    before = _objects(served.root)
    names = []
    for i in range(100):
        name = f"gc-{i}-{uuid.uuid4().hex[:6]}"
        client.create_repo(name)
        with client.commit(name, "master") as c:
            client.put_file_bytes(c, "/own", f"content of {name}".encode())
            client.put_file_bytes(c, "/shared", b"shared content")  # also used by the kept repo
        names.append(name)
    assert _objects(served.root) == before + 100
    for name in names:
        client.delete_repo(name)
    assert _objects(served.root) == before
    assert list(client.fsck()) == []
    assert client.get_file((shared, "master"), "/shared").read() == b"shared content"


def test_provenance_replay(client: python_pachyderm.Client) -> None:
    """server_test.go ``Provenance``: full provenance on BranchInfo, propagation down a DAG in the upstream
    commit's global ID, and ``repo@<global ID>`` naming the commit a set read (ResolveCommitProvenance)."""
    a, b, c, d, e = (_repo(client, n) for n in "abcde")
    client.create_branch(b, "master", provenance=_prov(a))
    client.create_branch(c, "master", provenance=_prov(b) + _prov(e))
    client.create_branch(d, "master", provenance=_prov(c))
    assert len(client.inspect_branch(b, "master").provenance) == 1
    assert len(client.inspect_branch(c, "master").provenance) == 3
    assert len(client.inspect_branch(d, "master").provenance) == 4
    assert {s.repo.name for s in client.inspect_branch(a, "master").subvenance} == {b, c, d}
    a_commit = client.start_commit(a, "master")
    client.finish_commit(a_commit)
    for repo in (b, c, d):
        assert list(client.inspect_commit((repo, "master")))[0].commit.id == a_commit.id
    e_commit = client.start_commit(e, "master")
    client.finish_commit(e_commit)
    b_head = list(client.inspect_commit((b, "master")))[0].commit.id
    assert list(client.inspect_commit((b, e_commit.id)))[0].commit.id == b_head  # an alias
    for repo in (c, d):
        assert list(client.inspect_commit((repo, "master")))[0].commit.id == e_commit.id
