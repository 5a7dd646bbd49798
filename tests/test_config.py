"""Config: containerd's version-2 schema, defaults, merging, and errors that point at the line."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pyctrd.config import Config, ConfigError, Duration, load, loads, to_toml
from pyctrd.daemon.plugin_config import plugin_configs
from pyctrd.plugin import REGISTRY


def pyctrd_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pyctrd.cmd.pyctrd", *args], capture_output=True, text=True,
                          timeout=60)


def test_defaults_are_pyctrds_own_paths() -> None:
    c = Config()
    assert (c.root, c.state, c.grpc.address) == ("/var/lib/pyctrd", "/run/pyctrd", "/run/pyctrd/pyctrd.sock")
    assert c.ttrpc_address == "/run/pyctrd/pyctrd.sock.ttrpc"
    assert c.grpc.max_recv_message_size == 16 << 20


def test_config_default_lists_every_plugin_section_and_round_trips() -> None:
    r = pyctrd_cli("config", "default")
    assert r.returncode == 0, r.stderr
    data = tomllib.loads(r.stdout)
    assert data["version"] == 2 and data["root"] == "/var/lib/pyctrd"
    from pyctrd import builtins  # noqa: F401

    with_config = {reg.uri for reg in REGISTRY if reg.config is not None}
    assert with_config and with_config <= set(data["plugins"])
    again = loads(r.stdout)
    assert again.unknown == []
    assert to_toml(again.config, {}) .startswith("disabled_plugins = []")


def test_dump_merges_a_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('version = 2\nroot = "/tmp/x"\n[grpc]\nuid = 7\n'
                   '[plugins."io.containerd.metadata.v1.sqlite"]\ncontent_sharing_policy = "isolated"\n')
    r = pyctrd_cli("--config", str(cfg), "config", "dump")
    assert r.returncode == 0, r.stderr
    data = tomllib.loads(r.stdout)
    assert data["root"] == "/tmp/x" and data["grpc"]["uid"] == 7 and data["grpc"]["gid"] == 0
    assert data["plugins"]["io.containerd.metadata.v1.sqlite"]["content_sharing_policy"] == "isolated"


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('version = 2\n\n[grpc]\naddress = "/x\n')
    with pytest.raises(ConfigError) as ei:
        load(cfg)
    assert ei.value.line == 4 and str(cfg) in str(ei.value)
    r = pyctrd_cli("--config", str(cfg))
    assert r.returncode == 2
    assert f"{cfg}:4" in r.stderr and "invalid TOML" in r.stderr


def test_wrong_type_names_key_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('version = 2\nroot = "/r"\n\n[grpc]\naddress = "/s"\nuid = "root"\n')
    with pytest.raises(ConfigError) as ei:
        load(cfg)
    assert (ei.value.key, ei.value.line) == ("grpc.uid", 6)
    assert "expected an integer" in str(ei.value)
    r = pyctrd_cli("--config", str(cfg))
    assert r.returncode == 2 and f"{cfg}:6: grpc.uid: expected an integer" in r.stderr


def test_wrong_type_in_a_plugin_section_stops_the_daemon(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('version = 2\n[plugins."io.containerd.metadata.v1.sqlite"]\ncontent_sharing_policy = 3\n')
    r = pyctrd_cli("--config", str(cfg), "--root", str(tmp_path / "r"), "--state", str(tmp_path / "s"))
    assert r.returncode == 2
    assert "plugins.io.containerd.metadata.v1.sqlite.content_sharing_policy" in r.stderr
    assert ":3:" in r.stderr
    assert not (tmp_path / "r").exists(), "nothing is started or created on a bad config"


def test_unknown_keys_are_reported_not_fatal(tmp_path: Path) -> None:
    loaded = loads('version = 2\nroots = "/typo"\n[grpc]\nadress = "/x"\n[plugins."io.example.v1.nope"]\na = 1\n',
                   file="c.toml")
    from pyctrd import builtins  # noqa: F401

    plugin_configs(loaded, REGISTRY)
    assert loaded.unknown == ["c.toml:2: unknown key roots", "c.toml:4: unknown key grpc.adress",
                              "c.toml:5: unknown plugin io.example.v1.nope"]


def test_version_must_be_2() -> None:
    with pytest.raises(ConfigError, match="unsupported config version 1"):
        loads('root = "/x"\n')


def test_imports_merge_in_order(tmp_path: Path) -> None:
    (tmp_path / "extra.toml").write_text('oom_score = -500\n[grpc]\ngid = 5\n')
    main = tmp_path / "main.toml"
    main.write_text('version = 2\nimports = ["extra.toml"]\noom_score = 1\n[grpc]\nuid = 3\n')
    c = load(main).config
    assert (c.oom_score, c.grpc.uid, c.grpc.gid) == (-500, 3, 5)


@pytest.mark.parametrize("text, seconds", [("100ms", 0.1), ("0s", 0.0), ("1m30s", 90.0), ("4h0m0s", 14400.0),
                                            ("1.5s", 1.5), ("250us", 0.00025)])
def test_durations(text: str, seconds: float) -> None:
    assert Duration(text).seconds == pytest.approx(seconds)
    assert Duration(str(Duration(text))).seconds == pytest.approx(seconds)


def test_bad_duration_in_plugin_config(tmp_path: Path) -> None:
    from dataclasses import dataclass

    from pyctrd.config import decode, setting

    @dataclass
    class C:
        interval: Duration = setting(Duration("10s"), "How often")

    loaded = loads('version = 2\n[plugins."t.x"]\ninterval = "soon"\n', file="f.toml")
    with pytest.raises(ConfigError, match=r"f.toml:3: plugins.t.x.interval: invalid duration"):
        decode(C, loaded.config.plugins["t.x"], path=["plugins", "t.x"], loaded=loaded)


CRI_CONFIG = '''version = 2
root = "/var/lib/containerd"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.6"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "/etc/containerd/certs.d"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
    endpoint = ["https://mirror.example", "http://10.0.0.1:5000"]
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."myreg.example"]
    endpoint = ["https://cri.example"]
  [plugins."io.containerd.grpc.v1.cri".registry.configs."mirror.example".tls]
    insecure_skip_verify = true
'''


def test_containerd_1x_cri_registry_section_feeds_the_registry_plugin() -> None:
    from pyctrd.plugins.remotes.registry.config import exports, host_options

    uri = "io.containerd.internal.v1.registry"
    loaded = loads(CRI_CONFIG, file="c.toml")
    cfg = plugin_configs(loaded, REGISTRY)[uri]
    assert cfg.config_path == "/etc/containerd/certs.d"
    opts = host_options(exports(cfg))
    assert opts.mirrors == {"docker.io": ["https://mirror.example", "http://10.0.0.1:5000"],
                            "myreg.example": ["https://cri.example"]}
    assert loaded.unknown == [], "a known foreign section: no 'unknown plugin' warning"
    assert loaded.notes == ["c.toml:4: plugins.io.containerd.grpc.v1.cri: pyctrd has no CRI plugin: "
                            "registry.config_path and registry.mirrors configure io.containerd.internal.v1.registry;"
                            " ignored: containerd, sandbox_image, registry.configs"]
    # pyctrd's own section wins: per key, and for mirrors per registry name
    own = loads(CRI_CONFIG + f'[plugins."{uri}"]\n  config_path = "/etc/pyctrd/certs.d"\n'
                f'[plugins."{uri}".mirrors."myreg.example"]\n  endpoint = ["http://127.0.0.1:5000"]\n')
    cfg = plugin_configs(own, REGISTRY)[uri]
    assert cfg.config_path == "/etc/pyctrd/certs.d"
    assert host_options(exports(cfg)).mirrors == {"docker.io": ["https://mirror.example", "http://10.0.0.1:5000"],
                                                  "myreg.example": ["http://127.0.0.1:5000"]}
    # a CRI section without registry settings is still known, and said to be unused
    bare = loads('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\nsandbox_image = "p"\n', file="b.toml")
    assert plugin_configs(bare, REGISTRY)[uri].mirrors == {} and bare.unknown == []
    assert bare.notes[0].endswith("pyctrd has no CRI plugin: nothing in it is read; ignored: sandbox_image")


@pytest.mark.parametrize("text, key, line", [
    ('[plugins."io.containerd.grpc.v1.cri".registry]\nconfig_path = 3\n',
     "plugins.io.containerd.grpc.v1.cri.registry.config_path", 3),
    ('[plugins."io.containerd.grpc.v1.cri"]\nregistry = "docker.io"\n',
     "plugins.io.containerd.grpc.v1.cri.registry", 3),
    ('[plugins]\n"io.containerd.grpc.v1.cri" = 1\n', "plugins.io.containerd.grpc.v1.cri", 3),
])
def test_bad_cri_registry_section_names_its_key(text: str, key: str, line: int) -> None:
    with pytest.raises(ConfigError) as ei:
        plugin_configs(loads("version = 2\n" + text, file="c.toml"), REGISTRY)
    assert (ei.value.key, ei.value.line) == (key, line)


def test_config_dump_shows_cri_mirrors_in_the_registry_section(tmp_path: Path) -> None:
    cfg = tmp_path / "containerd.toml"
    cfg.write_text(CRI_CONFIG)
    r = pyctrd_cli("--config", str(cfg), "config", "dump")
    assert r.returncode == 0, r.stderr
    dumped = tomllib.loads(r.stdout)["plugins"]
    assert "io.containerd.grpc.v1.cri" not in dumped
    registry = dumped["io.containerd.internal.v1.registry"]
    assert registry["mirrors"]["myreg.example"] == {"endpoint": ["https://cri.example"]}
    assert "unknown plugin" not in r.stderr and "note: " in r.stderr and "pyctrd has no CRI plugin" in r.stderr
