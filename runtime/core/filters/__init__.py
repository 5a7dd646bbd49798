"""containerd's filter language: how ``ctr`` narrows lists (``plugins ls id==native``).

A *filter* is one or more *selectors* joined by ``,`` (all must match). A list of filters
matches when **any** of them does. A selector is a field path, optionally an operator and a
value::

    labels."io.example"        field present
    name==busybox              equal
    type!=io.containerd.grpc.v1  not equal
    name~=^docker.io/          regular expression (value may be quoted /like this/)

Field path parts and values may be double-quoted (Go string escapes). An empty filter
matches everything.

>>> f = parse_all(['id==native', 'type==io.containerd.grpc.v1'])
>>> f.match(adapt({"id": "overlayfs", "type": "io.containerd.grpc.v1"}))
True
>>> f.match(adapt({"id": "overlayfs", "type": "io.containerd.snapshotter.v1"}))
False
>>> parse('name==')
Traceback (most recent call last):
...
pyctrd.errdefs.InvalidArgument: filters: parse error: [name== <<<]: expected value or quoted: invalid argument
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ...errdefs import InvalidArgument

__all__ = ["ALWAYS", "Adaptor", "Filter", "Selector", "adapt", "parse", "parse_all"]

FieldPath = Sequence[str]


class Adaptor(Protocol):
    """Looks up a field path on an object: ``(value, present)``."""

    def __call__(self, fieldpath: FieldPath, /) -> tuple[str, bool]: ...


@dataclass(frozen=True)
class Selector:
    fieldpath: tuple[str, ...]
    operator: str = ""  # "", "==", "!=", "~="
    value: str = ""

    def match(self, adaptor: Adaptor) -> bool:
        value, present = adaptor(self.fieldpath)
        if self.operator == "":
            return present
        if self.operator == "==":
            return present and value == self.value
        if self.operator == "!=":
            return value != self.value
        return bool(_regex(self.value).search(value))

    def __str__(self) -> str:
        return ".".join(self.fieldpath) + self.operator + self.value


def _regex(expr: str) -> re.Pattern[str]:
    try:
        return re.compile(expr)
    except (re.error, RecursionError, OverflowError) as exc:  # "(" * 500 recurses in the compiler
        raise InvalidArgument(f"filters: invalid regular expression {expr[:200]!r}: "
                              f"{exc if isinstance(exc, re.error) else 'too deeply nested'}") from None


class Filter:
    """Matches an adaptor: any of ``conjunctions`` whose selectors all match."""

    def __init__(self, conjunctions: Sequence[Sequence[Selector]] = ()) -> None:
        self.conjunctions = [tuple(c) for c in conjunctions]

    def match(self, adaptor: Adaptor) -> bool:
        if not self.conjunctions:
            return True
        return any(all(s.match(adaptor) for s in conj) for conj in self.conjunctions)

    def __call__(self, obj: Any) -> bool:
        """Match a plain object (dict, dataclass, protobuf message) through :func:`adapt`."""
        return self.match(obj if callable(obj) and not hasattr(obj, "DESCRIPTOR") else adapt(obj))

    def __repr__(self) -> str:
        return "Filter(" + " || ".join(",".join(map(str, c)) for c in self.conjunctions) + ")"


ALWAYS = Filter()

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<quoted>"(?:[^"\\]|\\.)*")
      | (?P<regex>/(?:[^/\\]|\\.)*/)
      | (?P<op>==|!=|~=)
      | (?P<sep>[.,])
      | (?P<field>[A-Za-z0-9_\-/:@*+]+)
    )""",
    re.VERBOSE,
)
_VALUE = re.compile(r"[^,]+")


#: Go's escapes (strconv.Unquote), the only ones containerd's scanner takes.
_ESCAPES = re.compile(r"""(?:[^\\]|\\(?:[abfnrtv\\'"]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}))*""",
                      re.DOTALL)


