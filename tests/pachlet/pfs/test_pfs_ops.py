"""PFS operations of issue 13 through the facade: branch provenance propagation, squash / drop, diff,
copy, garbage collection on delete (pachd v2.7.6 ``driver.go`` / ``commit_set.go``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pachlet.api import Pachlet
from pachlet.errors import PachletError


def _objects(pach: Pachlet) -> int:
    objects = pach.root / "objects"
    return sum(1 for sub in objects.iterdir() if sub.name != "tmp" for _ in sub.iterdir())


def test_propagation_reaches_every_plain_branch_downstream_in_one_global_id(pach: Pachlet) -> None:
    for name in ("a", "b", "c"):
        pach.create_repo(name)
    pach.create_branch("b", "master", provenance=[("a", "master")])
    pach.create_branch("c", "master", provenance=[("b", "master")])
    info = pach.put_file("a", "master", "/x", b"1")
    chain = {c.repo: c for c in pach.commit_set(info.id)}
    assert set(chain) == {"a", "b", "c"}
    assert chain["c"].provenance == (("b", "master", info.id),)
    assert chain["b"].origin == "AUTO" and chain["b"].finished is None
    pach.put_file("b", "master", "/y", b"2")  # writes into b's open AUTO head, as pachd lets it
    pach.finish_commit("b", "master")
    assert pach.get_file("b", info.id, "/y") == b"2"
    with pytest.raises(PachletError, match='multiple branches from the same repo, "a"'):
        pach.create_branch("c", "master", provenance=[("b", "master"), ("a", "dev")])


def test_squash_keeps_children_content_and_collects_garbage(pach: Pachlet) -> None:
    pach.create_repo("r")
    first = pach.put_file("r", "master", "/gone", b"only in the first commit")
    second = pach.start_commit("r")
    pach.delete_file("r", second.id, "/gone")
    pach.put_file("r", second.id, "/kept", b"kept")
    pach.finish_commit("r", second.id)
    before = _objects(pach)
    pach.squash_commit(first.id)
    assert pach.inspect_commit("r", "master").parent is None
    assert [f.path for f in pach.walk_files("r", "master")] == ["/kept"]
    assert _objects(pach) == before - 1
    assert pach.fsck().problems == []
    pach.drop_commit(second.id)
    head = pach.inspect_commit("r", "master")
    assert head.id != second.id and head.origin == "AUTO" and pach.walk_files("r", "master") == []
    assert _objects(pach) == 0 and pach.fsck().problems == []


def test_delete_repo_missing_is_no_error_and_shared_objects_stay(pach: Pachlet) -> None:
    pach.delete_repo("never")
    pach.create_repo("one")
    pach.create_repo("two")
    pach.put_file("one", "master", "/f", b"same")
    pach.put_file("two", "master", "/f", b"same")
    pach.delete_repo("one")
    assert pach.get_file("two", "master", "/f") == b"same"
    pach.delete_repo("two")
    assert _objects(pach) == 0


def test_diff_and_copy(pach: Pachlet, tmp_path: Path) -> None:
    pach.create_repo("d")
    pach.put_file("d", "master", "/dir/a", b"a")
    pach.put_file("d", "master", "/dir/b", b"b")
    pach.put_file("d", "master", "/dir/b", b"B")
    diff = [(o and o.path, n and n.path) for o, n in pach.diff_file(("d", "master", "/dir"))]
    assert diff == [("/dir/", "/dir/"), ("/dir/b", "/dir/b")]
    pach.copy_file(("d", "master", "/dir"), ("d", "master", "/copy"))
    assert [f.path for f in pach.walk_files("d", "master", "/copy")] == ["/copy/a", "/copy/b"]
    # paths are compared whole, as pachd's Differ does: two directories share no path
    sides = [
        (o and o.path, n and n.path)
        for o, n in pach.diff_file(("d", "master", "/copy"), ("d", "master", "/dir"))
    ]
    assert sides == [
        (None, "/copy/"),
        (None, "/copy/a"),
        (None, "/copy/b"),
        ("/dir/", None),
        ("/dir/a", None),
        ("/dir/b", None),
    ]
    src = tmp_path / "u.txt"
    src.write_bytes(b"from a url")
    pach.put_file_url("d", "master", "/u.txt", src.as_uri())
    assert pach.get_file("d", "master", "/u.txt") == b"from a url"
