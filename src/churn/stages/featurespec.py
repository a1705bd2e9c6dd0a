"""The feature list and its version: the contract between the features, train and predict stages.

``feature_spec.json`` (beside every ``features.parquet`` and the model) holds the id and label columns,
the ordered features with their kind, and a version derived from the list, so a model trained on one
feature set refuses features built by another.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churn.stages.common import StageError

SPEC_FILE = "feature_spec.json"
FEATURES_FILE = "features.parquet"
# Bump on a change of meaning that keeps names and kinds (the digest covers names and kinds).
SEMANTIC_VERSION = 1


@dataclass(frozen=True)
class Feature:
    """One model input column."""

    name: str
    kind: str  # "numeric" or "categorical" (small non-negative integer codes)
    description: str


def version_of(features: tuple[Feature, ...]) -> str:
    """``v<SEMANTIC_VERSION>-<12 hex digits of the sha256 of the names and kinds>``."""
    payload = json.dumps([[f.name, f.kind] for f in features], separators=(",", ":"))
    return f"v{SEMANTIC_VERSION}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


def spec_dict(features: tuple[Feature, ...], id_column: str, label: str) -> dict[str, Any]:
    """The JSON form of a feature spec."""
    return {
        "version": version_of(features),
        "id": id_column,
        "label": label,
        "features": [{"name": f.name, "kind": f.kind, "description": f.description} for f in features],
    }


def read_spec(path: Path) -> dict[str, Any]:
    """Load and check a ``feature_spec.json``; a StageError names the file when it is missing or broken."""
    if not path.is_file():
        raise StageError(f"missing input file {path}")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StageError(f"{path}: not valid JSON ({exc})") from exc
    for key in ("version", "id", "label", "features"):
        if key not in spec:
            raise StageError(f"{path}: no field {key!r}")
    return spec


def feature_shards(input_dir: Path) -> list[tuple[str, Path, Path]]:
    """``(shard, features.parquet, feature_spec.json)`` for each shard directory of a features output,
    sorted by shard; a directory that holds the two files itself counts as one shard named after it."""
    if (input_dir / FEATURES_FILE).is_file():
        dirs = [input_dir]
    else:
        dirs = sorted(d for d in input_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    shards = []
    for d in dirs:
        parquet, spec = d / FEATURES_FILE, d / SPEC_FILE
        if not parquet.is_file():
            raise StageError(f"missing input file {parquet}")
        if not spec.is_file():
            raise StageError(f"missing input file {spec}")
        shards.append((d.name, parquet, spec))
    return shards
