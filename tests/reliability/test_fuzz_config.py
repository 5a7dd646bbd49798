"""Hypothesis against the config loader: random TOML over containerd's version-2 schema.

tests/reliability/test_config_hostile.py tries each bad value alone; here hypothesis builds whole
documents: any subset of the schema's keys at every level (top level, ``[grpc]`` & co., every
registered plugin's section), each value of the right type or a wrong one, unknown keys and
plugins, huge numbers, infinities, bad durations, odd paths, then sometimes damages the text
(non-UTF-8 bytes, a cut, a duplicated line).

Properties, checked in-process on each document:

- A document whose values all have the right types loads - top level and plugin sections - and
  every unknown key and plugin is reported as a warning, never an error.
- A document with a wrong type anywhere raises :class:`~pyctrd.config.ConfigError` for one of
  the wrong keys; any error names the file and the line or the key. Nothing else is raised.
- :func:`~pyctrd.config.check.check_values` passes or raises ``ConfigError`` naming a key.
- What ``pyctrd config dump`` prints for a loaded document is itself a config that loads to the
  same values (the dump is how people start a config file).
- ``pyctrd config dump`` (``main``) returns 0 or 2 with a ``pyctrd: <file>...`` message, and the
  real CLI, as a subprocess, exits 0 or 2 without a traceback (a handful of examples: each one
  starts Python).

Examples: 150 in CI (50 through ``main``, 8 through the subprocess); 3000 (1000, 100) under ``make soak``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import subprocess
import sys
import tempfile
import typing
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pyctrd import builtins  # noqa: F401 - registers every plugin (their sections are part of the schema)
from pyctrd.cmd.pyctrd import main
from pyctrd.config import Config, ConfigError, Duration, load, loads, to_dict, to_toml
from pyctrd.config.check import check_values
from pyctrd.daemon.cri_config import CRI
from pyctrd.daemon.plugin_config import plugin_configs
from pyctrd.plugin import REGISTRY
from tests.reliability.figures import SOAK, record, scaled

pytestmark = pytest.mark.slow  # `make soak` (-m slow) runs the full counts
EXAMPLES = scaled(150, 3000)
DUMP_EXAMPLES = scaled(50, 1000)
CLI_EXAMPLES = scaled(8, 100)
PLUGINS = {r.uri: type(r.config) for r in REGISTRY if r.config is not None}
NO_CONFIG = [r.uri for r in REGISTRY if r.config is None]

PATHS = st.sampled_from(["/var/lib/pyctrd-fuzz", "/tmp/x", "relative/dir", "", "/", "/proc/self", "a\0b",
                         "/" + "p" * 5000, "/dev/null", "~/x", "/tmp/../etc", "C:\\windows", "é/ü"])
TEXT = st.one_of(PATHS, st.text(max_size=30))
INTS = st.one_of(st.integers(-5, 70000), st.sampled_from([-2**63, 2**63 - 1, 2**31, 2**32 - 1, 2**32, 2**40]))
FLOATS = st.one_of(st.floats(), st.integers(-10, 10))
DURATIONS = st.one_of(st.sampled_from(["0", "0s", "100ms", "1h2m3.5s", "-5s", "1.5h", ".5s", "3us", "4µs", "2ns",
                                       "-0.25ms", " 5s", "+5m", "2562047h", "-1h30m"]),
                      st.integers(-10**6, 10**6), st.floats(-1e9, 1e9))
#: Go's durations are int64 nanoseconds: beyond ±292 years is no duration either.
BAD_DURATIONS = st.sampled_from(["soon", "5", "1d", "", "-", "1h-5m", "ms", "5 s", "1..5s", True, [1], {"a": 1},
                                 "99999999999h", "2562048h", float("inf"), float("-inf"), float("nan"), 1e300])
SCALARS = st.one_of(st.booleans(), INTS, st.text(max_size=10), st.floats(allow_nan=False))
ANY = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                         max_size=3), max_leaves=8)
KEYS = st.text(st.sampled_from("abcxyz_-.é \"'0"), min_size=1, max_size=12)


@dataclass
class Doc:
    """A generated config and what the loader must make of it."""

    data: dict[str, Any] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)       # dotted keys holding a wrong type
    unknown: list[str] = field(default_factory=list)   # dotted keys / plugin URIs nobody knows
    noted: list[str] = field(default_factory=list)     # foreign sections pyctrd reads a part of
    hostile: bool = True                                # wrong types may be drawn


def _good(tp: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(tp)
    if tp is str:
        return TEXT
    if tp is bool:
        return st.booleans()
    if tp is int:
        return INTS
    if tp is float:
        return FLOATS
    if tp is Duration:
        return DURATIONS
    if origin is list:
        return st.lists(TEXT, max_size=3)
    if origin is dict:
        value = DURATIONS.filter(lambda v: isinstance(v, str)) if typing.get_args(tp)[1:] == (str,) else ANY
        return st.dictionaries(KEYS, value, max_size=3)
    return ANY


def _bad(tp: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(tp)
    if tp is str:
        return st.one_of(INTS, st.booleans(), st.lists(st.text(max_size=3), max_size=2), st.just({"a": 1}))
    if tp is bool:
        return st.one_of(st.integers(0, 1), st.sampled_from(["true", "yes"]))
    if tp is int:
        return st.one_of(st.sampled_from(["1", "0x10", True]), st.floats(allow_nan=False))
    if tp is float:
        return st.sampled_from(["1.5", True, [1.0]])
    if tp is Duration:
        return BAD_DURATIONS
    if origin is list:
        return st.one_of(st.just("not-a-list"), INTS, st.lists(INTS, min_size=1, max_size=2))
    return st.one_of(INTS, st.text(max_size=5), st.lists(INTS, max_size=2))  # dicts and tables


@st.composite
def _table(draw: st.DrawFn, cls: type, prefix: str, doc: Doc, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Some of ``cls``'s keys (right or wrong types) plus unknown keys."""
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = f.metadata.get("toml", f.name)
        if key in skip or not draw(st.integers(0, 3)):
            continue
        tp, path = hints[f.name], f"{prefix}{key}"
        if dataclasses.is_dataclass(tp):
            if not doc.hostile or draw(st.integers(0, 9)):
                out[key] = draw(_table(tp, f"{path}.", doc))  # type: ignore[arg-type]
            else:
                out[key] = draw(INTS | TEXT)
                doc.bad.append(path)
        elif not doc.hostile or draw(st.integers(0, 6)):
            out[key] = draw(_good(tp))
        else:
            out[key] = draw(_bad(tp))
            doc.bad.append(path)
    known = {f.metadata.get("toml", f.name) for f in dataclasses.fields(cls)}
    for k in draw(st.lists(KEYS.filter(lambda k: k not in known), max_size=2, unique=True)):
        out[k] = draw(ANY)
        doc.unknown.append(f"{prefix}{k}")
    return out


