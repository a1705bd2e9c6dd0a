"""Duplicate keys in a YAML spec or Secret manifest are refused with the file, the line and the key
(PyYAML alone keeps the last value silently)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pachlet.errors import PachletError, SpecError
from pachlet.secrets import load_manifest_text
from pachlet.spec.load import load_spec_file

SPEC = """\
pipeline:
  name: edges
transform:
  image: python:3.11
  cmd: [python3, /edges.py]
input:
  pfs:
    repo: images
    glob: /*
transform:
  cmd: [rm, -rf, /]
"""


def test_duplicate_top_level_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "edges.yaml"
    path.write_text(SPEC)
    with pytest.raises(SpecError) as err:
        load_spec_file(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "line 10" in msg
    assert "duplicate key 'transform'" in msg
    assert "first at line 3" in msg


def test_duplicate_nested_key_in_second_document(tmp_path: Path) -> None:
    path = tmp_path / "two.yml"
    path.write_text("pipeline: {name: a}\n---\npipeline:\n  name: b\n  name: c\n")
    with pytest.raises(SpecError, match=r"line 5: duplicate key 'name'"):
        load_spec_file(path)


def test_distinct_keys_and_merge_keys_still_load(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("base: &b {glob: /*}\npipeline: {name: a}\ninput:\n  pfs:\n    <<: *b\n    repo: r\n")
    [spec] = load_spec_file(path)
    assert spec["input"]["pfs"] == {"glob": "/*", "repo": "r"}


def test_secret_manifest_with_duplicate_key_is_refused() -> None:
    text = "kind: Secret\nmetadata: {name: s}\nstringData:\n  password: one\n  password: two\n"
    with pytest.raises(PachletError, match=r"line 5: duplicate key 'password'") as err:
        load_manifest_text(text)
    assert "one" not in str(err.value) and "two" not in str(err.value)
