"""Stable assignment of users to CSV shards: the same MSNO lands in the same shard on every run."""

from __future__ import annotations

import hashlib


def shard_of(msno: str, shards: int) -> int:
    """The shard of ``msno``: the first 8 bytes of md5(MSNO) as a big-endian integer, modulo ``shards``."""
    digest = hashlib.md5(msno.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big") % shards


def shard_name(index: int) -> str:
    """``shard-NN`` (two digits) for shard ``index``."""
    return f"shard-{index:02d}"
