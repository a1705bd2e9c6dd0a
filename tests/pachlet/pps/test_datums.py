"""Datums from inputs, checked against Pachyderm 2.7's own tables.

Expected datums come from github.com/pachyderm/pachyderm v2.7.6:
- src/server/worker/datum/iterator_test.go TestIterators (files /foo0../foo49, every input form) and
  TestJoinTrailingSlash; their ``validateDI`` compares each datum's concatenated input paths after sorting
  the path components (``computeStableKey``), which ``stable_keys`` reproduces here;
- src/server/pfs/server/paths.go + driver_file.go globFile + fileset/dir_inserter.go for glob matching
  over files and directories (``/dir/`` paths);
- src/server/worker/common/common.go DatumID / HashDatum for IDs and hashes; datum file sets are keyed
  ``/meta/<ID>/meta`` (datum.go uploadMetaFile), so datums list in ID order.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import pytest

from pachlet.errors import NotFoundError, SpecError
from pachlet.pps.datums import (
    CommitFiles,
    Datum,
    FileInfo,
    compute_datums,
    datum_id,
    datums_for_spec,
    resolver_from,
)
from pachlet.spec import normalize_spec


def files(*paths: str, content: str = "x") -> tuple[FileInfo, ...]:
    return tuple(FileInfo(p, hashlib.sha256(f"{p}:{content}".encode()).hexdigest(), 1) for p in paths)


def stable_keys(datums: list[Datum]) -> list[str]:
    """iterator_test.go computeStableKey over the datum's joined input paths, as a sorted list."""
    keys = []
    for d in datums:
        joined = "".join(i.path for i in d.inputs)
        parts = sorted(joined.split("/"))
        keys.append("/".join(p for p in parts if p))
    return sorted(keys)


def expect(*datums: str) -> list[str]:
    return stable_keys_from_strings(list(datums))


def stable_keys_from_strings(datums: list[str]) -> list[str]:
    return sorted("/".join(p for p in sorted(d.split("/")) if p) for d in datums)


FOO = files(*(f"/foo{i}" for i in range(50)))
DATA = {("data", "master"): CommitFiles("data", "master", "c" * 32, FOO)}


def pfs(glob: str, *, repo: str = "data", name: str = "", join_on: str = "", group_by: str = "",
        outer: bool = False) -> dict[str, Any]:  # fmt: skip
    d: dict[str, Any] = {"repo": repo, "glob": glob}
    if name:
        d["name"] = name
    if join_on:
        d["joinOn"] = join_on
    if group_by:
        d["groupBy"] = group_by
    if outer:
        d["outerJoin"] = True
    return {"pfs": d}


IN1 = pfs("/foo?1")
IN2 = pfs("/foo*2")
CROSS_12 = [
    f"{a}{b}"
    for a in ("/foo11", "/foo21", "/foo31", "/foo41")
    for b in ("/foo12", "/foo2", "/foo22", "/foo32", "/foo42")
]

