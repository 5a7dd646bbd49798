"""pyctr against a real pyctrd: the daemon's registry hosts, push, import, export; the progress display."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from pyctrd.cmd.pyctr.progress import ProgressDisplay, bar
from pyctrd.core.images import chain_ids
from pyctrd.core.remotes import Progress
from pyctrd.images.samples import SampleImage, write_samples
from pyctrd.remotes import DockerResolver
from tests.fixtures.daemon import start_daemon
from tests.fixtures.faulty_http import FaultyProxy
from tests.fixtures.registry import Registry

REGISTRY = "io.containerd.internal.v1.registry"


@pytest.mark.requires_root
def test_pull_uses_the_daemons_registry_hosts_unless_told_otherwise(short_tmp: Path, pushed: Registry,
                                                                   samples: dict[str, SampleImage]) -> None:
    proxy = FaultyProxy(pushed.host)  # a pass-through mirror in front of the real registry
    hosts = short_tmp / "hosts.d" / (pushed.host.replace(":", "_") + "_")
    hosts.mkdir(parents=True)
    (hosts / "hosts.toml").write_text(f'server = "http://{pushed.host}"\n'
                                      f'[host."http://{proxy.host}"]\n  capabilities = ["pull", "resolve"]\n')
    d = start_daemon(short_tmp, config_text=f'version = 2\n[plugins."{REGISTRY}"]\n'
                                            f'  config_path = "{short_tmp / "hosts.d"}"\n')
    try:
        detail = d.ctr("plugins", "ls", "-d", "id==registry").stdout
        assert f"config_path  {short_tmp / 'hosts.d'}" in re.sub(" +", "  ", detail) or str(short_tmp) in detail
        out = d.pyctr("images", "pull", "--skip-unpack", pushed.ref("busybox")).stdout
        busybox = samples["busybox"]
        assert f"layer-{busybox.layers[0].digest}: served by {proxy.host}" in out
        assert "unpacking" not in out
        assert [p for m, p, _ in proxy.seen if m == "GET" and "/blobs/" in p]  # the mirror served blobs
        empty = short_tmp / "empty-hosts"
        empty.mkdir()
        d.pyctr("images", "rm", "--sync", pushed.ref("busybox"))  # the bytes go too: fetched again below
        out = d.pyctr("content", "fetch", "--hosts-dir", str(empty), pushed.ref("busybox")).stdout
        assert f"layer-{busybox.layers[0].digest}: served by {pushed.host}" in out  # the override
    finally:
        proxy.close()
        assert d.stop() == 0


def test_bad_mirrors_make_the_plugin_fail_with_a_clear_error(short_tmp: Path) -> None:
    d = start_daemon(short_tmp, config_text=f'version = 2\n[plugins."{REGISTRY}".mirrors."docker.io"]\n'
                                            '  endpoint = ["ftp://mirror"]\n')
    try:
        out = d.ctr("plugins", "ls", "id==registry").stdout
        assert out.split("\n")[1].split()[-1] == "error"
        assert "only http and https" in d.ctr("plugins", "ls", "-d", "id==registry").stdout
    finally:
        assert d.stop() == 0


@pytest.mark.requires_root
def test_import_export_and_push(short_tmp: Path, pushed: Registry, samples: dict[str, SampleImage]) -> None:
    files = write_samples(short_tmp / "samples", samples)
    layered = samples["layered"]
    d = start_daemon(short_tmp)
    try:
        out = d.pyctr("-n", "import", "images", "import", files["layered-oci.tar"]).stdout
        assert out == f"unpacking docker.io/library/layered:latest ({layered.manifest.digest})...done\n"
        out = d.pyctr("-n", "import", "images", "import", files["busybox-docker.tar"]).stdout
        assert re.fullmatch(r"unpacking docker.io/library/busybox:latest \(sha256:[0-9a-f]{64}\)\.\.\.done\n", out)
        ls = d.ctr("snapshots", "ls", namespace="import").stdout
        assert sorted(line.split()[0] for line in ls.splitlines()[1:]) == sorted(chain_ids(layered.diff_ids))
        exported = short_tmp / "out.tar"
        d.pyctr("-n", "import", "images", "export", str(exported), "docker.io/library/layered:latest")
        out = d.pyctr("-n", "again", "images", "import", "--no-unpack", str(exported)).stdout
        assert out == "docker.io/library/layered:latest\n"
        assert d.ctr("images", "ls", "-q", namespace="again").stdout == "docker.io/library/layered:latest\n"
        remote = pushed.ref("pushed/layered", "v1")
        d.pyctr("-n", "import", "images", "push", "--plain-http", remote, "docker.io/library/layered:latest")
        assert DockerResolver().resolve(remote)[1].digest == layered.manifest.digest
    finally:
        assert d.stop() == 0


def test_progress_display_draws_ctrs_table() -> None:
    now = [100.0]
    out = io.StringIO()
    p = ProgressDisplay(out, tty=False, clock=lambda: now[0])
    ref, key = "127.0.0.1:5000/x:latest", "layer-sha256:" + "a" * 64
    p(Progress(ref, "resolving"))
    p(Progress(ref, "resolved"))
    p(Progress(key, "waiting", 0, 2048))
    p(Progress(key, "downloading", 1024, 2048, "127.0.0.1:5001"))
    now[0] = 100.5
    lines = p.render().splitlines()
    # columns as Go's tabwriter pads them: the widest cell of each (the elapsed line's included)
    assert lines[0] == f"{ref}:{' ' * (len(key) - len(ref) + 1)}resolved{' ' * 7}{bar(1.0)} "
    assert lines[1] == f"{key}: downloading{' ' * 4}{bar(0.5)}  1.0 KiB/2.0 KiB "  # %8.8s
    # "%7.6v": Go truncates the total to six characters, as ctr prints it
    assert lines[2].startswith("elapsed: 0.5 s") and lines[2].split()[-4:] == ["1.0", "Ki", "(2.0", "KiB/s)"]
    p(Progress(key, "done", 2048, 2048, "127.0.0.1:5001"))
    p.finish()
    p.finish()  # once only
    assert out.getvalue().count("elapsed:") == 1 and f"{key}: done" in out.getvalue()
    assert p.hosts == {key: "127.0.0.1:5001"}
    assert repr(p) == "<ProgressDisplay 2 refs>"
    tty = io.StringIO()
    t = ProgressDisplay(tty, tty=True, clock=lambda: now[0])
    t(Progress(ref, "resolving"))
    t.tick()
    t.tick()  # the second drawing first moves up over the first one
    text = tty.getvalue()
    assert text.count("\x1b[1A\x1b[2K\r") == 2  # two lines drawn, two cleared
    assert f"|\x1b[32m\x1b[0m{'-' * 38}|" in text.split("\n")[0]  # ctr colours even an empty bar
    assert json.dumps(bar(0.25, 10, color=True)) == json.dumps("|\x1b[32m++\x1b[0m------|")


CRI_REGISTRY = 'plugins."io.containerd.grpc.v1.cri".registry'


@pytest.mark.requires_root
@pytest.mark.parametrize("section, key", [(CRI_REGISTRY, "mirrors"), (f'plugins."{REGISTRY}"', "mirrors"),
                                          (CRI_REGISTRY, "config_path")],
                         ids=["containerd-1.x-cri", "pyctrd", "containerd-1.x-cri-config_path"])
def test_pull_through_a_mirror_from_the_daemon_config(short_tmp: Path, pushed: Registry, section: str, key: str,
                                                      samples: dict[str, SampleImage]) -> None:
    """A registry that does not exist, mirrored by the real one: only the mirror can serve the pull."""
    if key == "mirrors":
        config = f'version = 2\n[{section}.mirrors."myreg.example"]\n  endpoint = ["http://{pushed.host}"]\n'
    else:
        hosts = short_tmp / "certs.d" / "myreg.example"
        hosts.mkdir(parents=True)
        (hosts / "hosts.toml").write_text(f'[host."http://{pushed.host}"]\n  capabilities = ["pull", "resolve"]\n')
        config = f'version = 2\n[{section}]\n  config_path = "{short_tmp / "certs.d"}"\n'
    d = start_daemon(short_tmp, config_text=config)
    try:
        assert "unknown plugin" not in d.log_text()
        if section == CRI_REGISTRY:
            assert f"pyctrd has no CRI plugin: registry.{key} configure {REGISTRY}" in d.log_text()
        out = d.pyctr("images", "pull", "myreg.example/busybox:latest").stdout
        busybox = samples["busybox"]
        assert f"layer-{busybox.layers[0].digest}: served by {pushed.host}" in out
        assert f"unpacking linux/amd64 {busybox.manifest.digest}..." in out
        ls = d.ctr("images", "ls").stdout.splitlines()
        assert ls[1].split()[:3] == ["myreg.example/busybox:latest", "application/vnd.oci.image.manifest.v1+json",
                                     busybox.manifest.digest]
    finally:
        assert d.stop() == 0
