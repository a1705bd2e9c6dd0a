"""pachlet's persistent state: the SQLite metadata database and the content-addressed object store.

Layout under the root::

    pachlet.db          SQLite (WAL): repos, branches, commits, files, pipelines, jobs, datums, secrets
    objects/ab/cdef...  file contents named by sha256 (written to objects/tmp, fsynced, renamed)
    scratch/            per-datum working roots (removed after each datum; stale ones by fsck --fix)
    logs/               datum logs, logs/<pipeline>/<job id>/<datum id>.log

Every mutation runs in one SQLite transaction (``Store.tx``); an object is always durable before a row
referencing it commits, so a crash leaves at worst orphan objects, which ``fsck --fix`` removes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from pathlib import Path
from typing import BinaryIO

from pachlet.errors import PachletError

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repos(
    name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '', created REAL NOT NULL,
    pipeline TEXT, kind TEXT NOT NULL DEFAULT 'user');
CREATE TABLE IF NOT EXISTS branches(
    repo TEXT NOT NULL, name TEXT NOT NULL, head TEXT, provenance TEXT NOT NULL DEFAULT '[]',
    created REAL NOT NULL, PRIMARY KEY(repo, name));
CREATE TABLE IF NOT EXISTS commits(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    repo TEXT NOT NULL, id TEXT NOT NULL, branch TEXT NOT NULL, origin TEXT NOT NULL, parent TEXT,
    started REAL NOT NULL, finished REAL, description TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '', size INTEGER NOT NULL DEFAULT 0,
    transient INTEGER NOT NULL DEFAULT 0, owner_pid INTEGER,
    UNIQUE(repo, id));
CREATE INDEX IF NOT EXISTS commits_by_id ON commits(id);
CREATE TABLE IF NOT EXISTS provenance(
    repo TEXT NOT NULL, commit_id TEXT NOT NULL, prov_repo TEXT NOT NULL, prov_branch TEXT NOT NULL,
    prov_commit TEXT NOT NULL, PRIMARY KEY(repo, commit_id, prov_repo, prov_branch));
CREATE TABLE IF NOT EXISTS files(
    repo TEXT NOT NULL, commit_id TEXT NOT NULL, path TEXT NOT NULL, hash TEXT NOT NULL,
    size INTEGER NOT NULL, PRIMARY KEY(repo, commit_id, path)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_by_hash ON files(hash);
CREATE TABLE IF NOT EXISTS staging(
    repo TEXT NOT NULL, commit_id TEXT NOT NULL, path TEXT NOT NULL, hash TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(repo, commit_id, path)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pipelines(
    name TEXT PRIMARY KEY, spec TEXT NOT NULL, version INTEGER NOT NULL, salt TEXT NOT NULL,
    state TEXT NOT NULL, created REAL NOT NULL, updated REAL);
CREATE TABLE IF NOT EXISTS pipeline_versions(
    name TEXT NOT NULL, version INTEGER NOT NULL, spec TEXT NOT NULL, salt TEXT NOT NULL,
    created REAL NOT NULL, PRIMARY KEY(name, version));
CREATE TABLE IF NOT EXISTS jobs(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, created REAL NOT NULL,
    started REAL, finished REAL, processed INTEGER NOT NULL DEFAULT 0, skipped INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0, recovered INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT '', pipeline_version INTEGER NOT NULL, restart INTEGER NOT NULL DEFAULT 0,
    owner_pid INTEGER, parent_job TEXT, upload_bytes INTEGER NOT NULL DEFAULT 0,
    download_bytes INTEGER NOT NULL DEFAULT 0, runtime TEXT NOT NULL DEFAULT '', UNIQUE(pipeline, id));
CREATE INDEX IF NOT EXISTS jobs_by_id ON jobs(id);
CREATE TABLE IF NOT EXISTS datums(
    pipeline TEXT NOT NULL, job_id TEXT NOT NULL, datum_id TEXT NOT NULL, idx INTEGER NOT NULL,
    state TEXT NOT NULL, hash TEXT NOT NULL, inputs TEXT NOT NULL, duration REAL NOT NULL DEFAULT 0,
    logs_path TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '',
    PRIMARY KEY(pipeline, job_id, datum_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS datum_outputs(
    pipeline TEXT NOT NULL, job_id TEXT NOT NULL, datum_id TEXT NOT NULL, path TEXT NOT NULL,
    hash TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY(pipeline, job_id, datum_id, path)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS datum_outputs_by_hash ON datum_outputs(hash);
CREATE TABLE IF NOT EXISTS secrets(
    name TEXT PRIMARY KEY, type TEXT NOT NULL, data TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cron_ticks(
    pipeline TEXT NOT NULL, input_name TEXT NOT NULL, last_tick REAL NOT NULL,
    PRIMARY KEY(pipeline, input_name));
CREATE TABLE IF NOT EXISTS transactions(
    id TEXT PRIMARY KEY, started REAL NOT NULL, requests TEXT NOT NULL DEFAULT '[]',
    responses TEXT NOT NULL DEFAULT '[]', version INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS projects(
    name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '', created REAL NOT NULL);
"""


