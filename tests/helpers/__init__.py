"""Helpers shared by test modules in several directories (not tests themselves; fixtures live in
the ``conftest.py`` of each directory). On the path through pytest's ``pythonpath = ["tests"]``."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The project checkout."""
