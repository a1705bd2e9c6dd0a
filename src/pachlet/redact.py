"""Redaction, in one place: passwords in URLs and secret values in messages and logs.

- ``redact_url(url)``: one URL (or URL-ish text). The password of every ``scheme://user:password@``
  userinfo and the values of ``password``, ``passwd``, ``pwd`` and ``token`` query parameters are
  masked. Safe on text that is not a URL (it comes back unchanged).
- ``redact_values(text, secrets)``: every occurrence of each secret value masked (``str`` or ``bytes``,
  e.g. a datum's log file).
- ``redact_text(text, secrets)``: a message that may hold URLs among other words: the secret values,
  then every URL in it (a run of non-blank characters containing ``://``) as ``redact_url`` does.
- ``StreamRedactor(secrets)``: the same masking over a byte stream fed in arbitrary chunks (a datum's
  output as it is produced): a value split across chunks is still masked, because a tail that could be
  the start of a value is held back until the next chunk (or ``flush``) shows how it ends.

The mask is ``********`` unless the caller passes its own (churn's warehouse messages use ``***``,
datum logs ``[REDACTED]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import AnyStr

MASK = "********"
"""The default replacement for a password or secret value."""

# The userinfo password: what follows "user:" up to the last "@" before the path, as urlsplit reads it.
# Anything but "/" may be in it, so a malformed password (with "@", "?", "#" or blanks) is masked whole.
_USERINFO_RE = re.compile(r"(?P<head>://[^/@:]*):[^/]*@")
_QUERY_SECRET_RE = re.compile(r"(?P<head>[?&](?:password|passwd|pwd|token)=)[^&#]*", re.IGNORECASE)
# A URL inside a message: the non-blank run around "://" (a URL holds no blanks), so the rest of the
# message is never taken for a password.
_URL_IN_TEXT_RE = re.compile(r"\S*://\S*")
# Punctuation a message puts right after a URL ("... to snowflake://u@a/DB: table ...").
_TRAILING_RE = re.compile(r"[:;,.)'\"]+$")


def redact_url(url: str, *, mask: str = MASK) -> str:
    """``url`` with its userinfo password and its password/token query values replaced by ``mask``."""
    url = _USERINFO_RE.sub(lambda m: f"{m.group('head')}:{mask}@", url)
    return _QUERY_SECRET_RE.sub(lambda m: f"{m.group('head')}{mask}", url)


def redact_values(text: AnyStr, secrets: Iterable[str | None], *, mask: str = MASK) -> AnyStr:
    """``text`` with every occurrence of each non-empty secret replaced by ``mask``. Longer secrets go
    first, so a secret that contains another is masked whole."""
    values = sorted({s for s in secrets if s}, key=len, reverse=True)
    if isinstance(text, bytes):
        out_bytes: bytes = text
        for value in values:
            out_bytes = out_bytes.replace(value.encode(), mask.encode())
        return out_bytes
    out: str = text
    for value in values:
        out = out.replace(value, mask)
    return out


def _redact_url_token(match: re.Match[str], mask: str) -> str:
    token = match.group()
    trailing = _TRAILING_RE.search(token)
    if trailing is None:
        return redact_url(token, mask=mask)
    return redact_url(token[: trailing.start()], mask=mask) + trailing.group()


def redact_text(text: str, secrets: Iterable[str | None] = (), *, mask: str = MASK) -> str:
    """A message with the ``secrets`` and the passwords of the URLs it holds replaced by ``mask``."""
    text = redact_values(text, secrets, mask=mask)
    return _URL_IN_TEXT_RE.sub(lambda m: _redact_url_token(m, mask), text)


class StreamRedactor:
    """``redact_values`` over a byte stream: ``feed`` chunks, get back what is safe to write now (every
    secret value masked, even one split across chunks); ``flush`` at the end returns the held-back
    tail, masked. Only a tail that could be the start of a value is held back, so a line that does not
    end like one is written at once. Longer values win over values they contain, as in
    ``redact_values``."""

    def __init__(self, secrets: Iterable[str | None], *, mask: str = MASK) -> None:
        self._values = sorted({s.encode() for s in secrets if s}, key=len, reverse=True)
        self._mask = mask.encode()
        self._pattern = re.compile(b"|".join(re.escape(v) for v in self._values)) if self._values else None
        self._pending = b""

    def _partial(self, buf: bytes) -> int:
        """The length of the longest tail of ``buf`` that is a proper prefix of a value."""
        for k in range(min(len(buf), len(self._values[0]) - 1), 0, -1):
            tail = buf[-k:]
            if any(len(v) > k and v.startswith(tail) for v in self._values):
                return k
        return 0

    def feed(self, chunk: bytes) -> bytes:
        """The masked bytes of ``chunk`` (with what was held back before) that no later byte can change."""
        if self._pattern is None:
            return chunk
        buf = self._pending + chunk
        # a value that goes on past ``buf`` starts at or after ``limit``; one starting before it is
        # whole in ``buf`` (and the longest there), so the regex sees it
        limit = len(buf) - self._partial(buf)
        out: list[bytes] = []
        pos = 0
        for m in self._pattern.finditer(buf):
            if m.start() >= limit:
                break
            out += [buf[pos : m.start()], self._mask]
            pos = m.end()
        cut = max(pos, limit)
        out.append(buf[pos:cut])
        self._pending = buf[cut:]
        return b"".join(out)

    def flush(self) -> bytes:
        """The held-back tail, masked (call once the stream has ended)."""
        tail, self._pending = self._pending, b""
        if self._pattern is None or not tail:
            return tail
        return self._pattern.sub(lambda _m: self._mask, tail)
