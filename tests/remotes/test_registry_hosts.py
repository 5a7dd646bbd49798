"""Registry hosts configuration: hosts.toml directories and CRI-style mirrors."""
from __future__ import annotations

from pathlib import Path

import pytest

from pyctrd.errdefs import InvalidArgument
from pyctrd.remotes.docker import HostOptions, RegistryHost, configure_hosts, host_dir, parse_hosts_toml

HOSTS_TOML = '''
server = "https://registry.example.com"
capabilities = ["pull", "resolve", "push"]

[host."http://127.0.0.1:5001"]
  capabilities = ["pull", "resolve"]
  header = { X-Trace = ["1", "2"], X-One = "x" }

[host."https://mirror.example/custom/api"]
  capabilities = ["pull"]
  override_path = true
  skip_verify = true
  ca = ["ca.crt", "/abs/other.crt"]
  client = [["client.cert", "client.key"], "both.pem"]

[host."https://m3.example/sub"]
'''


def test_parse_hosts_toml_in_file_order() -> None:
    hosts = parse_hosts_toml(HOSTS_TOML, "/etc/pyctrd/certs.d/docker.io")
    assert [repr(h) for h in hosts] == [
        "<RegistryHost http://127.0.0.1:5001/v2 pull,resolve>",
        "<RegistryHost https://mirror.example/custom/api pull insecure>",
        "<RegistryHost https://m3.example/sub/v2 pull,resolve,push>",
        "<RegistryHost https://registry.example.com/v2 pull,resolve,push>",
    ]
    assert hosts[0].headers == (("X-Trace", "1"), ("X-Trace", "2"), ("X-One", "x"))
    assert hosts[1].ca == ("/etc/pyctrd/certs.d/docker.io/ca.crt", "/abs/other.crt")
    assert hosts[1].client_certs == (("/etc/pyctrd/certs.d/docker.io/client.cert", "/etc/pyctrd/certs.d/docker.io/client.key"),
                                     ("/etc/pyctrd/certs.d/docker.io/both.pem", ""))


@pytest.mark.parametrize(("text", "error"), [
    ("server = [", "failed to parse hosts.toml"),
    ('server = 5', "server must be a string"),
    ('[host."http://m"]\ncapabilities = ["pull", "fly"]', "unknown capability 'fly'"),
    ('[host."http://m"]\nskip_verify = "yes"', "skip_verify must be a boolean"),
    ('[host."http://m"]\nca = 5', "invalid type int for 'ca'"),
    ('[host."http://m"]\nheader = { A = 1 }', "header A"),
    ('host = "x"', "invalid `host` tree"),
    ('server = "ftp://x"', "unable to parse server"),
])
def test_hosts_toml_errors(text: str, error: str) -> None:
    with pytest.raises(InvalidArgument, match=error):
        parse_hosts_toml(text, "/d")


def test_credentials_in_server_urls_are_refused_without_echo() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_hosts_toml('server = "https://bob:hunter2@reg.example"', "/d")
    assert "hunter2" not in str(info.value) and "reg.example" in str(info.value)


def test_host_directory_lookup(tmp_path: Path) -> None:
    (tmp_path / "127.0.0.1_5000_").mkdir()
    (tmp_path / "docker.io").mkdir()
    assert host_dir(str(tmp_path), "127.0.0.1:5000") == str(tmp_path / "127.0.0.1_5000_")
    assert host_dir(str(tmp_path), "docker.io") == str(tmp_path / "docker.io")
    assert host_dir(str(tmp_path), "quay.io") is None
    (tmp_path / "_default").mkdir()
    assert host_dir(str(tmp_path), "quay.io") == str(tmp_path / "_default")


def test_configure_hosts_from_config_path(tmp_path: Path) -> None:
    d = tmp_path / "docker.io"
    d.mkdir()
    (d / "hosts.toml").write_text('[host."http://127.0.0.1:5001"]\n  capabilities = ["pull", "resolve"]\n')
    hosts = configure_hosts(HostOptions(config_path=str(tmp_path)))
    assert hosts("docker.io") == [RegistryHost("127.0.0.1:5001", "http", "/v2", frozenset({"pull", "resolve"})),
                                  RegistryHost("registry-1.docker.io", "https")]
    (tmp_path / "_default").mkdir()
    (tmp_path / "_default" / "hosts.toml").write_text('server = "https://fallback.example:8443"\n')
    assert [h.url() for h in hosts("quay.io")] == ["https://fallback.example:8443/v2"]
    # a directory without hosts.toml holds certificates, docker style
    c = tmp_path / "secure.example_443_"
    c.mkdir()
    (c / "ca.crt").write_text("x")
    (c / "me.cert").write_text("x")
    (c / "me.key").write_text("x")
    [h] = hosts("secure.example:443")
    assert h.url() == "https://secure.example:443/v2" and h.ca == (str(c / "ca.crt"),)
    assert h.client_certs == ((str(c / "me.cert"), str(c / "me.key")),)


def test_defaults_plain_http_and_skip_verify() -> None:
    default = configure_hosts(HostOptions())
    assert repr(default("localhost:5000")) == "[<RegistryHost http://localhost:5000/v2 pull,resolve,push>]"
    assert default("reg.example:5000")[0].url() == "https://reg.example:5000/v2"
    assert default("reg.example:5000")[0].skip_verify is None  # verification on by default
    assert default("docker.io")[0].host == "registry-1.docker.io"
    plain = configure_hosts(HostOptions(default_scheme="http"))
    assert plain("reg.example:5000")[0].url() == "http://reg.example:5000/v2"
    assert configure_hosts(HostOptions(skip_verify=True))("reg.example")[0].skip_verify is True


def test_cri_mirrors_then_upstream() -> None:
    hosts = configure_hosts(HostOptions(mirrors={"docker.io": ["https://m1.example", "http://127.0.0.1:5001/v2"],
                                                 "*": ["https://star.example"]}))
    assert [h.url() for h in hosts("docker.io")] == [
        "https://m1.example/v2", "http://127.0.0.1:5001/v2", "https://registry-1.docker.io/v2"]
    assert [h.can("push") for h in hosts("docker.io")] == [False, False, True]
    assert [h.url() for h in hosts("quay.io")] == ["https://star.example/v2", "https://quay.io/v2"]
    with pytest.raises(InvalidArgument):
        configure_hosts(HostOptions(mirrors={"docker.io": ["ftp://x"]}))("docker.io")
