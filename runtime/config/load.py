"""Reading, checking and writing config TOML.

Bad input never starts a daemon: a syntax error or a value of the wrong type raises
:class:`ConfigError` naming the file, the key and the line; keys nobody knows are collected
as warnings (``Loaded.unknown``) and reported, not fatal - as containerd does.
"""
from __future__ import annotations

import dataclasses
import re
import tomllib
import types as pytypes
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from ..errdefs import InvalidArgument
from .fields import Duration
from .schema import Config

__all__ = ["ConfigError", "Loaded", "decode", "find_line", "load", "loads", "to_dict", "to_toml"]

T = TypeVar("T")


class ConfigError(InvalidArgument):
    """A config file that cannot be used: where and why."""

    def __init__(self, message: str, *, file: str = "", key: str = "", line: int | None = None) -> None:
        self.file, self.key, self.line = file, key, line
        where = file or "<config>"
        if line:
            where += f":{line}"
        super().__init__(f"{where}: {key + ': ' if key else ''}{message}")


@dataclass
class Loaded:
    """A parsed config and what was noticed on the way."""

    config: Config
    unknown: list[str] = field(default_factory=list)  # "file:line: key" strings
    notes: list[str] = field(default_factory=list)  # informative: e.g. what a foreign section gives
    text: str = ""
    file: str = ""

    def line_of(self, path: list[str]) -> int | None:
        return find_line(self.text, path)


_HEADER = re.compile(r"^\s*\[\[?\s*(.+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[A-Za-z0-9_.\-" ]+?)\s*=')


def _split_dotted(s: str) -> list[str]:
    parts, cur, quoted = [], "", False
    for ch in s:
        if ch == '"':
            quoted = not quoted
        elif ch == "." and not quoted:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return [p for p in parts if p != ""]


def find_line(text: str, path: list[str]) -> int | None:
    """Best-effort line number of the key at ``path`` (table headers and dotted keys)."""
    table: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        h = _HEADER.match(line)
        if h and not _KEY.match(line):
            table = _split_dotted(h.group(1))
            if table == path:
                return n
            continue
        k = _KEY.match(line)
        if k and table + _split_dotted(k.group(1)) == path:
            return n
    return None


def _type_name(tp: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
            Duration: 'a duration such as "100ms"'}.get(tp, getattr(tp, "__name__", str(tp)))


