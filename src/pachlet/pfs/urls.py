"""Put file from a URL: the sources pachd's ``putFileURL`` reads (v2.7.6 ``src/server/pfs/server/url.go``).

- ``http://`` / ``https://``: one GET; a status of 400 or more is ``error retrieving content from
  "<url>": <status>``, as pachd says. ``recursive`` does not apply (pachd ignores it there too).
- ``file://<path>``: the local file (pachd opens it as an object-storage bucket on the local file
  system); with ``recursive`` every file under ``<path>``, each put at ``<dst>/<its path below <path>>``
  (pachd's ``putFileURLRecursive`` over the bucket's listing).

Other schemes (``s3://``, ``gs://``, ``as://``...) need object-storage credentials pachlet does not have:
they are refused naming the scheme.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import BinaryIO

from pachlet.errors import NotFoundError, PachletError

URL_TIMEOUT_SECONDS = 60.0
SCHEMES = ("http", "https", "file")


def is_url(source: str) -> bool:
    """Whether a ``put file -f`` source is a URL (pachctl: ``url.Parse`` gives a scheme); a Windows
    drive letter or a plain path is not."""
    scheme = urllib.parse.urlparse(source).scheme
    return len(scheme) > 1


def _join(dst: str, rel: str) -> str:
    return dst.rstrip("/") + "/" + rel if rel else dst


def open_url(url: str, dst: str, *, recursive: bool = False) -> Iterator[tuple[str, BinaryIO]]:
    """``(path, stream)`` for each file ``url`` names, ``path`` being where it lands under ``dst``.
    Each stream is closed when the iteration moves on."""
    parsed = urllib.parse.urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        # only when a URL is fetched: urllib.request costs ~25 ms to import
        from urllib.error import HTTPError, URLError
        from urllib.request import urlopen

        try:
            resp = urlopen(url, timeout=URL_TIMEOUT_SECONDS)  # noqa: S310 - scheme checked
        except HTTPError as exc:
            raise PachletError(f'error retrieving content from "{url}": {exc.code} {exc.reason}') from None
        except (URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PachletError(f'error retrieving content from "{url}": {reason}') from None
        with closing(resp):
            yield dst, resp
        return
    if scheme != "file":
        raise PachletError(
            f"put file from a {scheme}:// URL is not supported by pachlet (supported: http, https, file)"
        )
    root = Path(urllib.parse.unquote(parsed.netloc + parsed.path))
    if root.is_file():
        with open(root, "rb") as fh:
            yield dst, fh
        return
    if not root.exists():
        raise NotFoundError(f"{url}: no such file or directory")
    if not recursive:
        raise PachletError(f"{url} is a directory; put it with recursive (put file -r)")
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            with open(full, "rb") as fh:
                yield _join(dst, full.relative_to(root).as_posix()), fh