def _unquote(tok: str) -> str:
    body = tok[1:-1]
    if tok[0] == "/":
        return body.replace("\\/", "/")
    if not _ESCAPES.fullmatch(body):
        raise InvalidArgument(f"filters: invalid escape sequence in {tok[:200]!r}")
    try:
        return body.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"filters: bad quoted string {tok!r}") from exc


def parse(text: str) -> Filter:
    """Parse one filter string (selectors joined by ``,``)."""
    text = text.strip()
    if not text:
        return ALWAYS
    pos, selectors = 0, []

    def fail(msg: str) -> InvalidArgument:
        return InvalidArgument(f"filters: parse error: [{text[:pos]} <<< {text[pos:]}]".replace(" <<< ]", " <<<]")
                               + f": {msg}")

    while True:
        path: list[str] = []
        while True:
            m = _TOKEN.match(text, pos)
            if not m or not (m.group("field") or m.group("quoted")):
                raise fail("expected field or quoted")
            path.append(m.group("field") or _unquote(m.group("quoted")))
            pos = m.end()
            m = _TOKEN.match(text, pos)
            if m and m.group("sep") == ".":
                pos = m.end()
                continue
            break
        op, value = "", ""
        m = _TOKEN.match(text, pos)
        if m and m.group("op"):
            op, pos = m.group("op"), m.end()
            while pos < len(text) and text[pos] == " ":
                pos += 1
            if pos < len(text) and text[pos] in "\"/" and (text[pos] == '"' or op == "~="):
                m = _TOKEN.match(text, pos)
                if not m or not (m.group("quoted") or m.group("regex")):
                    raise fail("unterminated quoted value")
                value, pos = _unquote(m.group("quoted") or m.group("regex")), m.end()
            else:
                m = _VALUE.match(text, pos)
                if not m:
                    raise fail("expected value or quoted")
                value, pos = m.group(0).strip(), m.end()
            if op == "~=":
                _regex(value)
        selectors.append(Selector(tuple(path), op, value))
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if pos == len(text):
            return Filter([selectors])
        if text[pos] != ",":
            raise fail("expected a comma or the end")
        pos += 1


def parse_all(texts: Iterable[str]) -> Filter:
    """Parse several filter strings; the result matches when any of them does."""
    conj: list[tuple[Selector, ...]] = []
    for t in texts:
        f = parse(t)
        if f is ALWAYS:
            return ALWAYS
        conj.extend(f.conjunctions)
    return Filter(conj)


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def adapt(obj: Any, extra: Mapping[str, Callable[[FieldPath], tuple[str, bool]]] | None = None) -> Adaptor:
    """A generic adaptor over dicts, objects with attributes, and protobuf messages.

    Map-valued fields (``labels``, ``annotations``, ``exports``) take the rest of the path
    joined by ``.`` as one key, the way containerd's adaptors read ``labels.a.b``.
    ``extra`` overrides the lookup of chosen top-level fields.
    """

    def field(path: FieldPath) -> tuple[str, bool]:
        if not path:
            return "", False
        if extra and path[0] in extra:
            return extra[path[0]](path[1:])
        cur: Any = obj
        for i, part in enumerate(path):
            if isinstance(cur, Mapping) or _is_proto_map(cur):
                key = ".".join(path[i:])
                if key in cur:
                    return _scalar(cur[key]), True
                if part in cur:
                    cur = cur[part]
                    continue
                return "", False
            if hasattr(cur, "DESCRIPTOR"):
                fields = cur.DESCRIPTOR.fields_by_name
                if part not in fields:
                    return "", False
                cur = getattr(cur, part)
                continue
            if hasattr(cur, part):
                cur = getattr(cur, part)
                continue
            return "", False
        if cur is None:
            return "", False
        if isinstance(cur, (list, tuple)):
            return ",".join(map(_scalar, cur)), True
        if isinstance(cur, (Mapping,)) or hasattr(cur, "DESCRIPTOR"):
            return "", True
        return _scalar(cur), True

    return field


def _is_proto_map(v: Any) -> bool:
    return type(v).__name__ in ("ScalarMapContainer", "MessageMap")