def decode(cls: type[T], data: Any, *, path: list[str], loaded: Loaded | None = None,
           base: T | None = None) -> T:
    """Build dataclass ``cls`` from TOML ``data`` over defaults (``base`` or ``cls()``).

    Wrong types raise ConfigError; unknown keys are appended to ``loaded.unknown``.
    """
    def err(msg: str, p: list[str]) -> ConfigError:
        return ConfigError(msg, file=loaded.file if loaded else "", key=".".join(p),
                           line=loaded.line_of(p) if loaded else None)

    if not isinstance(data, dict):
        raise err("expected a table", path)
    obj = dataclasses.replace(base) if base is not None else cls()  # type: ignore[type-var]
    hints = typing.get_type_hints(cls)
    names = {f.metadata.get("toml", f.name): f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key, value in data.items():
        p = [*path, key]
        if key not in names:
            if loaded is not None:
                line = loaded.line_of(p)
                loaded.unknown.append(f"{loaded.file or '<config>'}{':' + str(line) if line else ''}: "
                                      f"unknown key {'.'.join(p)}")
            continue
        attr = names[key]
        setattr(obj, attr, _coerce(hints[attr], value, p, err, loaded, getattr(obj, attr)))
    return obj


def _coerce(tp: Any, value: Any, p: list[str], err: Any, loaded: Loaded | None, current: Any) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return decode(tp, value, path=p, loaded=loaded, base=current)  # type: ignore[arg-type]
    if tp is Duration:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            try:
                return Duration(value)
            except InvalidArgument as exc:
                raise err(str(exc.what), p) from None
        raise err(f"expected {_type_name(tp)}, got {value!r}", p)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise err(f"expected {_type_name(tp)}, got {value!r}", p)
    if tp in (str, int, bool):
        if type(value) is not tp:
            raise err(f"expected {_type_name(tp)}, got {value!r}", p)
        return value
    if origin is list:
        if not isinstance(value, list):
            raise err(f"expected a list, got {value!r}", p)
        (item,) = typing.get_args(tp) or (Any,)
        if item is str and not all(isinstance(v, str) for v in value):
            raise err("expected a list of strings", p)
        return list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise err(f"expected a table, got {value!r}", p)
        merged = dict(current or {})
        merged.update(value)
        return merged
    if origin in (typing.Union, pytypes.UnionType):
        return value
    return value


def _toml_error(exc: tomllib.TOMLDecodeError, text: str, file: str) -> ConfigError:
    """tomllib says ``(at line N, column M)`` or ``(at end of document)``: either way, a line."""
    m = re.search(r"\(at line (\d+)", str(exc))
    line = int(m.group(1)) if m else text.count("\n") + 1 if "end of document" in str(exc) else None
    return ConfigError(f"invalid TOML: {exc}", file=file, line=line)


def loads(text: str, *, file: str = "") -> Loaded:
    """Parse config TOML text into a :class:`Loaded` (defaults filled in)."""
    loaded = Loaded(Config(), text=text, file=file)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(exc, text, file) from None
    except RecursionError:  # tomllib recurses once per level of nested arrays and tables
        raise ConfigError("invalid TOML: nested too deeply", file=file) from None
    version = data.get("version", 1)
    if version != 2:
        raise ConfigError(f"unsupported config version {version!r}: pyctrd reads version 2 "
                          "(add `version = 2` and use full plugin URIs)", file=file, key="version",
                          line=find_line(text, ["version"]))
    loaded.config = decode(Config, data, path=[], loaded=loaded)
    return loaded


def _read_text(p: Path) -> str:
    """The file as UTF-8 text; a byte that is not UTF-8 is reported with its line, as TOML
    syntax errors are (ConfigError)."""
    data = p.read_bytes()
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", file=str(p),
                          line=data.count(b"\n", 0, exc.start) + 1) from None


def load(path: str | Path) -> Loaded:
    """Read a config file and the files in its ``imports`` (merged in order, later wins)."""
    p = Path(path)
    try:
        text = _read_text(p)
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", file=str(p)) from None
    loaded = loads(text, file=str(p))
    for imp in loaded.config.imports:
        ip = p.parent / imp
        try:
            itext = _read_text(ip)
            idata = tomllib.loads(itext)
        except OSError as exc:
            raise ConfigError(f"cannot read import {imp}: {exc.strerror}", file=str(p),
                              key="imports", line=find_line(text, ["imports"])) from None
        except tomllib.TOMLDecodeError as exc:
            raise _toml_error(exc, itext, str(ip)) from None
        except RecursionError:
            raise ConfigError("invalid TOML: nested too deeply", file=str(ip)) from None
        idata.pop("version", None)
        sub = Loaded(loaded.config, text=itext, file=str(ip))
        loaded.config = decode(Config, idata, path=[], loaded=sub, base=loaded.config)
        loaded.unknown.extend(sub.unknown)
        loaded.notes.extend(sub.notes)
    return loaded


def to_dict(obj: Any) -> Any:
    """A dataclass (nested, with Durations) as plain TOML-ready data, keys sorted."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            out[f.metadata.get("toml", f.name)] = to_dict(getattr(obj, f.name))
        return dict(sorted(out.items()))
    if isinstance(obj, Duration):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in sorted(obj.items())}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def to_toml(config: Config, plugin_sections: dict[str, Any] | None = None) -> str:
    """TOML text of ``config``; ``plugin_sections`` (uri -> dataclass or dict) fill ``[plugins]``."""
    data = to_dict(config)
    plugins = dict(data.get("plugins", {}))
    for uri, section in (plugin_sections or {}).items():
        plugins[uri] = to_dict(section) if section is not None else {}
    data["plugins"] = dict(sorted(plugins.items()))
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    return tomli_w.dumps({**scalars, **tables}, indent=2)
