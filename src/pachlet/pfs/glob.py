"""Pachyderm's glob patterns (github.com/pachyderm/ohmyglob), compiled to Python regular expressions.

ohmyglob compiles a glob to a regular expression anchored at both ends (``compiler/compiler.go``):

- ``*`` -> ``[^/]*`` (never crosses ``/``), ``**`` -> ``.*`` (crosses ``/``), ``?`` -> ``[^/]``;
- ``[abc]``, ``[a-z]``, ``[!x]`` / ``[^x]`` character classes; ``{a,b}`` alternatives (not captured);
- ``(a|b)`` and ``@(a|b)`` capture one alternative, ``*(..)``, ``+(..)``, ``?(..)`` capture repetitions,
  ``!(..)`` captures anything but the alternatives; ``\\c`` escapes ``c``.

Capture groups number from 1 in the order their ``(`` appears; ``replace("$1-$2")`` expands them like
ohmyglob's ``Glob.Replace`` (``$$`` is a literal ``$``, ``${n}`` works, ``$0`` is the whole match, an
unknown group expands to the empty string). Matching against repo paths follows PFS's ``globFile``
(``src/server/pfs/server/paths.go``): the glob is cleaned (``/`` prefix, trailing ``/`` dropped), the path's
trailing ``/`` is trimmed, and ``/`` matches the root only when the glob is exactly ``/``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pachlet.pfs.paths import clean_path

_CLOSE_NEG = "\uffff"  # ohmyglob's closeNegDummy
_BOUNDARY = "\ufffe"  # ohmyglob's boundaryDummy
_DOT = "[^/]"


class GlobError(ValueError):
    """A glob pattern that ohmyglob would refuse to compile."""


class _Parser:
    """Recursive-descent port of ohmyglob's lexer + parser + compiler (one pass, straight to regex)."""

    def __init__(self, pattern: str, dot: str = _DOT) -> None:
        self.s = pattern
        self.i = 0
        self.groups = 0
        self.dot = dot

    def error(self, msg: str) -> GlobError:
        return GlobError(f"invalid glob {self.s!r}: {msg} at position {self.i}")

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def parse(self) -> str:
        out = self.sequence(stop=())
        if self.i < len(self.s):
            raise self.error(f"unexpected {self.s[self.i]!r}")
        return out

    def sequence(self, stop: tuple[str, ...]) -> str:
        parts: list[str] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in stop:
                break
            parts.append(self.term())
        return "".join(parts)

    def alternatives(self, sep: str, close: str, what: str) -> list[str]:
        alts = [self.sequence(stop=(sep, close))]
        while True:
            c = self.peek()
            if c == sep:
                self.i += 1
                alts.append(self.sequence(stop=(sep, close)))
            elif c == close:
                self.i += 1
                return alts
            else:
                raise self.error(f"unclosed {what}")

    def capture(self, quantifier: str) -> str:
        self.groups += 1
        if quantifier == "!":
            inner = (_CLOSE_NEG + "|").join(self.alternatives("|", ")", "capture group '('"))
            return f"((?:(?!(?:{inner}{_CLOSE_NEG})){self.dot}*))"
        inner = "|".join(self.alternatives("|", ")", "capture group '('"))
        if quantifier == "@":
            return f"({inner})"
        return f"((?:{inner}){quantifier})"

    def term(self) -> str:
        c = self.s[self.i]
        nxt = self.peek(1)
        if c == "*":
            if nxt == "*" and self.peek(2) != "(":
                self.i += 2
                return ".*" + _BOUNDARY
            if nxt == "(":
                self.i += 2
                return self.capture("*")
            self.i += 1
            return self.dot + "*" + _BOUNDARY
        if c == "?":
            if nxt == "(":
                self.i += 2
                return self.capture("?")
            self.i += 1
            return self.dot
        if c in "@!^+" and nxt == "(":
            self.i += 2
            return self.capture(c)
        if c == "(":
            self.i += 1
            return self.capture("@")
        if c == "{":
            self.i += 1
            alts = self.alternatives(",", "}", "alternatives '{'")
            return "(?:" + "|".join(alts) + ")"
        if c == "[":
            return self.char_class()
        return self.text()

    def text(self) -> str:
        buf: list[str] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "\\":
                if self.i + 1 >= len(self.s):
                    raise self.error("trailing escape '\\'")
                buf.append(self.s[self.i + 1])
                self.i += 2
                continue
            if c in "*?[{()|,}]" or (c in "@!^+" and self.peek(1) == "("):
                # A lone closer / separator outside its construct is plain text for ohmyglob.
                if not buf and c in "|,}])":
                    buf.append(c)
                    self.i += 1
                    continue
                break
            buf.append(c)
            self.i += 1
        return re.escape("".join(buf)) + _BOUNDARY

    def char_class(self) -> str:
        start = self.i
        self.i += 1
        negate = False
        if self.peek() in ("!", "^"):
            negate = True
            self.i += 1
        items: list[str] = []
        while True:
            if self.i >= len(self.s):
                self.i = start
                raise self.error("unclosed character class '['")
            c = self.s[self.i]
            if c == "]" and items:
                self.i += 1
                break
            if c == "]":
                raise self.error("empty character class '[]'")
            if c == "\\" and self.i + 1 < len(self.s):
                c = self.s[self.i + 1]
                self.i += 1
            self.i += 1
            if self.peek() == "-" and self.peek(1) not in ("", "]"):
                hi = self.s[self.i + 1]
                self.i += 2
                if hi < c:
                    raise self.error(f"bad range {c}-{hi}")
                items.append(f"{re.escape(c)}-{re.escape(hi)}")
            else:
                items.append(re.escape(c))
        return "[" + ("^" if negate else "") + "".join(items) + "]"


