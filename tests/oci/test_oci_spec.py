"""The default spec and the options, compared with what the real containerd 1.6 produced."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pyctrd import errdefs
from pyctrd.core import oci
from pyctrd.core.oci import caps
from pyctrd.core.oci.user import root_path

REFERENCE = Path(__file__).parent / "data"  # what the real containerd 1.6 printed (README.md)


def test_default_spec_prints_like_ctr_oci_spec() -> None:
    text = (REFERENCE / "oci-spec-default.txt").read_text()
    assert oci.dumps(oci.default_spec("default")) == text.rstrip("\n")
    assert oci.default_spec("default") == json.loads(text)


def test_ctr_run_options_reproduce_the_bundle_config() -> None:
    """``ctr run -d busybox c1 sleep 1000`` = default + unix devices + image config + shares."""
    expected = json.loads((REFERENCE / "bundle-config-json.txt").read_text())
    image = {"config": {"Env": oci.spec.DEFAULT_UNIX_ENV, "Cmd": ["sh"]}}
    spec = oci.generate_spec("default", "c1", oci.with_default_unix_devices,
                             oci.with_image_config(image, args=["sleep", "1000"]),
                             oci.with_cpu_shares(1024))
    assert spec == expected


def test_default_spec_shape() -> None:
    s = oci.default_spec("lab", "c2")
    assert s["linux"]["cgroupsPath"] == "/lab/c2"
    assert [m["destination"] for m in s["mounts"]] == [
        "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/run"]
    assert s["process"]["capabilities"]["bounding"] == oci.DEFAULT_CAPS
    assert "CAP_SYS_ADMIN" not in oci.DEFAULT_CAPS
    assert s["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
    assert "terminal" not in s["process"] and "hostname" not in s
    # every call is a fresh copy: changing one spec never changes the next
    s["mounts"][0]["options"].append("ro")
    assert oci.default_spec("lab", "c2")["mounts"][0]["options"] == ["nosuid", "noexec", "nodev"]


@pytest.mark.parametrize("ns,cid", [("", "c1"), ("../x", "c1"), ("ok", "a/b")])
def test_default_spec_refuses_bad_identifiers(ns: str, cid: str) -> None:
    with pytest.raises(errdefs.InvalidArgument):
        oci.default_spec(ns, cid)


def test_dumps_orders_fields_like_containerd() -> None:
    spec = oci.generate_spec("default", "c1", oci.with_hostname("box"), oci.with_tty,
                             oci.with_process_args("sh"), oci.with_memory_limit(1 << 20))
    keys = list(json.loads(oci.dumps(spec)))
    assert keys == ["ociVersion", "process", "root", "hostname", "mounts", "linux"]
    assert list(json.loads(oci.dumps(spec))["process"])[:3] == ["terminal", "user", "args"]
    resources = json.loads(oci.dumps(spec))["linux"]["resources"]
    assert list(resources) == ["devices", "memory"]


def test_env_merging_and_tty() -> None:
    spec = oci.generate_spec("d", "c", oci.with_env(["A=1", "B=2"]), oci.with_env(["A=3", "B"]),
                             oci.with_tty, oci.with_tty_size(80, 24))
    assert spec["process"]["env"] == ["A=3", "TERM=xterm"]
    assert spec["process"]["terminal"] is True
    assert spec["process"]["consoleSize"] == {"height": 24, "width": 80}


def test_image_config_env_entrypoint_workdir() -> None:
    image = {"config": {"Env": ["PATH=/img", "X=img"], "Entrypoint": ["/entry"], "Cmd": ["run"],
                        "WorkingDir": "/app", "User": "1000:1000"}}
    spec = oci.generate_spec("d", "c", oci.with_env(["X=mine"]), oci.with_image_config(image))
    p = spec["process"]
    assert p["args"] == ["/entry", "run"] and p["cwd"] == "/app"
    assert p["env"] == ["PATH=/img", "X=mine"]  # what the spec had wins over the image
    assert p["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000]}
    args = oci.generate_spec("d", "c", oci.with_image_config(image, args=["other"]))["process"]["args"]
    assert args == ["/entry", "other"]
    with pytest.raises(errdefs.InvalidArgument):
        oci.with_image_config(b"not json")


def _rootfs(tmp_path: Path) -> Path:
    etc = tmp_path / "rootfs" / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\napp:x:1001:\nstaff:x:50:app\nwheel:x:10:app,root\n")
    return tmp_path / "rootfs"


def test_users_and_groups_come_from_the_rootfs(tmp_path: Path) -> None:
    rootfs = str(_rootfs(tmp_path))
    spec = oci.generate_spec("d", "c", oci.with_rootfs_path(rootfs),
                             oci.with_image_config({"config": {"User": "app", "Cmd": ["x"]}}))
    assert spec["process"]["user"] == {"uid": 1000, "gid": 1001, "additionalGids": [1001, 50, 10]}
    for userstr, ids in [("app:staff", (1000, 50)), ("1000", (1000, 1001)), ("4242", (4242, 0)),
                         ("0:app", (0, 1001))]:
        s = oci.generate_spec("d", "c", oci.with_user(userstr, rootfs))
        assert (s["process"]["user"]["uid"], s["process"]["user"]["gid"]) == ids, userstr
    with pytest.raises(errdefs.NotFound, match="ghost"):
        oci.generate_spec("d", "c", oci.with_user("ghost", rootfs))
    with pytest.raises(errdefs.NotFound, match="nogroup"):
        oci.generate_spec("d", "c", oci.with_user("app:nogroup", rootfs))
    with pytest.raises(errdefs.InvalidArgument):
        oci.generate_spec("d", "c", oci.with_user("a:b:c", rootfs))
    with pytest.raises(errdefs.InvalidArgument, match="rootfs absolute path"):
        oci.generate_spec("d", "c", oci.with_user("app"))  # root.path is "rootfs", relative


def test_passwd_symlink_cannot_escape_the_rootfs(tmp_path: Path) -> None:
    rootfs = _rootfs(tmp_path)
    os.unlink(rootfs / "etc" / "passwd")
    (tmp_path / "hostpasswd").write_text("evil:x:0:0::/:/bin/sh\n")
    (rootfs / "etc" / "passwd").symlink_to("../../../hostpasswd")
    assert root_path(str(rootfs), "/etc/passwd") == str(rootfs / "hostpasswd")
    with pytest.raises(errdefs.NotFound):
        oci.generate_spec("d", "c", oci.with_user("evil", str(rootfs)))


def test_namespaces_mounts_and_resources() -> None:
    spec = oci.generate_spec(
        "d", "c", oci.with_host_namespace("network"), oci.with_host_resolvconf,
        oci.with_linux_namespace("network", "/proc/1/ns/net"), oci.with_cpus(1.5),
        oci.with_pids_limit(10), oci.with_readonly_rootfs, oci.with_cgroup("/custom/x"),
        oci.without_mounts("/run"))
    assert spec["linux"]["namespaces"][-1] == {"type": "network", "path": "/proc/1/ns/net"}
    assert spec["mounts"][-1] == {"destination": "/etc/resolv.conf", "type": "bind",
                                  "source": "/etc/resolv.conf", "options": ["rbind", "ro"]}
    assert "/run" not in [m["destination"] for m in spec["mounts"]]
    assert spec["linux"]["resources"]["cpu"] == {"quota": 150000, "period": 100000}
    assert spec["linux"]["resources"]["pids"] == {"limit": 10}
    assert spec["root"] == {"path": "rootfs", "readonly": True}
    assert spec["linux"]["cgroupsPath"] == "/custom/x"
    for bad in (lambda: oci.with_host_namespace("nope"), lambda: oci.with_memory_limit(0),
                lambda: oci.with_cpus(-1), lambda: oci.with_mounts([{"destination": "rel"}])):
        with pytest.raises(errdefs.InvalidArgument):
            bad()


def test_privileged_is_opt_in() -> None:
    plain = oci.default_spec("d", "c")
    spec = oci.generate_spec("d", "c", oci.with_privileged)
    assert "maskedPaths" not in spec["linux"] and "readonlyPaths" not in spec["linux"]
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert "rw" in next(m for m in spec["mounts"] if m["type"] == "sysfs")["options"]
    assert spec["process"]["capabilities"]["bounding"] == caps.current()
    assert any(d["path"] == "/dev/null" for d in spec["linux"]["devices"])
    assert plain["linux"]["maskedPaths"] and "devices" not in plain["linux"]


def test_capabilities() -> None:
    spec = oci.generate_spec("d", "c", oci.with_added_capabilities(["CAP_SYS_ADMIN", "CAP_KILL"]),
                             oci.with_dropped_capabilities(["CAP_NET_RAW"]))
    bounding = spec["process"]["capabilities"]["bounding"]
    assert bounding.count("CAP_KILL") == 1 and bounding[-1] == "CAP_SYS_ADMIN"
    assert "CAP_NET_RAW" not in bounding
    assert caps.from_bitmap(1 << 21 | 1 << 40) == ["CAP_SYS_ADMIN", "CAP_CHECKPOINT_RESTORE"]
    assert set(caps.current()) <= set(caps.KNOWN)
