"""Rendered specs against Pachyderm's two definitions of a pipeline: the 2.7 proto and the 2.8+ JSON schema.

A spec must stay inside the fields both Pachyderm versions share. :func:`check_fields` walks the spec
alongside python-pachyderm 7.6's ``CreatePipelineRequest`` descriptor (the 2.7 proto) and the 2.8+ schema;
a field known to only one of them is reported as such (e.g. ``dryRun``/``update`` exist only in 2.7,
``maximumExpectedUptime`` and ``pfs.reference`` only in 2.8+), a field known to neither as unknown.
:func:`check_proto` parses the spec with ``python_pachyderm.parse_dict_pipeline_spec``, :func:`check_schema`
validates it against the schema. Locating and loading the schema file live here too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from churn.errors import SchemaNotFoundError
from churn.specs import json_path

SCHEMA_ENV = "CHURN_PACHYDERM_SCHEMA"
SCHEMA_RELATIVE = Path("..") / "shared" / "reference" / "pachyderm" / "CreatePipelineRequest.schema.json"


def find_schema(project_root: Path, explicit: Path | None = None) -> Path:
    """Locate CreatePipelineRequest.schema.json: ``explicit``, then $CHURN_PACHYDERM_SCHEMA, then
    ``<project>/../shared/reference/pachyderm/``."""
    candidates: list[tuple[str, Path]] = []
    if explicit is not None:
        candidates.append(("--schema", explicit))
    if os.environ.get(SCHEMA_ENV):
        candidates.append((f"${SCHEMA_ENV}", Path(os.environ[SCHEMA_ENV])))
    candidates.append(("project", project_root / SCHEMA_RELATIVE))
    for origin, path in candidates:
        if path.is_file():
            return path.resolve()
        if origin != "project":
            raise SchemaNotFoundError(f"{path}: Pachyderm schema not found (from {origin})")
    raise SchemaNotFoundError(
        f"{project_root / SCHEMA_RELATIVE}: Pachyderm's CreatePipelineRequest.schema.json not found; "
        f"set ${SCHEMA_ENV} or pass --schema"
    )


def locate_schema(project_root: Path, explicit: Path | None = None) -> Path | None:
    """Like ``find_schema``, but None when nothing was asked for explicitly and the default location
    (the shared reference next to the project) is absent: validation then runs without the 2.8+ schema.
    An explicit ``--schema`` or ``$CHURN_PACHYDERM_SCHEMA`` that does not exist is still an error."""
    try:
        return find_schema(project_root, explicit)
    except SchemaNotFoundError:
        if explicit is not None or os.environ.get(SCHEMA_ENV):
            raise
        return None


@cache
def load_schema(path: Path) -> dict[str, Any]:
    """Parse the JSON schema file (cached)."""
    return json.loads(path.read_text(encoding="utf-8"))


def _schema_ref(prop: Mapping[str, Any]) -> str | None:
    ref = prop.get("$ref") or (prop.get("items") or {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def check_fields(spec: Any, schema: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(JSON path, message) for every field outside what both the 2.7 proto and the 2.8+ schema know.
    Without the schema (None) the 2.8+ side is taken to know exactly the proto's camelCase fields:
    unknown and snake_case fields are still reported, fields of only one version cannot be."""
    from python_pachyderm.proto.v2.pps import pps_pb2

    defs = schema.get("definitions", {}) if schema is not None else None
    problems: list[tuple[str, str]] = []

    def walk(value: Any, descriptor: Any, def_name: str | None, path: list[Any]) -> None:
        if not isinstance(value, dict):
            return
        props = None if defs is None else (defs.get(def_name) or {}).get("properties", {}) if def_name else {}
        by_json = {f.json_name: f for f in descriptor.fields}
        by_name = {f.name: f for f in descriptor.fields}
        for key, child in value.items():
            here = [*path, key]
            proto_field = by_json.get(key) or by_name.get(key)
            camel = proto_field.json_name if proto_field is not None else None
            in_schema = key in props if props is not None else key == camel
            if proto_field is None and not in_schema:
                problems.append((json_path(here), f"unknown field {key!r}"))
                continue
            if proto_field is not None and not in_schema:
                if key != camel and (props is None or camel in props):
                    message = f"snake_case field {key!r}: use {camel!r} (camelCase)"
                else:
                    message = f"field {key!r} exists only in Pachyderm 2.7, not in 2.8+"
                problems.append((json_path(here), message))
                continue
            if proto_field is None:
                problems.append((json_path(here), f"field {key!r} exists only in Pachyderm 2.8+, not in 2.7"))
                continue
            message_type = proto_field.message_type
            if message_type is None or message_type.GetOptions().map_entry:
                continue
            sub_def = _schema_ref(props[key]) if props is not None else None
            items = enumerate(child) if isinstance(child, list) else [(None, child)]
            for i, item in items:
                walk(item, message_type, sub_def, here if i is None else [*here, i])

    root = (_schema_ref(schema) if schema is not None else None) or "CreatePipelineRequest"
    walk(spec, pps_pb2.CreatePipelineRequest.DESCRIPTOR, root, [])
    return problems


def check_proto(spec: Mapping[str, Any]) -> str | None:
    """None if python-pachyderm 7.6 parses the spec, else its error."""
    from google.protobuf import json_format
    from python_pachyderm import parse_dict_pipeline_spec

    try:
        parse_dict_pipeline_spec(dict(spec))
    except (json_format.ParseError, TypeError, ValueError) as exc:
        return str(exc).splitlines()[0]
    return None


def check_schema(spec: Mapping[str, Any], schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(JSON path, message) for each violation of Pachyderm's JSON schema (the most specific cause)."""
    from jsonschema import Draft4Validator
    from jsonschema.exceptions import best_match

    problems: list[tuple[str, str]] = []
    for error in Draft4Validator(schema).iter_errors(spec):
        cause = best_match(error.context) if error.context else error
        cause = cause or error
        problems.append((json_path(list(cause.absolute_path)), f"schema: {cause.message}"))
    return sorted(set(problems))