@st.composite
def documents(draw: st.DrawFn) -> Doc:
    doc = Doc(hostile=draw(st.booleans()))
    doc.data = {"version": draw(st.sampled_from([2] * 20 + [1, 3, "2", 2.0]) if doc.hostile else st.just(2))}
    if not (type(doc.data["version"]) is int and doc.data["version"] == 2):
        doc.bad.append("version")
    doc.data.update(draw(_table(Config, "", doc, skip=("version", "plugins", "imports"))))
    imports = draw(st.sampled_from([None, [], ["/dev/null"]] + [["missing.toml"], ["."]] * doc.hostile))
    if imports is not None:
        doc.data["imports"] = imports
        if imports not in ([], ["/dev/null"]):
            doc.bad.append("imports")
    plugins: dict[str, Any] = {}
    for uri in draw(st.lists(st.sampled_from(sorted(PLUGINS)), max_size=6, unique=True)):
        if not doc.hostile or draw(st.integers(0, 14)):
            plugins[uri] = draw(_table(PLUGINS[uri], f"plugins.{uri}.", doc))
        else:
            plugins[uri] = draw(INTS | TEXT)
            doc.bad.append(f"plugins.{uri}")
    for uri in draw(st.lists(st.sampled_from(["io.containerd.nosuch.v1.x", "x", *NO_CONFIG[:3]]),
                             max_size=2, unique=True)):
        plugins[uri] = draw(st.dictionaries(KEYS, ANY, min_size=1, max_size=2))
        doc.unknown.append(uri)
    if draw(st.integers(0, 5)) == 0:  # containerd 1.x's CRI section: known, its other keys noted
        plugins[CRI] = draw(st.dictionaries(KEYS.filter(lambda k: k != "registry"), ANY, min_size=1, max_size=2))
        doc.noted.append(CRI)
    if plugins or draw(st.booleans()):
        doc.data["plugins"] = plugins
    return doc


