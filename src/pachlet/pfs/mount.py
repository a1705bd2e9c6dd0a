"""mount: materialize repos read-only into a folder (for Jupyter or a shell), by hard links.

Each ``repo`` or ``repo@ref`` becomes ``<target>/<repo>/`` holding the files of that commit as hard
links to the object store (copies when the target is on another file system), mode 0444. A later mount
replaces what an earlier one wrote (and a ``.pachlet-mount`` marker guards against wiping a folder
pachlet did not create).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from pachlet.errors import NotFoundError, PachletError
from pachlet.store import Store

MARKER = ".pachlet-mount"


def _make_writable(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)


class MountOps:
    """mount of ``PFS``."""

    store: Store

    def mount(self, target: Path, repos: Sequence[str] | None) -> list[Path]:
        """Materialize ``repos`` (``repo`` or ``repo@ref``; default every repo at ``master``) read-only
        under ``target/<repo>/``; returns the directories written."""
        entries = list(repos) if repos else [r.name for r in self.list_repos()]
        target.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for entry in entries:
            repo, _, ref = entry.partition("@")
            ref = ref or "master"
            try:
                commit = self.inspect_commit(repo, ref)
            except NotFoundError:
                if ref != "master":
                    raise
                self.inspect_repo(repo)
                commit = None  # a repo with no commit yet mounts as an empty folder
            dest = target / repo
            if dest.exists():
                if not (dest / MARKER).exists():
                    raise PachletError(
                        f"cannot mount {repo} at {dest}: the folder exists and was not made by pachlet mount"
                    )
                _make_writable(dest)
                shutil.rmtree(dest)
            dest.mkdir()
            files = self.walk_files(repo, commit.id) if commit is not None else []
            for f in files:
                out = dest / f.path.lstrip("/")
                out.parent.mkdir(parents=True, exist_ok=True)
                self.store.link_object(f.hash, out)
            (dest / MARKER).write_text(
                json.dumps({"repo": repo, "ref": ref, "commit": commit.id if commit else None}) + "\n"
            )
            for d in sorted((p for p in dest.rglob("*") if p.is_dir()), reverse=True):
                d.chmod(0o555)
            dest.chmod(0o555)
            written.append(dest)
        return written