# (case, input, expected datums as validateDI strings) — straight from TestIterators.
ITERATOR_CASES = [
    ("ZeroDatums", pfs("!(**)"), []),
    ("Basic1", IN1, ["/foo11", "/foo21", "/foo31", "/foo41"]),
    ("Basic2", IN2, ["/foo12", "/foo2", "/foo22", "/foo32", "/foo42"]),
    ("Union", {"union": [IN1, IN2]},
     ["/foo11", "/foo12", "/foo2", "/foo21", "/foo22", "/foo31", "/foo32", "/foo41", "/foo42"]),
    ("Cross", {"cross": [IN1, IN2]}, CROSS_12),
    ("EmptyCross", {"cross": [{"union": [IN1, IN2]}, pfs("!(**)"), IN2, {"cross": [IN1, IN2]}]}, []),
    ("NestedEmptyCross",
     {"cross": [{"cross": [{"union": [IN1, IN2]}, pfs("!(**)"), IN2, {"cross": [IN1, IN2]}]}, IN1]}, []),
    ("Join", {"join": [pfs("/foo(?)(?)", join_on="$1$2"), pfs("/foo(?)(?)", join_on="$2$1")]},
     [f"/foo{a}{b}/foo{b}{a}" for a in range(1, 5) for b in range(1, 5)]),
    ("OuterJoin", {"join": [pfs("/foo1(?)", join_on="$1", outer=True), pfs("/foo(?)1", join_on="$1", outer=True)]},
     ["/foo10", "/foo11/foo11", "/foo12/foo21", "/foo13/foo31", "/foo14/foo41",
      "/foo15", "/foo16", "/foo17", "/foo18", "/foo19"]),
    ("GroupSingle", {"group": [pfs("/foo(?)(?)", group_by="$1")]},
     ["".join(f"/foo{a}{b}" for b in range(10)) for a in range(1, 5)]),
    ("GroupDoubles", {"group": [pfs("/foo(?)(?)", group_by="$1"), pfs("/foo(?)(?)", group_by="$2")]},
     ["/foo10/foo20/foo30/foo40"]
     + ["".join(f"/foo{a}{b}" for b in range(10)) + "".join(f"/foo{c}{a}" for c in range(1, 5)) for a in range(1, 5)]
     + ["".join(f"/foo{c}{b}" for c in range(1, 5)) for b in range(5, 10)]),
    ("GroupJoin", {"group": [{"join": [pfs("/foo(?)(?)", join_on="$1$2", group_by="$1"),
                                       pfs("/foo(?)(?)", join_on="$2$1", group_by="$2")]}]},
     ["".join(f"/foo{a}{b}/foo{b}{a}" for b in range(1, 5)) for a in range(1, 5)]),
    ("UnionGroup", {"union": [pfs("/foo(?)(?)"), {"group": [pfs("/foo(?)(?)", group_by="$2")]}]},
     ["".join(f"/foo{a}{b}" for a in range(1, 5)) for b in range(10)] + [f"/foo{i}" for i in range(10, 50)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "input_spec", "expected"), ITERATOR_CASES, ids=[c[0] for c in ITERATOR_CASES]
)
def test_pachyderm_iterator_table(case: str, input_spec: dict[str, Any], expected: list[str]) -> None:
    datums = compute_datums(input_spec, "p", resolver_from(DATA))
    assert stable_keys(datums) == stable_keys_from_strings(expected)
    # list datum order: the datum file set is keyed by datum ID
    assert [d.id for d in datums] == sorted(d.id for d in datums)
    assert len({d.id for d in datums}) == len(datums)


def test_join_trailing_slash() -> None:
    """iterator_test.go TestJoinTrailingSlash: `/(*)` and `/(*)/` join the same way."""
    commits = {
        (r, "master"): CommitFiles(r, "master", "c", files(*(f"/foo-{j}" for j in range(10))))
        for r in ("r0", "r1")
    }
    for glob in ("/(*)", "/(*)/"):
        spec = {"join": [pfs(glob, repo="r0", join_on="$1"), pfs(glob, repo="r1", join_on="$1")]}
        got = compute_datums(spec, "p", resolver_from(commits))
        assert stable_keys(got) == stable_keys_from_strings([f"/foo-{j}/foo-{j}" for j in range(10)])


# --- glob forms over a nested tree (paths.go globMatchFunction + dir_inserter.go) --------------------

TREE = files("/a.csv", "/dir/b.csv", "/dir/d.txt", "/dir/sub/c.csv", "/e/f.csv", "/x-1.csv", "/x-2.csv")
TREE_COMMITS = {("tree", "master"): CommitFiles("tree", "master", "t" * 32, TREE)}

GLOB_CASES = [
    ("/", {"/": 7}),
    ("/*", {"/a.csv": 1, "/dir/": 3, "/e/": 1, "/x-1.csv": 1, "/x-2.csv": 1}),
    ("/*/", {"/a.csv": 1, "/dir/": 3, "/e/": 1, "/x-1.csv": 1, "/x-2.csv": 1}),
    ("/*/*", {"/dir/b.csv": 1, "/dir/d.txt": 1, "/dir/sub/": 1, "/e/f.csv": 1}),
    ("/**", {"/a.csv": 1, "/dir/": 3, "/dir/b.csv": 1, "/dir/d.txt": 1, "/dir/sub/": 1, "/dir/sub/c.csv": 1,
             "/e/": 1, "/e/f.csv": 1, "/x-1.csv": 1, "/x-2.csv": 1}),
    ("/dir/*.csv", {"/dir/b.csv": 1}),
    ("/dir/**.csv", {"/dir/b.csv": 1, "/dir/sub/c.csv": 1}),
    ("/{a,e}*", {"/a.csv": 1, "/e/": 1}),
    ("/x-?.csv", {"/x-1.csv": 1, "/x-2.csv": 1}),
    ("/x-[2-9].csv", {"/x-2.csv": 1}),
    ("/x-(*).csv", {"/x-1.csv": 1, "/x-2.csv": 1}),
    ("dir", {"/dir/": 3}),
    ("/nothing/*", {}),
]  # fmt: skip


@pytest.mark.parametrize(("glob", "expected"), GLOB_CASES, ids=[c[0] for c in GLOB_CASES])
def test_glob_forms_on_nested_tree(glob: str, expected: dict[str, int]) -> None:
    datums = compute_datums(pfs(glob, repo="tree"), "p", resolver_from(TREE_COMMITS))
    got = {d.inputs[0].path: len(d.inputs[0].files) for d in datums}
    assert got == expected
    for d in datums:
        (inp,) = d.inputs
        assert inp.name == "tree" and inp.branch == "master" and inp.commit_id == "t" * 32
        assert all(f.path == inp.path or f.path.startswith(inp.path) for f in inp.files)


def test_capture_groups_feed_join_and_group_keys() -> None:
    datums = compute_datums(pfs("/x-(*).csv", repo="tree", join_on="k$1", group_by="${1}g"), "p",
                            resolver_from(TREE_COMMITS))  # fmt: skip
    assert sorted((d.inputs[0].join_on, d.inputs[0].group_by) for d in datums) == [("k1", "1g"), ("k2", "2g")]


# --- cross, union, join, group across repos -----------------------------------------------------------

TWO = {
    ("left", "master"): CommitFiles("left", "master", "l" * 32, files("/1.csv", "/2.csv", "/3.csv")),
    ("right", "master"): CommitFiles("right", "master", "r" * 32, files("/1.txt", "/2.txt", "/4.txt")),
    ("empty", "master"): CommitFiles("empty", "master", "e" * 32, ()),
    ("nocommit", "master"): None,
}


def run(spec: dict[str, Any]) -> list[list[tuple[str, str]]]:
    return sorted(
        [[(i.name, i.path) for i in d.inputs] for d in compute_datums(spec, "p", resolver_from(TWO))]
    )


def _normalized_input(input_spec: dict[str, Any]) -> dict[str, Any]:
    spec = {"pipeline": {"name": "p"}, "transform": {"cmd": ["true"]}, "input": input_spec}
    return normalize_spec(spec)["input"]


def test_cross_orders_inputs_by_name_and_multiplies() -> None:
    # pps.SortInput (setInputDefaults, at creation) sorts cross children by input name: "a" before "b"
    # whatever the spec order.
    spec = {"cross": [pfs("/*", repo="right", name="b"), pfs("/*", repo="left", name="a")]}
    got = run(_normalized_input(spec))
    assert len(got) == 9
    assert all([n for n, _ in d] == ["a", "b"] for d in got)


def test_unnamed_inputs_keep_spec_order() -> None:
    """pachd's setInputDefaults runs pps.SortInput before it fills in default names, so unnamed inputs
    all sort as "" and keep their spec order: ``cross: [zeta, alpha]`` gives data [zeta, alpha] and
    that datum ID."""
    commits = {
        (r, "master"): CommitFiles(r, "master", r[0] * 32, files("/f")) for r in ("zeta", "alpha", "mid")
    }
    spec = _normalized_input({"cross": [pfs("/*", repo="zeta"), pfs("/*", repo="alpha")]})
    assert [c["pfs"]["name"] for c in spec["cross"]] == ["zeta", "alpha"]
    (d,) = compute_datums(spec, "p", resolver_from(commits))
    assert [i.name for i in d.inputs] == ["zeta", "alpha"]
    assert d.id == datum_id(d.inputs)
    h = hashlib.blake2b(digest_size=32)
    for s in ("zeta", "zeta", "master", "/f", "alpha", "alpha", "master", "/f"):
        h.update(s.encode() + struct.pack(">q", len(s)))
    assert d.id == h.hexdigest()
    # An unnamed input sorts as "" (before any named one); inside a composite too.
    mixed = _normalized_input(
        {
            "cross": [
                pfs("/*", repo="zeta", name="z"),
                {"union": [pfs("/*", repo="mid"), pfs("/*", repo="alpha")]},
            ]
        }
    )
    assert mixed["cross"][0]["union"][0]["pfs"]["repo"] == "mid"
    assert mixed["cross"][1]["pfs"]["name"] == "z"


def test_union_concatenates_and_skips_empty() -> None:
    got = run({"union": [pfs("/*", repo="left"), pfs("/*", repo="empty"), pfs("/*", repo="nocommit")]})
    assert got == [[("left", "/1.csv")], [("left", "/2.csv")], [("left", "/3.csv")]]


@pytest.mark.parametrize("empty_repo", ["empty", "nocommit"])
def test_cross_with_empty_input_has_no_datums(empty_repo: str) -> None:
    assert run({"cross": [pfs("/*", repo="left"), pfs("/*", repo=empty_repo)]}) == []


def test_inner_join_keeps_matching_keys_only() -> None:
    spec = {"join": [pfs("/(*).csv", repo="left", join_on="$1"), pfs("/(*).txt", repo="right", join_on="$1")]}
    assert run(spec) == [
        [("left", "/1.csv"), ("right", "/1.txt")],
        [("left", "/2.csv"), ("right", "/2.txt")],
    ]


def test_outer_join_keeps_unmatched_of_outer_side_only() -> None:
    spec = {"join": [pfs("/(*).csv", repo="left", join_on="$1", outer=True),
                     pfs("/(*).txt", repo="right", join_on="$1")]}  # fmt: skip
    assert run(spec) == [
        [("left", "/1.csv"), ("right", "/1.txt")],
        [("left", "/2.csv"), ("right", "/2.txt")],
        [("left", "/3.csv")],
    ]


def test_join_with_empty_input() -> None:
    inner = {"join": [pfs("/(*).csv", repo="left", join_on="$1"), pfs("/(*)", repo="empty", join_on="$1")]}
    assert run(inner) == []
    outer = {
        "join": [
            pfs("/(*).csv", repo="left", join_on="$1", outer=True),
            pfs("/(*)", repo="empty", join_on="$1"),
        ]
    }
    assert run(outer) == [[("left", "/1.csv")], [("left", "/2.csv")], [("left", "/3.csv")]]


def test_group_across_two_inputs() -> None:
    spec = {
        "group": [pfs("/(*).csv", repo="left", group_by="$1"), pfs("/(*).txt", repo="right", group_by="$1")]
    }
    assert run(spec) == [
        [("left", "/1.csv"), ("right", "/1.txt")],
        [("left", "/2.csv"), ("right", "/2.txt")],
        [("left", "/3.csv")],
        [("right", "/4.txt")],
    ]


def test_group_all_files_of_a_key_in_one_datum() -> None:
    commits = {("g", "master"): CommitFiles("g", "master", "c", files("/a-1.csv", "/a-2.csv", "/b-1.csv"))}
    got = compute_datums(
        {"group": [pfs("/(*)-(*).csv", repo="g", group_by="$1")]}, "p", resolver_from(commits)
    )
    assert sorted(sorted(i.path for i in d.inputs) for d in got) == [["/a-1.csv", "/a-2.csv"], ["/b-1.csv"]]


def test_cron_input_is_pfs_on_pipeline_repo() -> None:
    ticks = files("/2026-11-24T04:00:00Z", "/2026-11-24T05:00:00Z")
    commits = {("q_in", "master"): CommitFiles("q_in", "master", "c", ticks)}
    got = compute_datums({"cron": {"name": "in", "spec": "@hourly"}}, "q", resolver_from(commits))
    assert sorted((i.name, i.repo, i.branch, i.glob, i.path) for d in got for i in d.inputs) == [
        ("in", "q_in", "master", "/*", "/2026-11-24T04:00:00Z"),
        ("in", "q_in", "master", "/*", "/2026-11-24T05:00:00Z"),
    ]


def test_unknown_repo_raises_not_found_and_bad_glob_spec_error() -> None:
    with pytest.raises(NotFoundError, match="repo nope not found"):
        compute_datums(pfs("/*", repo="nope"), "p", resolver_from(TWO))
    with pytest.raises(SpecError, match="invalid glob"):
        compute_datums(pfs("/[a", repo="left"), "p", resolver_from(TWO))


def test_no_input_and_datums_for_spec() -> None:
    assert compute_datums(None, "p", resolver_from(TWO)) == []
    spec = {"pipeline": {"name": "p"}, "input": pfs("/*", repo="left")}
    assert [d.inputs[0].path for d in datums_for_spec(spec, resolver_from(TWO))] == sorted(
        ["/1.csv", "/2.csv", "/3.csv"], key=lambda p: datum_id_for("left", p)
    )


def datum_id_for(repo: str, path: str) -> str:
    return next(
        d.id
        for d in compute_datums(pfs("/*", repo=repo), "p", resolver_from(TWO))
        if d.inputs[0].path == path
    )


# --- IDs and hashes (common.go DatumID / HashDatum) ---------------------------------------------------


def test_datum_id_is_pachyderms_blake2b_scheme() -> None:
    (d,) = [
        d
        for d in compute_datums(pfs("/*", repo="left"), "p", resolver_from(TWO))
        if d.inputs[0].path == "/1.csv"
    ]
    h = hashlib.blake2b(digest_size=32)
    for s in ("left", "left", "master", "/1.csv"):
        h.update(s.encode() + struct.pack(">q", len(s)))
    assert d.id == h.hexdigest() == datum_id(d.inputs)


def _single(commit_files: tuple[FileInfo, ...], glob: str = "/*", commit: str = "c1") -> dict[str, Datum]:
    commits = {("r", "master"): CommitFiles("r", "master", commit, commit_files)}
    return {d.inputs[0].path: d for d in compute_datums(pfs(glob, repo="r"), "p", resolver_from(commits))}


def test_id_stable_across_commits_hash_tracks_content_and_salt() -> None:
    before = _single(files("/a", "/b", "/d/x", "/d/y"), commit="c1")
    after = _single(files("/a", "/d/x", "/d/y") + files("/b", content="changed"), commit="c2")
    assert {p: d.id for p, d in before.items()} == {p: d.id for p, d in after.items()}
    assert before["/a"].hash("s") == after["/a"].hash("s")
    assert before["/d/"].hash("s") == after["/d/"].hash("s")
    assert before["/b"].hash("s") != after["/b"].hash("s")
    assert before["/a"].hash("s") != before["/a"].hash("t")
    base = files("/a", "/b", "/d/x", "/d/y")
    # pachd hashes a directory over its children's hashes, not their names (source.go computeFileInfo):
    # a rename inside a directory datum with the same content keeps the hash, so the datum is skipped.
    renamed = _single(base[:3] + (FileInfo("/d/z", base[3].hash, 1),), commit="c3")
    assert renamed["/d/"].id == before["/d/"].id and renamed["/d/"].hash("s") == before["/d/"].hash("s")
    changed = _single(base[:3] + files("/d/y", content="other"), commit="c4")
    assert changed["/d/"].hash("s") != before["/d/"].hash("s")
    moved = _single(base[:2] + files("/d/x", "/d/e/y"), commit="c5")
    assert moved["/d/"].hash("s") != before["/d/"].hash("s")  # a file moved into a subdirectory


# --- the glob compiler itself (ohmyglob capture_test.go TestCaptureGlob / TestReplaceGlob) ------------

CAPTURES = [
    ("test/(a|b)", "hi/123", None),
    ("test/(a|b)/x.go", "test/b/x.go", ["b"]),
    ("test/a*(a|b)/x.go", "test/a/x.go", [""]),
    ("test/a*(a|b)/x.go", "test/aba/x.go", ["ba"]),
    ("test/+(a|b)/x.go", "test/aba/x.go", ["aba"]),
    ("test/a?(a|b)/x.go", "test/ab/x.go", ["b"]),
    ("test/@(a|b)/x.go", "test/a/x.go", ["a"]),
    ("test/!(a|b)/x.go", "test/x/x.go", ["x"]),
    ("test/!(a|b)/x.go", "test/a/x.go", None),
    ("test/(a|b)/(*).go", "test/a/x.go", ["a", "x"]),
    ("test/a*(a|b)/*(*).go", "test/aaaa/x.go", ["aaa", "x"]),
    ("test*(/?(+(a|b)/*.go))", "test/a/x.go", ["/a/x.go", "a/x.go", "a"]),
]

REPLACES = [
    ("name=(*)", "name=adele", "$1", "adele"),
    ("name=(*)", "n[.ipxi", "$1", ""),
    ("name=(*)", "name=adele", "${1}1", "adele1"),
    ("name=(*)", "name=adele", "$$1", "$1"),
    ("(((((((((??)))))))))*(a|b)", "xfbaaaababbbabaa", "$10", "baaaababbbabaa"),
    ("name=(*)/year=(*)/(*).dat", "name=adele/year=2016/photos.dat", "$3 of $1 from $2", "photos of adele from 2016"),
    ("name=(*)/year=(*)/(*).dat", "name=adele/year=2016/photos.dat", "$0", "name=adele/year=2016/photos.dat"),
    ("name=!(adele)/year=(2?1(?))/(*).dat", "name=roxanne/year=2514/puzzle.dat",
     "$1 from the $3th year of the decade, obtained a $4", "roxanne from the 4th year of the decade, obtained a puzzle"),
]  # fmt: skip


@pytest.mark.parametrize(("pattern", "fixture", "groups"), CAPTURES)
def test_ohmyglob_captures(pattern: str, fixture: str, groups: list[str] | None) -> None:
    from pachlet.pfs.glob import Glob

    got = Glob(pattern, pfs=False).captures(fixture)
    assert got == (None if groups is None else [fixture, *groups])


@pytest.mark.parametrize(("pattern", "fixture", "template", "expected"), REPLACES)
def test_ohmyglob_replace(pattern: str, fixture: str, template: str, expected: str) -> None:
    from pachlet.pfs.glob import Glob

    assert Glob(pattern, pfs=False).replace(fixture, template) == expected


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/a/*", "/a/b", True),
        ("/a/*", "/a/b/c", False),
        ("/a/**", "/a/b/c", True),
        ("/[!a]*", "/b", True),
        ("/[!a]*", "/a", False),
        ("/\\*", "/*", True),
        ("/\\*", "/x", False),
        ("/{a,b{c,d}}", "/bd", True),
        ("/", "/", True),
        ("/*", "/", False),
    ],
)
def test_pfs_glob_match(pattern: str, path: str, matches: bool) -> None:
    from pachlet.pfs.glob import Glob

    assert Glob(pattern).match(path) is matches


@pytest.mark.parametrize("pattern", ["/[a", "/{a,b", "/(a|b", "/a\\", "/[]", "/[z-a]", ""])
def test_bad_globs_raise(pattern: str) -> None:
    from pachlet.pfs.glob import Glob, GlobError

    with pytest.raises(GlobError, match="invalid glob"):
        Glob(pattern)
