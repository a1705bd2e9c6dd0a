"""Normalizing pipeline specs: parsed by the real proto (python-pachyderm 7.6), rendered camelCase, with
Pachyderm's defaults (api_server.go ``setPipelineDefaults`` / ``setInputDefaults``)."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor

from pachlet.errors import SpecError
from pachlet.pfs.paths import clean_path
from pachlet.spec.inputs import sort_input, visit_inputs

DEFAULT_IMAGE = "ubuntu:20.04"  # api_server.go DefaultUserImage
DEFAULT_DATUM_TRIES = 3
DEFAULT_REPROCESS_SPEC = "until_success"


def pipeline_name(spec: Mapping[str, Any]) -> str | None:
    p = spec.get("pipeline")
    return p.get("name") if isinstance(p, Mapping) else None


_NO_FIELD = re.compile(r'Message type "([\w.]+)" has no field named "(\w+)"')
_PARSE_FIELD = re.compile(r"Failed to parse (\w+) field")


def _field_from_parse_error(msg: str) -> str | None:
    path = _PARSE_FIELD.findall(msg)
    m = _NO_FIELD.search(msg)
    if m:
        path.append(m.group(2))
    return ".".join(path) if path else None


def _clean_parse_message(msg: str) -> str:
    m = _NO_FIELD.search(msg)
    if m:
        return f'unknown field "{m.group(2)}" in {m.group(1).split(".")[-1]}'
    return _PARSE_FIELD.sub("", msg).strip(" :.") or msg


def to_proto(spec: Mapping[str, Any], source: str | None = None) -> Any:
    """The spec as python-pachyderm 7.6's CreatePipelineRequest (camelCase or snake_case keys)."""
    import python_pachyderm

    try:
        return python_pachyderm.parse_dict_pipeline_spec(copy.deepcopy(dict(spec)))
    except json_format.ParseError as e:
        msg = str(e)
        raise SpecError(
            _clean_parse_message(msg),
            pipeline=pipeline_name(spec) if isinstance(spec.get("pipeline"), Mapping) else None,
            field=_field_from_parse_error(msg),
            source=source,
        ) from e


def _input_defaults(input_spec: dict[str, Any], pipeline: str) -> None:
    """api_server.go setInputDefaults (without the cron start time): ``pps.SortInput`` first, while
    unnamed inputs still have no name, then the default names and branches."""
    sort_input(input_spec)
    for item in visit_inputs(input_spec):
        pfs = item.node.get("pfs")
        if isinstance(pfs, dict):
            pfs.setdefault("branch", "master")
            if not pfs.get("branch"):
                pfs["branch"] = "master"
            if not pfs.get("name") and pfs.get("repo"):
                pfs["name"] = pfs["repo"]
            if pfs.get("glob"):
                pfs["glob"] = clean_path(pfs["glob"])
        cron = item.node.get("cron")
        if isinstance(cron, dict) and not cron.get("repo") and pipeline and cron.get("name"):
            cron["repo"] = f"{pipeline}_{cron['name']}"


_INT64_TYPES = (
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
)


def _int64_to_int(d: dict[str, Any], descriptor: Any) -> None:
    """MessageToDict writes 64-bit integers as strings (proto3 JSON); make them ints again."""
    for field in descriptor.fields:
        if field.json_name not in d:
            continue
        value = d[field.json_name]
        if field.type in _INT64_TYPES:
            if isinstance(value, list):
                d[field.json_name] = [int(v) for v in value]
            else:
                d[field.json_name] = int(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and not field.message_type.GetOptions().map_entry:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict):
                    _int64_to_int(item, field.message_type)


def normalize_spec(spec: Mapping[str, Any], source: str | None = None) -> dict[str, Any]:
    """The canonical camelCase spec: parsed by the real proto (unknown fields rejected), rendered by
    ``MessageToDict``, with Pachyderm's defaults: image ``ubuntu:20.04``, ``datumTries`` 3,
    ``reprocessSpec`` ``until_success``, ``outputBranch`` ``master``, ``parallelismSpec.constant`` 1,
    pfs ``name`` = repo, ``branch`` master, cleaned globs, cron ``repo`` ``<pipeline>_<name>``."""
    if not isinstance(spec, Mapping):
        raise SpecError(f"expected a pipeline spec object, found {type(spec).__name__}", source=source)
    msg = to_proto(spec, source)
    out: dict[str, Any] = json_format.MessageToDict(msg)
    name = (out.get("pipeline") or {}).get("name") or ""
    transform = out.get("transform")
    if isinstance(transform, dict) and not transform.get("image"):
        transform["image"] = DEFAULT_IMAGE
    _int64_to_int(out, msg.DESCRIPTOR)
    if not out.get("datumTries"):
        out["datumTries"] = DEFAULT_DATUM_TRIES
    if not out.get("reprocessSpec"):
        out["reprocessSpec"] = DEFAULT_REPROCESS_SPEC
    if not out.get("outputBranch"):
        out["outputBranch"] = "master"
    if not (out.get("parallelismSpec") or {}).get("constant"):
        out.setdefault("parallelismSpec", {})["constant"] = 1
    if out.get("input"):
        _input_defaults(out["input"], name)
    return out
