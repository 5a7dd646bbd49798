"""The six snapshotter registrations: configs, exports, and the honest skip/error of each one here."""
from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pyctrd import errdefs
from pyctrd.core.snapshots import Snapshotter
from pyctrd.plugin import REGISTRY, InitContext, Plugin, Registration, host_platform, types
from pyctrd.plugins.snapshots.aufs import plugin as aufs
from pyctrd.plugins.snapshots.aufs.detect import AufsUnsupported, check_supported, go_quote
from pyctrd.plugins.snapshots.btrfs import plugin as btrfs
from pyctrd.plugins.snapshots.devmapper import plugin as devmapper
from pyctrd.plugins.snapshots.devmapper.detect import DevmapperConfig
from pyctrd.plugins.snapshots.native import NativeSnapshotter
from pyctrd.plugins.snapshots.native import plugin as native
from pyctrd.plugins.snapshots.overlayfs import OverlaySnapshotter
from pyctrd.plugins.snapshots.overlayfs import plugin as overlayfs
from pyctrd.plugins.snapshots.zfs import plugin as zfs

ALL = {"aufs": aufs, "btrfs": btrfs, "devmapper": devmapper, "native": native, "overlayfs": overlayfs,
       "zfs": zfs}

#: The keys of each section of containerd's `config default` (reference/config-default.toml).
CONTAINERD_KEYS = {
    "aufs": ["root_path"], "btrfs": ["root_path"], "native": ["root_path"], "zfs": ["root_path"],
    "overlayfs": ["root_path", "upperdir_label"],
    "devmapper": ["async_remove", "base_image_size", "discard_blocks", "fs_options", "fs_type", "pool_name",
                  "root_path"],
}


def run(reg: Registration, root: Path, config: Any = None) -> Plugin:
    ic = InitContext(reg, root=root / reg.uri, state=root / "state" / reg.uri,
                     config=config if config is not None else dataclasses.replace(reg.config))
    return Plugin.run(reg, ic)


def fstype(path: Path) -> str:
    return subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", str(path)], capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.mark.parametrize("name", sorted(ALL))
def test_registration_and_config(name: str) -> None:
    reg = ALL[name].REGISTRATION
    assert (reg.type, reg.id, reg.platforms) == (types.SNAPSHOT, name, True)
    assert REGISTRY.get(types.SNAPSHOT, name) is reg
    assert sorted(f.name for f in dataclasses.fields(reg.config)) == CONTAINERD_KEYS[name]
    assert all(f.metadata["doc"].endswith(".") and "Default:" in f.metadata["doc"]
               for f in dataclasses.fields(reg.config))
    assert repr(reg) == f"<Registration io.containerd.snapshotter.v1.{name}>"


def test_native_is_ok_and_exports_nothing(short_tmp: Path) -> None:
    p = run(native.REGISTRATION, short_tmp)
    assert (p.status, p.meta.exports, p.meta.platforms) == ("ok", {}, [host_platform()])
    assert isinstance(p.instance, NativeSnapshotter) and isinstance(p.instance, Snapshotter)
    assert p.instance.root == short_tmp / "io.containerd.snapshotter.v1.native"
    p.instance.close()
    custom = run(native.REGISTRATION, short_tmp, native.NativeConfig(root_path=str(short_tmp / "elsewhere")))
    assert custom.instance.root == short_tmp / "elsewhere"
    custom.instance.close()


@pytest.mark.requires_root
def test_overlayfs_is_ok_and_exports_its_root(short_tmp: Path) -> None:
    p = run(overlayfs.REGISTRATION, short_tmp, overlayfs.OverlayConfig(upperdir_label=True))
    root = short_tmp / "io.containerd.snapshotter.v1.overlayfs"
    assert (p.status, p.meta.exports) == ("ok", {"root": str(root)})
    sn = p.instance
    assert isinstance(sn, OverlaySnapshotter) and sn.upperdir_label and sn.async_remove
    assert sorted(x.name for x in root.iterdir()) == ["snapshots"]  # the check cleaned up after itself
    sn.close()


