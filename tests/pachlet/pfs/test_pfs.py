"""pachlet core PFS through the facade: commits, files, dedup, branches, lock, fsck, mount."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pachlet.api import Pachlet
from pachlet.errors import AlreadyExistsError, LockTimeoutError, NotFoundError, PachletError


def test_put_file_makes_one_finished_commit_per_call(pach: Pachlet) -> None:
    pach.create_repo("raw", "raw data")
    c1 = pach.put_file("raw", "master", "/a.txt", b"one")
    c2 = pach.put_file("raw", "master", "dir/b.txt", b"two")
    assert len(c1.id) == 32 and c1.id != c2.id and all(ch in "0123456789abcdef" for ch in c1.id)
    assert c1.finished is not None and c2.parent == c1.id and c1.origin == "USER"
    assert pach.get_file("raw", "master", "/a.txt") == b"one"
    assert pach.get_file("raw", c1.id, "/a.txt") == b"one"
    with pytest.raises(NotFoundError):
        pach.get_file("raw", c1.id, "/dir/b.txt")
    assert [(f.path, f.file_type, f.size) for f in pach.list_files("raw", "master")] == [
        ("/a.txt", "file", 3),
        ("/dir", "dir", 3),
    ]
    assert pach.inspect_commit("raw", "master^").id == c1.id
    assert [c.id for c in pach.list_commits("raw")] == [c2.id, c1.id]
    assert pach.inspect_repo("raw").size == 6
    with pytest.raises(AlreadyExistsError):
        pach.create_repo("raw")
    with pytest.raises(PachletError, match="only alphanumeric"):
        pach.create_repo("bad name")


def test_open_commit_is_invisible_until_finished(pach: Pachlet) -> None:
    pach.create_repo("raw")
    base = pach.put_file("raw", "master", "/keep.txt", b"keep")
    open_c = pach.start_commit("raw", "master", description="batch")
    pach.put_file("raw", open_c.id, "/new.txt", b"new")
    pach.put_file("raw", "master", "/new2.txt", b"new2")  # goes into the open head
    pach.delete_file("raw", open_c.id, "/keep.txt")
    assert pach.inspect_commit("raw", open_c.id).finished is None
    assert pach.get_file("raw", base.id, "/keep.txt") == b"keep"
    with pytest.raises(PachletError, match="parent commit .* has not been finished"):  # pachd's text
        pach.start_commit("raw", "master")
    done = pach.finish_commit("raw", "master")
    assert done.id == open_c.id and done.finished is not None and done.description == "batch"
    assert [f.path for f in pach.walk_files("raw", "master")] == ["/new.txt", "/new2.txt"]


def test_content_is_deduplicated_across_commits(pach: Pachlet, tmp_path: Path) -> None:
    pach.create_repo("a")
    pach.create_repo("b")
    payload = os.urandom(4096)
    pach.put_file("a", "master", "/x.bin", payload)
    pach.put_file("a", "master", "/copy.bin", payload)
    pach.put_file("b", "master", "/y.bin", payload)
    store = tmp_path / "root" / "objects"
    objects = [p for p in store.rglob("*") if p.is_file() and p.parent.name != "tmp"]
    big = [p for p in objects if p.stat().st_size == 4096]
    assert len(big) == 1
    assert pach.inspect_file("a", "master", "/x.bin").hash == pach.inspect_file("b", "master", "/y.bin").hash


def test_put_files_directory_and_glob(pach: Pachlet, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.csv").write_text("a")
    (src / "sub" / "b.csv").write_text("bb")
    pach.create_repo("raw")
    pach.put_files("raw", "master", "/data", src)
    assert [f.path for f in pach.walk_files("raw")] == ["/data/a.csv", "/data/sub/b.csv"]
    assert [f.path for f in pach.glob_files("raw", "master", "/data/*")] == ["/data/a.csv", "/data/sub"]
    assert pach.inspect_file("raw", "master", "/data").size == 3


def test_file_directory_collision_is_refused(pach: Pachlet) -> None:
    pach.create_repo("raw")
    pach.put_file("raw", "master", "/a", b"x")
    with pytest.raises(PachletError, match="path collision"):
        pach.put_file("raw", "master", "/a/b", b"y")
    assert pach.inspect_commit("raw", "master").finished is not None  # the failed commit was dropped
    assert [f.path for f in pach.walk_files("raw")] == ["/a"]


def test_second_writer_waits_then_names_the_holder(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with Pachlet.open(root), pytest.raises(LockTimeoutError, match=rf"pid {os.getpid()}"):
        Pachlet(root, timeout=0.3)
    # read-only access works alongside a writer
    with Pachlet.open(root) as w:
        w.create_repo("r")
        with Pachlet.open(root, read_only=True) as r:
            assert [x.name for x in r.list_repos()] == ["r"]
            with pytest.raises(PachletError, match="read-only"):
                r.create_repo("s")


def test_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    script = textwrap.dedent(
        f"""
        import time
        from pachlet.api import Pachlet
        p = Pachlet({str(root)!r})
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(LockTimeoutError, match=f"pid {proc.pid}"):
            Pachlet(root, timeout=0.2)
    finally:
        proc.kill()
        proc.wait()
    with Pachlet.open(root, timeout=5) as p:
        assert p.fsck().clean


