"""Loading pipeline spec files: JSON (an object, a list or a stream), YAML (documents) or Jsonnet."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pachlet.errors import SpecError


def _json_stream(text: str, source: str) -> Iterator[Any]:
    dec = json.JSONDecoder()
    i = 0
    n = len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return
        try:
            obj, i = dec.raw_decode(text, i)
        except json.JSONDecodeError as e:
            raise SpecError(
                f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", source=source
            ) from e
        yield obj


def _flatten(docs: Sequence[Any], source: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for doc in docs:
        if doc is None:
            continue
        items = doc if isinstance(doc, list) else [doc]
        for item in items:
            if not isinstance(item, dict):
                raise SpecError(
                    f"expected a pipeline spec object, found {type(item).__name__}", source=source
                )
            out.append(item)
    if not out:
        raise SpecError("no pipeline spec found", source=source)
    return out


def _jsonnet_args(jsonnet_args: Mapping[str, str] | Sequence[str] | None, source: str) -> dict[str, str]:
    if jsonnet_args is None:
        return {}
    if isinstance(jsonnet_args, Mapping):
        return {str(k): str(v) for k, v in jsonnet_args.items()}
    out: dict[str, str] = {}
    for arg in jsonnet_args:
        if "=" not in arg:
            raise SpecError(f"invalid --arg {arg!r}: expected key=value", source=source)
        k, v = arg.split("=", 1)
        out[k] = v
    return out


def render_jsonnet(
    path: str | os.PathLike[str], jsonnet_args: Mapping[str, str] | Sequence[str] | None = None
) -> Any:
    """Evaluate a Jsonnet file with ``--arg k=v`` passed as top-level string arguments (as pachctl does)."""
    import _jsonnet

    source = str(path)
    try:
        text = _jsonnet.evaluate_file(source, tla_vars=_jsonnet_args(jsonnet_args, source))
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "evaluation failed"
        raise SpecError(f"jsonnet: {first}", source=source) from e
    return json.loads(text)


def load_spec_file(
    path: str | os.PathLike[str], jsonnet_args: Mapping[str, str] | Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Read the pipeline specs in a file: JSON (an object, a list, or a stream of objects), YAML (one or
    several documents, each an object or a list) or Jsonnet (``.jsonnet``, or any file when
    ``jsonnet_args`` is given). Returns the raw spec dicts, in file order."""
    p = Path(path)
    source = str(path)
    if not p.is_file():
        raise SpecError("no such file", source=source)
    if p.suffix in (".jsonnet", ".libsonnet") or jsonnet_args:
        return _flatten([render_jsonnet(p, jsonnet_args)], source)
    text = p.read_text(encoding="utf-8")
    if p.suffix in (".yaml", ".yml"):
        return _flatten(_yaml_docs(text, source), source)
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")) or p.suffix == ".json":
        try:
            return _flatten(list(_json_stream(text, source)), source)
        except SpecError:
            if p.suffix == ".json":
                raise
    return _flatten(_yaml_docs(text, source), source)


def _yaml_docs(text: str, source: str) -> list[Any]:
    import yaml

    from pachlet import yamlfile

    try:
        return yamlfile.load_all(text)
    except yamlfile.DuplicateKeyError as e:
        raise SpecError(f"invalid YAML: {e}", source=source) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecError(f"invalid YAML{where}: {problem}", source=source) from e
