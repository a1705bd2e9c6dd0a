"""The 2.8+ ``pps_v2`` messages pachlet serves that python-pachyderm 7.6's ``pps.proto`` lacks, as
protobuf classes: ``CreateDatumRequest`` (with its Start / Continue bodies) and ``CreatePipelineV2Request``
/ ``Response``, with pachd 2.10's field names and numbers (``src/pps/pps.proto``).

They are declared here as a ``FileDescriptorProto`` (the form protoc compiles a ``.proto`` to) that
imports python-pachyderm's ``pps.proto``, so ``Input`` is the generated 2.7 message, and protobuf builds
the classes and does all the encoding. pachyderm-sdk's generated clients (2.10 and 2.12) are the check
that the declarations match: ``tests/pachlet/server/test_v28.py`` drives them against ``pachlet serve``.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from python_pachyderm.proto.v2.pps import pps_pb2

FILE = "pachlet/server/pps_v28.proto"
PACKAGE = pps_pb2.DESCRIPTOR.package  # pps_v2

_F = descriptor_pb2.FieldDescriptorProto
# message -> [(field, number, type, message type or "", oneof index or None)]
_MESSAGES: dict[str, list[tuple[str, int, int, str, int | None]]] = {
    "StartCreateDatumRequest": [
        ("input", 1, _F.TYPE_MESSAGE, "Input", None),
        ("number", 2, _F.TYPE_INT32, "", None),
    ],
    "ContinueCreateDatumRequest": [("number", 1, _F.TYPE_INT32, "", None)],
    "CreateDatumRequest": [
        ("start", 1, _F.TYPE_MESSAGE, "StartCreateDatumRequest", 0),
        ("continue", 2, _F.TYPE_MESSAGE, "ContinueCreateDatumRequest", 0),
    ],
    "CreatePipelineV2Request": [
        ("create_pipeline_request_json", 1, _F.TYPE_STRING, "", None),
        ("dry_run", 2, _F.TYPE_BOOL, "", None),
        ("update", 3, _F.TYPE_BOOL, "", None),
        ("reprocess", 4, _F.TYPE_BOOL, "", None),
    ],
    "CreatePipelineV2Response": [("effective_create_pipeline_request_json", 1, _F.TYPE_STRING, "", None)],
}
_ONEOFS = {"CreateDatumRequest": ["body"]}


def file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """The declarations above as one proto3 file of package ``pps_v2``."""
    fdp = descriptor_pb2.FileDescriptorProto(
        name=FILE, package=PACKAGE, syntax="proto3", dependency=[pps_pb2.DESCRIPTOR.name]
    )
    for name, fields in _MESSAGES.items():
        msg = fdp.message_type.add(name=name)
        for oneof in _ONEOFS.get(name, []):
            msg.oneof_decl.add(name=oneof)
        for field, number, kind, type_name, oneof_index in fields:
            f = msg.field.add(name=field, number=number, type=kind, label=_F.LABEL_OPTIONAL)
            f.json_name = "".join(w.capitalize() if i else w for i, w in enumerate(field.split("_")))
            if type_name:
                f.type_name = f".{PACKAGE}.{type_name}"
            if oneof_index is not None:
                f.oneof_index = oneof_index
    return fdp


def _classes() -> dict[str, type]:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(FILE)
    except KeyError:
        pool.AddSerializedFile(file_descriptor().SerializeToString())
    factory = message_factory.MessageFactory(pool)
    return {name: factory.GetPrototype(pool.FindMessageTypeByName(f"{PACKAGE}.{name}")) for name in _MESSAGES}


_CLASSES = _classes()
StartCreateDatumRequest = _CLASSES["StartCreateDatumRequest"]
ContinueCreateDatumRequest = _CLASSES["ContinueCreateDatumRequest"]
CreateDatumRequest = _CLASSES["CreateDatumRequest"]
CreatePipelineV2Request = _CLASSES["CreatePipelineV2Request"]
CreatePipelineV2Response = _CLASSES["CreatePipelineV2Response"]
