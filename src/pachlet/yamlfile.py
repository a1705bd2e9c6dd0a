"""Strict YAML reading for specs and manifests: PyYAML's safe loader, but a mapping that repeats a key
is refused (PyYAML keeps the last value silently) with the line and the key."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node


class DuplicateKeyError(yaml.YAMLError):
    """A YAML mapping that repeats a key; ``line`` is 1-based, ``key`` the repeated key."""

    def __init__(self, key: str, line: int, first_line: int) -> None:
        self.key = key
        self.line = line
        self.first_line = first_line
        super().__init__(f"line {line}: duplicate key {key!r} (first at line {first_line})")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        "found unhashable key",
                        key_node.start_mark,
                    ) from None
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise DuplicateKeyError(str(key), line, seen[key])
                seen[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


def load_all(text: str | bytes) -> list[Any]:
    """Every document of a YAML stream; raises ``yaml.YAMLError`` (``DuplicateKeyError`` for a repeated
    key)."""
    return list(yaml.load_all(text, Loader=_StrictLoader))  # noqa: S506 - a SafeLoader subclass


def load(text: str | bytes) -> Any:
    """One YAML document, strictly (see ``load_all``)."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def describe(exc: yaml.YAMLError) -> str:
    """A one-line account of a YAML error: where (line, column) and what."""
    if isinstance(exc, DuplicateKeyError):
        return str(exc)
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
    problem = getattr(exc, "problem", None) or (str(exc).splitlines()[0] if str(exc) else "invalid YAML")
    return f"{where}{problem}"