_GLOBAL_ID: ContextVar[str | None] = ContextVar("pachlet_global_id", default=None)


def new_id() -> str:
    """A new commit / global ID: 32 lower-case hex characters (inside ``global_id_scope(gid)``: gid)."""
    return _GLOBAL_ID.get() or uuid.uuid4().hex


@contextmanager
def global_id_scope(gid: str | None) -> Iterator[None]:
    """Within the block (this thread), every new commit and job takes global ID ``gid``: a finished
    transaction's requests share one ID, as pachd's ``txnCtx.CommitSetID`` (None: fresh IDs)."""
    token = _GLOBAL_ID.set(gid)
    try:
        yield
    finally:
        _GLOBAL_ID.reset(token)


class Store:
    """The SQLite database and the object store of one root. Thread-safe: one connection per thread,
    writes serialized by a re-entrant lock plus ``BEGIN IMMEDIATE``."""

    def __init__(self, root: Path, *, read_only: bool = False) -> None:
        self.root = root
        self.read_only = read_only
        self.db_path = root / "pachlet.db"
        self.objects = root / "objects"
        self.tmp = self.objects / "tmp"
        self.scratch = root / "scratch"
        self.logs = root / "logs"
        if read_only and not self.db_path.exists():
            raise PachletError(f"no pachlet root at {root} (pachlet.db missing)")
        if not read_only:
            for d in (self.objects, self.tmp, self.scratch, self.logs):
                d.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self.write_lock = threading.RLock()
        self._closed = False
        if not read_only:
            conn = self.conn()
            conn.executescript(SCHEMA)
            cols = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
            if "runtime" not in cols:  # roots made before jobs recorded their runtime
                conn.execute("ALTER TABLE jobs ADD COLUMN runtime TEXT NOT NULL DEFAULT ''")
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            conn.execute(  # the default project always exists (pachd creates it at setup)
                "INSERT OR IGNORE INTO projects(name, description, created) VALUES('default', ?, ?)",
                ("", time.time()),
            )
            with suppress(OSError):
                os.chmod(self.db_path, 0o600)  # secrets live here

    # ------------------------------------------------------------------ connections
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit mode; use ``tx`` for writes)."""
        if self._closed:
            raise PachletError(f"pachlet root {self.root} is closed")
        c: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if c is None:
            if self.read_only:
                uri = f"file:{self.db_path}?mode=ro"
                c = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=60)
            else:
                c = sqlite3.connect(
                    str(self.db_path), isolation_level=None, check_same_thread=False, timeout=60
                )
                c.execute("PRAGMA journal_mode=WAL")
                c.execute("PRAGMA synchronous=NORMAL")
            c.execute("PRAGMA busy_timeout=60000")
            c.row_factory = sqlite3.Row
            self._local.conn = c
            self._local.depth = 0
            with self._conns_lock:
                self._conns.append(c)
        return c

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (re-entrant: nested uses join the outer transaction)."""
        if self.read_only:
            raise PachletError(f"pachlet root {self.root} is open read-only")
        with self.write_lock:
            c = self.conn()
            depth = self._local.depth
            if depth == 0:
                c.execute("BEGIN IMMEDIATE")
            self._local.depth = depth + 1
            try:
                yield c
            except BaseException:
                self._local.depth = depth
                if depth == 0:
                    self._local.after = []
                    c.execute("ROLLBACK")
                raise
            else:
                self._local.depth = depth
                if depth == 0:
                    c.execute("COMMIT")
                    self._run_after_commit()

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the outermost write transaction of this thread commits (dropped if it rolls
        back); outside a transaction, run it now. Garbage collection uses it: objects are unlinked only
        after the rows that referred to them are gone for good."""
        if getattr(self._local, "depth", 0) == 0:
            fn()
            return
        pending: list[Callable[[], None]] | None = getattr(self._local, "after", None)
        if pending is None:
            pending = self._local.after = []
        pending.append(fn)

    def _run_after_commit(self) -> None:
        pending: list[Callable[[], None]] = getattr(self._local, "after", None) or []
        self._local.after = []
        for fn in pending:
            fn()

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A consistent read across several queries (a deferred transaction, or the enclosing one)."""
        c = self.conn()
        if getattr(self._local, "depth", 0) > 0 or c.in_transaction:
            yield c
            return
        c.execute("BEGIN")
        try:
            yield c
        finally:
            c.execute("COMMIT")

    def close(self) -> None:
        """Close every connection (any thread's)."""
        self._closed = True
        with self._conns_lock:
            for c in self._conns:
                with suppress(sqlite3.Error):
                    c.close()
            self._conns.clear()

    # ------------------------------------------------------------------ objects
    def object_path(self, digest: str) -> Path:
        """Where the object with this sha256 hex digest lives."""
        return self.objects / digest[:2] / digest[2:]

    def has_object(self, digest: str) -> bool:
        """Whether the object exists."""
        return self.object_path(digest).exists()

    def _tmp_path(self) -> Path:
        return self.tmp / f"{os.getpid()}-{uuid.uuid4().hex}"

    def _install(self, tmp: Path, digest: str) -> None:
        """Move a fully written, fsynced temp file into place (or drop it if the object exists)."""
        dest = self.object_path(digest)
        if dest.exists():
            tmp.unlink(missing_ok=True)
            return
        dest.parent.mkdir(exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, dest)

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store bytes; returns (sha256 hex, size). Deduplicated."""
        digest = hashlib.sha256(data).hexdigest()
        if self.has_object(digest):
            return digest, len(data)
        tmp = self._tmp_path()
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        self._install(tmp, digest)
        return digest, len(data)

    def put_stream(self, src: BinaryIO) -> tuple[str, int]:
        """Store a binary stream's remaining content; returns (sha256 hex, size)."""
        h = hashlib.sha256()
        size = 0
        tmp = self._tmp_path()
        with open(tmp, "wb") as fh:
            while chunk := src.read(1 << 20):
                h.update(chunk)
                fh.write(chunk)
                size += len(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        self._install(tmp, h.hexdigest())
        return h.hexdigest(), size

    def put_path(self, path: Path, *, move: bool = False) -> tuple[str, int]:
        """Store a local file. With ``move`` the file itself is renamed into the store when new (it
        must be on the same file system and no longer needed by the caller)."""
        h = hashlib.sha256()
        size = 0
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
            if move:
                digest = h.hexdigest()
                if not self.has_object(digest):
                    os.fsync(fh.fileno())
        digest = h.hexdigest()
        if self.has_object(digest):
            return digest, size
        if move and not path.is_symlink():
            try:
                self._install(path, digest)
                return digest, size
            except OSError:
                pass
        with open(path, "rb") as fh:
            return self.put_stream(fh)

    def read_object(self, digest: str) -> bytes:
        """An object's bytes; ``PachletError`` if it is missing (a damaged store: run fsck)."""
        try:
            return self.object_path(digest).read_bytes()
        except FileNotFoundError:
            raise PachletError(
                f"object {digest} is missing from {self.objects} (run `pachlet fsck`)"
            ) from None

    def link_object(self, digest: str, dest: Path) -> None:
        """Materialize an object at ``dest`` by hard link (copy if linking is impossible)."""
        src = self.object_path(digest)
        try:
            os.link(src, dest)
        except FileExistsError:
            dest.unlink()
            os.link(src, dest)
        except OSError:
            if not src.exists():
                raise PachletError(
                    f"object {digest} is missing from {self.objects} (run `pachlet fsck`)"
                ) from None
            shutil.copyfile(src, dest)
            os.chmod(dest, 0o444)

    # ------------------------------------------------------------------ garbage collection
    def unreferenced(self, c: sqlite3.Connection, digests: Iterable[str]) -> set[str]:
        """Those of ``digests`` no row refers to any more: no commit's files, no open commit's staged
        file, no datum output (read in ``c``)."""
        out: set[str] = set()
        for d in set(digests):
            if not d:
                continue
            used = c.execute(
                "SELECT 1 FROM files WHERE hash=? UNION ALL SELECT 1 FROM staging WHERE hash=? AND deleted=0"
                " UNION ALL SELECT 1 FROM datum_outputs WHERE hash=? LIMIT 1",
                (d, d, d),
            ).fetchone()
            if used is None:
                out.add(d)
        return out

    def delete_objects(self, digests: Iterable[str]) -> int:
        """Unlink objects (missing ones are skipped); returns how many were removed."""
        removed = 0
        for d in digests:
            path = self.object_path(d)
            with suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        return removed

    def object_count(self) -> int:
        """How many objects the store holds (temp files not counted)."""
        if not self.objects.exists():
            return 0
        return sum(
            1 for sub in self.objects.iterdir() if sub.name != "tmp" and sub.is_dir() for _ in sub.iterdir()
        )