def test_mount_materializes_read_only_files(pach: Pachlet, tmp_path: Path) -> None:
    pach.create_repo("raw")
    pach.create_repo("empty")
    c1 = pach.put_file("raw", "master", "/d/a.txt", b"v1")
    pach.put_file("raw", "master", "/d/a.txt", b"v2")
    target = tmp_path / "mnt"
    dirs = pach.mount(target)
    assert sorted(d.name for d in dirs) == ["empty", "raw"]
    assert (target / "raw" / "d" / "a.txt").read_bytes() == b"v2"
    assert not os.access(target / "raw" / "d" / "a.txt", os.W_OK) or os.geteuid() == 0
    pach.mount(target, [f"raw@{c1.id}"])
    assert (target / "raw" / "d" / "a.txt").read_bytes() == b"v1"
    (tmp_path / "mnt2" / "raw").mkdir(parents=True)
    with pytest.raises(PachletError, match="not made by pachlet mount"):
        pach.mount(tmp_path / "mnt2", ["raw"])


def test_fsck_finds_and_removes_orphans_and_dead_commits(pach: Pachlet, tmp_path: Path) -> None:
    pach.create_repo("raw")
    pach.put_file("raw", "master", "/a", b"a")
    assert pach.fsck().clean
    orphan_digest, _ = pach._store.put_bytes(b"nobody refers to me")
    (pach._store.tmp / "999-dead").write_bytes(b"partial")
    # an open put-file commit of a process that died
    with pach._store.tx() as c:
        c.execute(
            "INSERT INTO commits(repo, id, branch, origin, parent, started, transient, owner_pid)"
            " VALUES('raw', ?, 'master', 'USER', NULL, 0, 1, 999999)",
            ("f" * 32,),
        )
    report = pach.fsck()
    assert not report.clean
    text = "\n".join(report.problems)
    assert "orphan object" in text and "temporary file" in text and "dead process 999999" in text
    fixed = pach.fsck(fix=True)
    assert fixed.clean and len(fixed.fixed) == 3
    assert pach.fsck().clean
    assert not pach._store.has_object(orphan_digest)
    assert pach.get_file("raw", "master", "/a") == b"a"


def test_paths_are_cleaned_like_pachd_and_writes_refuse_dotdot(pach: Pachlet) -> None:
    from pachlet.errors import PachletError
    from pachlet.pfs.paths import clean_path

    assert [clean_path(p) for p in ("", "/", "abc/", "a//b", "a/./b", "a/../b")] == [
        "/",
        "/",
        "/abc",
        "/a/b",
        "/a/b",
        "/b",
    ]
    pach.create_repo("raw")
    with pytest.raises(PachletError, match=r"'\.\.' is not allowed"):
        pach.put_file("raw", "master", "a/../b", b"x")
    pach.put_file("raw", "master", "dir/./b", b"x")
    assert pach.get_file("raw", "master", "/dir/x/../b") == b"x"


def test_abandon_commit_drops_an_open_commit(pach: Pachlet) -> None:
    pach.create_repo("raw")
    pach.put_file("raw", "master", "/a", b"a")
    head = pach.inspect_commit("raw", "master").id
    opened = pach.start_commit("raw", "master")
    pach.put_file("raw", opened.id, "/b", b"b")
    pach.abandon_commit("raw", opened.id)
    assert pach.inspect_commit("raw", "master").id == head
    assert [f.path for f in pach.walk_files("raw", "master")] == ["/a"]