@pytest.mark.requires_root
def test_overlayfs_skips_where_overlay_cannot_mount(short_tmp: Path) -> None:
    # overlayfs refuses another overlay as its upper layer: a real unsupported filesystem.
    for d in ("l", "u", "w", "m"):
        (short_tmp / d).mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={short_tmp}/l,upperdir={short_tmp}/u,workdir={short_tmp}/w", str(short_tmp / "m")],
                   check=True)
    try:
        p = run(overlayfs.REGISTRATION, short_tmp / "m")
        root = short_tmp / "m" / "io.containerd.snapshotter.v1.overlayfs"
        assert p.status == "skip"
        assert p.error_message == (f"overlayfs is not supported on {root}: failed to mount overlay: "
                                   "Invalid argument: skip plugin")
        assert not any("check" in x.name for x in root.iterdir())
    finally:
        subprocess.run(["umount", str(short_tmp / "m")], check=True)


def test_btrfs_skips_with_the_real_filesystem(short_tmp: Path) -> None:
    p = run(btrfs.REGISTRATION, short_tmp)
    root = short_tmp / "io.containerd.snapshotter.v1.btrfs"
    assert fstype(root) != "btrfs", "this test expects a non-btrfs /tmp"
    assert p.status == "skip" and p.meta.exports == {"root": str(root)}
    assert p.error_message == (f"path {root} ({fstype(root)}) must be a btrfs filesystem to be used with "
                               "the btrfs snapshotter: skip plugin")
    assert root.stat().st_mode & 0o777 == 0o700  # created, as containerd does


def test_zfs_skips_without_creating_its_root(short_tmp: Path) -> None:
    p = run(zfs.REGISTRATION, short_tmp)
    root = short_tmp / "io.containerd.snapshotter.v1.zfs"
    assert (p.status, p.meta.exports) == ("skip", {"root": str(root)})
    assert p.error_message == (f"path {root} must be a zfs filesystem to be used with the zfs snapshotter: "
                               "skip plugin")
    assert not root.exists()


def test_aufs_skips_with_what_modprobe_said(short_tmp: Path) -> None:
    with open("/proc/filesystems", encoding="utf-8") as f:
        assert "aufs" not in f.read(), "this test expects a kernel without aufs"
    p = run(aufs.REGISTRATION, short_tmp)
    assert p.status == "skip" and p.meta.exports == {"root": str(short_tmp / "io.containerd.snapshotter.v1.aufs")}
    if shutil.which("modprobe") is None:  # as in reference/outputs/plugins-ls-d.txt
        assert p.error_message == ('aufs is not supported (modprobe aufs failed: exec: "modprobe": '
                                   'executable file not found in $PATH ""): skip plugin')
    else:
        assert p.error_message.startswith("aufs is not supported (modprobe aufs failed: exit status ")


def test_aufs_detection_reads_the_kernels_filesystems(tmp_path: Path) -> None:
    (tmp_path / "filesystems").write_text("nodev\ttmpfs\nnodev\taufs\n")
    check_supported(str(tmp_path / "filesystems"))  # present: no error
    (tmp_path / "filesystems").write_text("nodev\ttmpfs\n")
    with pytest.raises(AufsUnsupported, match="^aufs is not supported"):
        check_supported(str(tmp_path / "filesystems"))


def test_go_quote() -> None:
    assert go_quote(b"") == '""'
    assert go_quote(b'say "hi"\n\t\x01\xff') == '"say \\"hi\\"\\n\\t\\x01\\xff"'
    assert go_quote("é".encode()) == '"é"'


def test_devmapper_is_an_error_until_configured(short_tmp: Path) -> None:
    p = run(devmapper.REGISTRATION, short_tmp)
    assert (p.status, p.error_message, p.meta.exports) == ("error", "devmapper not configured", {})
    assert errdefs.to_grpc(p.error)[0].name == "UNKNOWN"
    half = run(devmapper.REGISTRATION, short_tmp, DevmapperConfig(pool_name="pool"))
    assert isinstance(half.error, errdefs.InvalidArgument) and "base_image_size is required" in str(half.error)
    full = run(devmapper.REGISTRATION, short_tmp, DevmapperConfig(pool_name="pool", base_image_size="10GB"))
    assert full.status == "error" and isinstance(full.error, errdefs.NotImplemented)
    assert not (short_tmp / "io.containerd.snapshotter.v1.devmapper").exists()
