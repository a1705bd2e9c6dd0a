"""Secrets: Kubernetes Secret manifests stored under the root (never printed, never logged)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pachlet.errors import NotFoundError, PachletError
from pachlet.records import SecretInfo
from pachlet.store import Store
from pachlet.timeutil import now_ts, to_dt


@dataclass(frozen=True)
class SecretManifest:
    """A validated Kubernetes Secret manifest: name, type and the decoded values."""

    name: str
    type: str
    values: dict[str, str]


def parse_manifest(manifest: Any) -> SecretManifest:
    """Validate a Kubernetes Secret manifest (as pachd's CreateSecret takes it) and decode its values:
    ``data`` base64-decoded, ``stringData`` as is, merged. Errors name the field; no value is ever
    part of a message."""
    if not isinstance(manifest, Mapping):
        raise PachletError("secret manifest must be a mapping (a Kubernetes Secret)")
    kind = manifest.get("kind", "Secret")
    if kind != "Secret":
        raise PachletError(f"secret manifest: field 'kind': expected Secret, got {kind!r}")
    name = (manifest.get("metadata") or {}).get("name")
    if not name:
        raise PachletError("secret manifest: field 'metadata.name' is required")
    for section in ("data", "stringData"):
        if not isinstance(manifest.get(section) or {}, Mapping):
            raise PachletError(f"secret {name}: field {section!r} must be a mapping of key to value")
    values: dict[str, str] = {}
    for key, raw in (manifest.get("data") or {}).items():
        try:
            values[str(key)] = base64.b64decode(str(raw), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise PachletError(f"secret {name}: field 'data.{key}' is not valid base64 text") from None
    for key, raw in (manifest.get("stringData") or {}).items():
        values[str(key)] = str(raw)
    return SecretManifest(str(name), str(manifest.get("type") or "Opaque"), values)


def load_manifest_text(text: str | bytes) -> SecretManifest:
    """A Secret manifest from its JSON or YAML text (``pachctl create secret -f``, pachd's
    CreateSecret ``file``)."""
    import yaml

    from pachlet import yamlfile

    try:
        doc = yamlfile.load(text)  # JSON is YAML
    except yamlfile.DuplicateKeyError as exc:
        raise PachletError(f"secret manifest: {exc}") from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise PachletError(f"secret manifest is not a YAML/JSON document: {first}") from None
    return parse_manifest(doc)


class Secrets:
    """CRUD over the ``secrets`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, manifest: Mapping[str, Any] | SecretManifest) -> SecretInfo:
        """Store a Secret manifest (``data`` base64-decoded, ``stringData`` as is; merged)."""
        m = manifest if isinstance(manifest, SecretManifest) else parse_manifest(manifest)
        with self.store.tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO secrets(name, type, data, created) VALUES(?,?,?,?)",
                (m.name, m.type, json.dumps(m.values), now_ts()),
            )
        return self.inspect(m.name)

    def _row(self, name: str) -> Any:
        row = self.store.conn().execute("SELECT * FROM secrets WHERE name=?", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"secret {name} not found")
        return row

    @staticmethod
    def _info(row: Any) -> SecretInfo:
        return SecretInfo(
            name=row["name"],
            type=row["type"],
            keys=tuple(sorted(json.loads(row["data"]))),
            created=to_dt(row["created"]),  # type: ignore[arg-type]
        )

    def inspect(self, name: str) -> SecretInfo:
        """A secret's metadata."""
        return self._info(self._row(name))

    def list(self) -> list[SecretInfo]:
        """Every secret's metadata, by name."""
        rows = self.store.conn().execute("SELECT * FROM secrets ORDER BY name").fetchall()
        return [self._info(r) for r in rows]

    def delete(self, name: str) -> None:
        """Delete a secret."""
        with self.store.tx() as c:
            if c.execute("DELETE FROM secrets WHERE name=?", (name,)).rowcount == 0:
                raise NotFoundError(f"secret {name} not found")

    def values(self, name: str) -> dict[str, str]:
        """All values of a secret."""
        return dict(json.loads(self._row(name)["data"]))

    def value(self, name: str, key: str) -> str:
        """One value of a secret."""
        vals = self.values(name)
        if key not in vals:
            raise NotFoundError(f"secret {name} has no key {key!r}")
        return vals[key]