@lru_cache(maxsize=512)
def _compile(pattern: str, separator: bool = True) -> tuple[re.Pattern[str], int]:
    p = _Parser(pattern, _DOT if separator else ".")
    regex = p.parse()
    idx = regex.find(_CLOSE_NEG + ")")
    if idx > 0:
        regex = regex.replace(_CLOSE_NEG, "" if _BOUNDARY in regex[idx:] else "$")
    regex = regex.replace(_BOUNDARY, "")
    try:
        return re.compile(r"\A" + regex + r"\Z", re.DOTALL), p.groups
    except re.error as e:  # pragma: no cover - the parser should catch everything first
        raise GlobError(f"invalid glob {pattern!r}: {e}") from e


class Glob:
    """A compiled Pachyderm glob (cleaned like PFS cleans it before matching)."""

    def __init__(self, pattern: str, *, pfs: bool = True) -> None:
        """``pfs=True``: clean the pattern and use ``/`` as separator, as Pachyderm does for repo paths;
        ``pfs=False``: ohmyglob's ``Compile(pattern)`` with no separator (``*`` matches anything)."""
        if not isinstance(pattern, str) or (pfs and pattern == ""):
            raise GlobError("invalid glob '': a glob is required")
        self.pattern = clean_path(pattern) if pfs else pattern
        self.regex, self.groups = _compile(self.pattern, pfs)

    def match(self, path: str) -> bool:
        """Whether a repo path (file ``/a/b.csv`` or directory ``/a/``) matches, as PFS globFile decides."""
        if path == "/" and self.pattern == "/":
            return True
        return self.regex.match(path.rstrip("/")) is not None

    def captures(self, path: str) -> list[str] | None:
        """The whole match then each capture group (empty string when a group did not take part)."""
        m = self.regex.match(path.rstrip("/"))
        if m is None:
            return None
        return [m.group(0)] + [g or "" for g in m.groups()]

    def replace(self, path: str, template: str) -> str:
        """ohmyglob's ``Glob.Replace``: expand ``$n`` / ``${n}`` in ``template`` from ``path``'s captures."""
        match = self.captures(path) or []
        out: list[str] = []
        i = 0
        while i < len(template):
            c = template[i]
            if c != "$":
                out.append(c)
                i += 1
                continue
            if template[i + 1 : i + 2] == "$":
                out.append("$")
                i += 2
                continue
            m = re.match(r"\$(?:\{(\d+)\}|(\d+))", template[i:])
            if not m:
                out.append("$")
                i += 1
                continue
            name = m.group(1) or m.group(2)
            i += m.end()
            if len(name) > 1 and name[0] == "0":
                continue
            num = int(name)
            if num < len(match):
                out.append(match[num])
        return "".join(out)


def compile_glob(pattern: str) -> Glob:
    """Compile a glob, raising ``GlobError`` with a one-line message when it is malformed."""
    return Glob(pattern)


def max_group_ref(template: str) -> int:
    """The highest ``$n`` / ``${n}`` a joinOn / groupBy template refers to (0 when none)."""
    refs = [int(a or b) for a, b in re.findall(r"(?<!\$)\$(?:\{(\d+)\}|(\d+))", template)]
    return max(refs, default=0)
