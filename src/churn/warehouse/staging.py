"""The embedded warehouse's stage files, kept under the warehouse directory and removed.

fakesnow keeps every stage (``PUT`` targets, e.g. the egress's table stage) in one directory per process,
``/tmp/fakesnow_bucket_*``, and never removes it: a process killed mid-egress leaves staged Parquet of
table data there. The embedded session points fakesnow at ``<warehouse>/staging/<pid>-<random>/``
(mode 0700) instead, for the life of each outermost connection, and removes it when the connection
closes. Directories left by a process that died are removed by the next connection (which holds the
warehouse lock, so no other process can be using one) and reported and removed by
``churn warehouse fsck [--fix]``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

STAGING_DIR = "staging"


def staging_root(db_dir: Path) -> Path:
    """Where the embedded warehouse's per-connection stage directories live."""
    return db_dir / STAGING_DIR


def _size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def leftovers(db_dir: Path, *, keep: Path | None = None) -> list[tuple[Path, int, int]]:
    """Stage directories under ``db_dir`` other than ``keep``: (path, files, bytes). Call with the
    warehouse lock held (then no other process uses any of them)."""
    root = staging_root(db_dir)
    if not root.is_dir():
        return []
    return [(p, *_size(p)) for p in sorted(root.iterdir()) if p != keep]


def remove(path: Path) -> None:
    """Remove one stage directory (its staged files with it)."""
    shutil.rmtree(path, ignore_errors=True)


def open_staging(db_dir: Path) -> Path:
    """Sweep leftovers, create this connection's stage directory and point fakesnow at it."""
    import fakesnow.transforms.stage as fs_stage

    for path, _files, _bytes in leftovers(db_dir):
        remove(path)
    root = staging_root(db_dir)
    root.mkdir(mode=0o700, exist_ok=True)
    path = root / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    path.mkdir(mode=0o700)
    previous = Path(fs_stage.LOCAL_BUCKET_PATH)
    fs_stage.LOCAL_BUCKET_PATH = str(path)
    # fakesnow's own directory, made when it was imported: empty unless something staged outside us
    if previous.name.startswith("fakesnow_bucket_") and previous.is_dir() and not any(previous.iterdir()):
        previous.rmdir()
    return path


def close_staging(path: Path) -> None:
    """Remove this connection's stage directory (the staged files have been loaded or rolled back)."""
    remove(path)


def check(db_dir: Path, *, fix: bool) -> list[str]:
    """Leftover stage directories (of a process that died mid-connection), one line each; removed with
    ``fix``. Call with the warehouse lock held."""
    found = []
    for path, files, size in leftovers(db_dir):
        found.append(
            f"{'removed' if fix else 'found'} leftover stage directory {path} ({files} file(s), {size} bytes)"
        )
        if fix:
            remove(path)
    return found


def fsck(db_dir: Path, *, fix: bool, lock_timeout: float | None = None) -> list[str]:
    """``check`` under the warehouse lock (waiting as long as pachlet's one lock-timeout setting says)."""
    from churn.warehouse.errors import WarehouseError
    from churn.warehouse.lock import WarehouseLock
    from pachlet.errors import PachletError
    from pachlet.lock import lock_timeout as resolve_lock_timeout

    if not db_dir.is_dir():
        return []
    try:
        timeout = resolve_lock_timeout(lock_timeout)
    except PachletError as exc:
        raise WarehouseError(f"embedded warehouse {db_dir}: {exc}") from None
    lock = WarehouseLock(db_dir.resolve())
    lock.acquire(timeout)
    try:
        return check(db_dir, fix=fix)
    finally:
        lock.release()
