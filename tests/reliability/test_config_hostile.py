"""Hostile config: bad TOML, wrong types and values for every setting, unknown plugins, bad paths.

The cases are generated: every field of the config schema and of every plugin's config
dataclass gets a value of the wrong type. A bad file must stop pyctrd with exit status 2 and
a message naming the file and the key (never a traceback); unknown keys and plugins are
warnings, as in containerd. Paths the daemon cannot use (root under a regular file, a
read-only file system, ``/proc``) must end the start cleanly, naming the path, writing
nothing anywhere else - not even in the current directory.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from pyctrd.cmd.pyctrd import main
from pyctrd.config import Config, Duration
from pyctrd.plugin import REGISTRY
from tests.reliability.figures import record

SYNTAX = {
    "unterminated string": 'version = 2\nroot = "/x\n',
    "missing value": "version = 2\nroot =\n",
    "duplicate key": 'version = 2\nroot = "/a"\nroot = "/b"\n',
    "duplicate table": "version = 2\n[grpc]\n[grpc]\n",
    "bad escape": 'version = 2\nroot = "\\q"\n',
    "NUL byte": 'version = 2\nroot = "a\x00b"\n',
    "bare word": "version = 2\nhello\n",
    "deep arrays": "version = 2\nx = " + "[" * 5000 + "]" * 5000 + "\n",
    "deep tables": "version = 2\nx = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n",
    "table is a value": 'version = 2\ngrpc = "x"\n',
    "version 1": 'root = "/x"\n',
    "version as text": 'version = "2"\n',
    "version 3": "version = 3\n",
}
BYTES = {"not UTF-8": b'version = 2\nroot = "\xff\xfe"\n', "UTF-16": 'version = 2\n'.encode("utf-16"),
         "binary": bytes(range(256)) * 4}
VALUES = {
    "grpc.address empty": {"grpc": {"address": ""}},
    "root empty": {"root": ""},
    "state empty": {"state": ""},
    "root is state": {"root": "/tmp/pyctrd-same", "state": "/tmp/pyctrd-same"},
    "uid too big": {"grpc": {"uid": 2**40}},
    "uid negative": {"grpc": {"uid": -5}},
    "ttrpc gid negative": {"ttrpc": {"gid": -1}},
    "message size negative": {"grpc": {"max_recv_message_size": -7}},
    "message size over int": {"grpc": {"max_send_message_size": 2**40}},
    "metrics address without port": {"metrics": {"address": "nope"}},
    "metrics port too big": {"metrics": {"address": "127.0.0.1:99999"}},
    "log level": {"debug": {"level": "loud"}},
    "log format": {"debug": {"format": "xml"}},
    "timeout not a duration": {"timeouts": {"io.containerd.timeout.shim.load": "soon"}},
    "plugins not a table": {"plugins": 5},
    "plugin section not a table": {"plugins": {"io.containerd.gc.v1.scheduler": 5}},
}
UNKNOWN = {
    "unknown top-level key": {"hello": 1},
    "unknown plugin": {"plugins": {"io.containerd.nosuch.v1.x": {"a": 1}}},
    "unknown key in a plugin": {"plugins": {"io.containerd.gc.v1.scheduler": {"nosuch": 1}}},
    "unknown key in a section": {"grpc": {"nosuch": 1}},
}


def _wrong(tp: Any) -> list[Any]:
    """Values of the wrong TOML type for a field of type ``tp``."""
    origin = typing.get_origin(tp)
    if tp is str:
        return [5, ["x"]]
    if tp is bool:
        return ["yes", 1]
    if tp in (int, float):
        return ["x", True]
    if tp is Duration:
        return ["soon", [1], "-"]
    if origin is list:
        return [5, "x", [1, {"a": 1}]] if typing.get_args(tp) == (str,) else [5]
    if origin is dict:
        return [5, "x"]
    return []


def _fields(cls: type, prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        key = f.metadata.get("toml", f.name)
        if dataclasses.is_dataclass(tp):
            yield from _fields(tp, (*prefix, key))  # type: ignore[arg-type]
        else:
            yield (*prefix, key), tp


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {path[-1]: value}
    for part in reversed(path[:-1]):
        out = {part: out}
    return out


def wrong_type_cases() -> dict[str, dict[str, Any]]:
    from pyctrd import builtins  # noqa: F401 - registers every plugin

    cases = {}
    for path, tp in _fields(Config, ()):
        if path[0] in ("version", "plugins"):
            continue
        for i, v in enumerate(_wrong(tp)):
            cases[f"{'.'.join(path)} #{i}"] = _nest(path, v)
    for reg in REGISTRY:
        if reg.config is None:
            continue
        for path, tp in _fields(type(reg.config), ()):
            for i, v in enumerate(_wrong(tp)):
                cases[f"{reg.uri}.{'.'.join(path)} #{i}"] = {"plugins": {reg.uri: _nest(path, v)}}
    return cases


def _dump(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes) -> tuple[int, str]:
    cfg = tmp_path / "config.toml"
    cfg.write_bytes(data)
    rc = main(["--config", str(cfg), "config", "dump"])
    return rc, capsys.readouterr().err


def _check_refused(name: str, rc: int, err: str, cfg: str, key: str = "") -> str | None:
    if rc != 2 or not err.startswith("pyctrd: ") or cfg not in err or "Traceback" in err:
        return f"{name}: rc={rc} {err[:300]!r}"
    if key and key not in err:
        return f"{name}: the message does not name {key}: {err[:300]!r}"
    return None


def test_bad_files_exit_2_naming_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failures, n = [], 0
    cfg = str(tmp_path / "config.toml")
    for name, text in SYNTAX.items():
        rc, err = _dump(tmp_path, capsys, text.encode())
        n += 1
        failures.append(_check_refused(name, rc, err, cfg))
    for name, data in BYTES.items():
        rc, err = _dump(tmp_path, capsys, data)
        n += 1
        failures.append(_check_refused(name, rc, err, cfg))
    for name, doc in {**VALUES, **wrong_type_cases()}.items():
        rc, err = _dump(tmp_path, capsys, tomli_w.dumps({"version": 2, **doc}).encode())
        n += 1
        key = name.split(" #")[0].rsplit(".", 1)[-1] if " #" in name else ""
        failures.append(_check_refused(name, rc, err, cfg, key))
    record("config", "refused (exit 2)", n)
    problems = [f for f in failures if f]
    assert not problems, f"{len(problems)} of {n}:\n" + "\n".join(problems)


def test_unknown_keys_and_plugins_are_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, doc in UNKNOWN.items():
        rc, err = _dump(tmp_path, capsys, tomli_w.dumps({"version": 2, **doc}).encode())
        assert rc == 0 and err.startswith("warning: "), (name, rc, err)
    record("config", "unknown (warned)", len(UNKNOWN))


def _start(tmp_path: Path, *args: str, config: dict[str, Any] | None = None) -> tuple[int, str]:
    """Run the real daemon (it must fail); its cwd is an empty directory that must stay empty."""
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "pyctrd.cmd.pyctrd", *args]
    if config is not None:
        (tmp_path / "c.toml").write_text(tomli_w.dumps({"version": 2, **config}))
        cmd += ["--config", str(tmp_path / "c.toml")]
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    assert not os.listdir(cwd), f"written to the current directory: {os.listdir(cwd)}"
    return r.returncode, r.stdout + r.stderr


def test_the_daemon_refuses_bad_values_before_starting(tmp_path: Path) -> None:
    """The same checks stop a real start (exit 2) - an empty address once put its sockets
    (``.<pid>.tmp``, ``.ttrpc``) in the current directory."""
    for name in ("grpc.address empty", "uid too big", "metrics address without port", "message size over int"):
        rc, out = _start(tmp_path, "--root", str(tmp_path / "r"), "--state", str(tmp_path / "s"),
                         config=VALUES[name])
        assert rc == 2 and "Traceback" not in out and str(tmp_path / "c.toml") in out, (name, out[-2000:])
        assert not (tmp_path / "r").exists(), name
    record("config", "refused by a real start", 4)


def test_paths_the_daemon_cannot_use(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    cases = {  # name: (arguments, what the error must name)
        "root under a file": (("--root", str(afile / "root"), "--state", str(tmp_path / "s1")), str(afile)),
        "state under a file": (("--root", str(tmp_path / "r2"), "--state", str(afile / "state")), str(afile)),
        "socket under a file": (("--root", str(tmp_path / "r3"), "--state", str(tmp_path / "s3"),
                                 "--address", str(afile / "sock")), str(afile)),
        "root in /proc": (("--root", f"/proc/pyctrd-{os.getpid()}", "--state", str(tmp_path / "s4")), "/proc/pyctrd"),
        "root is state": (("--root", str(tmp_path / "same"), "--state", str(tmp_path / "same")), "different paths"),
    }
    for name, (args, named) in cases.items():
        rc, out = _start(tmp_path, *args)
        assert rc in (1, 2) and "Traceback" not in out, (name, out[-3000:])
        assert named in out and ("level=error" in out or rc == 2), (name, out[-2000:])
    record("config", "unusable paths", len(cases))


@pytest.mark.requires_root
def test_root_on_a_read_only_file_system(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(ro)], check=True)
    try:
        (ro / "root").mkdir()  # exists already: the daemon must notice it cannot write there
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        for root in (ro / "root", ro / "new"):
            rc, out = _start(tmp_path, "--root", str(root), "--state", str(tmp_path / "s"))
            assert rc == 1 and "Traceback" not in out and f"root {root}: Read-only file system" in out, out[-2000:]
    finally:
        subprocess.run(["umount", str(ro)], check=True)
    record("config", "read-only root", 2)