@dataclass(frozen=True)
class Damage:
    how: str  # none, non-utf8, cut, dup-line, junk-line
    at: int


damage = st.builds(Damage, how=st.sampled_from(["none"] * 12 + ["non-utf8", "cut", "dup-line", "junk-line"]),
                   at=st.integers(0, 2**16))


def render(doc: Doc, dmg: Damage) -> bytes:
    text = tomli_w.dumps(doc.data).encode()
    if dmg.how == "non-utf8":
        i = dmg.at % (len(text) + 1)
        return text[:i] + bytes([0x80 + dmg.at % 0x80]) + text[i:]
    if dmg.how == "cut":
        return text[:dmg.at % (len(text) + 1)]
    lines = text.split(b"\n")
    i = dmg.at % len(lines)
    if dmg.how == "dup-line":
        lines.insert(i, lines[i])
    elif dmg.how == "junk-line":
        lines.insert(i, [b"[grpc", b"= 1", b"a = ", b'b = "x', b"[[plugins]]", b"\x00"][dmg.at % 6])
    return b"\n".join(lines)


def _well_formed(exc: ConfigError, file: str) -> None:
    """Where and what: the file, then the line or the key; never Python internals."""
    text = str(exc)
    assert exc.file == file and text.startswith(file), text
    assert exc.line or exc.key, f"neither a line nor a key: {text}"
    assert "Traceback" not in text and "object at 0x" not in text, text


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


OUTCOMES: Counter[str] = Counter()


def check_document(doc: Doc, dmg: Damage) -> None:
    with tempfile.TemporaryDirectory(prefix="fzc-") as d:
        path = Path(d) / "config.toml"
        path.write_bytes(render(doc, dmg))
        try:
            loaded = load(path)
            sections = plugin_configs(loaded, REGISTRY)
        except ConfigError as exc:
            _well_formed(exc, str(path))
            if dmg.how == "none":
                assert doc.bad, f"a well-typed document was refused: {exc}"
                assert exc.key in doc.bad or exc.key.split(".")[0] == "imports", (exc.key, doc.bad)
            OUTCOMES["refused"] += 1
            return
        if dmg.how == "none":
            assert not doc.bad, f"wrong types were accepted: {doc.bad}"
            warned = "\n".join(loaded.unknown)
            for key in doc.unknown:
                assert key in warned, f"unknown {key!r} not reported: {warned}"
            assert CRI not in warned
            for uri in doc.noted:
                assert uri in "\n".join(loaded.notes), f"{uri} not noted: {loaded.notes}"
        try:
            check_values(loaded)
        except ConfigError as exc:
            _well_formed(exc, str(path))
            OUTCOMES["refused by check_values"] += 1
        else:
            OUTCOMES["loaded"] += 1
        # What `pyctrd config dump` prints must load back to the same values.
        loaded.config.plugins = {}
        dumped = to_toml(loaded.config, {u: c for u, c in sections.items() if c is not None})
        again = loads(dumped, file="dump.toml")
        assert not again.unknown, again.unknown
        resections = plugin_configs(again, REGISTRY)
        again.config.plugins = {}
        assert _equal(to_dict(again.config), to_dict(loaded.config)), dumped
        for uri, section in sections.items():
            assert _equal(to_dict(resections[uri]), to_dict(section)), (uri, dumped)


SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not SOAK,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


GC = "io.containerd.gc.v1.scheduler"


@SETTINGS
@given(doc=documents(), dmg=damage)
# Found by this suite: a negative duration was dumped as "-1h59m55s" (-5s read back as -7195s)...
@example(doc=Doc({"version": 2, "plugins": {GC: {"startup_delay": "-5s"}}}), dmg=Damage("none", 0))
@example(doc=Doc({"version": 2, "plugins": {GC: {"schedule_delay": -1e-204}}}), dmg=Damage("none", 0))  # "-0s"
# ... an infinite one made `config dump` raise ValueError, one of 10^11 hours overflows a sleep ...
@example(doc=Doc({"version": 2, "plugins": {GC: {"startup_delay": float("inf")}}}, bad=[f"plugins.{GC}.startup_delay"]),
         dmg=Damage("none", 0))
@example(doc=Doc({"version": 2, "plugins": {GC: {"schedule_delay": "99999999999h"}}},
                 bad=[f"plugins.{GC}.schedule_delay"]), dmg=Damage("none", 0))
# ... a byte that is not UTF-8, and a table header cut at the end, were reported without a line.
@example(doc=Doc({"version": 2, "root": "/x"}), dmg=Damage("non-utf8", 11))
@example(doc=Doc({"version": 2, "grpc": {"uid": 1}}), dmg=Damage("cut", 15))
def test_random_configs_load_or_name_the_problem(doc: Doc, dmg: Damage) -> None:
    check_document(doc, dmg)


def _dump(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["--config", str(path), "config", "dump"])
    return rc, err.getvalue()


@settings(SETTINGS, max_examples=DUMP_EXAMPLES)
@given(doc=documents(), dmg=damage)
def test_config_dump_exits_0_or_2(doc: Doc, dmg: Damage) -> None:
    with tempfile.TemporaryDirectory(prefix="fzc-") as d:
        path = Path(d) / "config.toml"
        path.write_bytes(render(doc, dmg))
        rc, err = _dump(path)
        assert rc in (0, 2), (rc, err)
        assert "Traceback" not in err
        if rc == 2:
            assert err.startswith(f"pyctrd: {path}"), err
    OUTCOMES[f"config dump exit {rc}"] += 1


@settings(SETTINGS, max_examples=CLI_EXAMPLES)
@given(doc=documents(), dmg=damage)
def test_the_cli_exits_0_or_2(doc: Doc, dmg: Damage) -> None:
    with tempfile.TemporaryDirectory(prefix="fzc-") as d:
        path = Path(d) / "config.toml"
        path.write_bytes(render(doc, dmg))
        r = subprocess.run([sys.executable, "-m", "pyctrd.cmd.pyctrd", "--config", str(path), "config", "dump"],
                           capture_output=True, text=True, timeout=120, check=False, cwd=d)
        assert r.returncode in (0, 2) and "Traceback" not in r.stderr, (r.returncode, r.stderr[-2000:])
        assert r.returncode == 2 or "\nversion = 2\n" in r.stdout, r.stdout[:2000]
    OUTCOMES[f"CLI exit {r.returncode}"] += 1


def test_random_config_figures() -> None:
    """Runs after the properties above (file order): reports what the documents came to."""
    tried = OUTCOMES["loaded"] + OUTCOMES["refused"] + OUTCOMES["refused by check_values"]
    if OUTCOMES:
        for what, n in sorted(OUTCOMES.items()):
            record("config", f"hypothesis {what}", n)
    assert tried == 0 or OUTCOMES["loaded"] > 0, OUTCOMES
