"""The ``projects`` table of a root, including a root made before projects existed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pachlet.api import Pachlet
from pachlet.errors import NotFoundError


def test_a_root_from_before_projects_has_the_default_one(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with Pachlet(root, timeout=5) as p:
        p.create_repo("raw")
    with sqlite3.connect(root / "pachlet.db") as db:  # the schema of a pachlet without projects
        db.execute("DROP TABLE projects")
    with Pachlet(root, read_only=True) as p:
        assert [i.name for i in p.list_projects()] == ["default"]
        assert p.inspect_project("default").description == ""
        with pytest.raises(NotFoundError, match='project "audio" not found'):
            p.inspect_project("audio")
        assert [r.name for r in p.list_repos()] == ["raw"]
    with Pachlet(root, timeout=5) as p:  # opening it for writing adds the table and the default project
        p.create_project("audio")
        p.create_repo("audio/raw")
        assert [i.name for i in p.list_projects()] == ["default", "audio"]
        assert sorted(r.name for r in p.list_repos()) == ["audio/raw", "raw"]
