"""Docker-format images (v2 manifest, manifest list) pulled by the real ``ctr`` and by ``pyctr`` into pyctrd.

Each pull is done twice, by ctr into one namespace and by pyctr into another, and what the
daemon then holds is compared: image records (containerd keeps the media types the registry
sent), content with its GC and distribution labels, snapshots, and the ``unpacking`` lines.
The platform options (``--platform``, ``--all-platforms``) and ``--user`` are tested the same way.
"""
from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping

import pytest

from pyctrd.core.images import chain_ids
from pyctrd.core.ocispec import (
    MEDIA_TYPE_DOCKER_CONFIG,
    MEDIA_TYPE_DOCKER_LAYER,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_MANIFEST_LIST,
)
from pyctrd.images.samples import SampleImage, push_samples
from pyctrd.remotes import DockerResolver
from tests.fixtures.daemon import DaemonProcess
from tests.fixtures.registry import PASSWORD, USER, Registry

from .test_ctr_pull import check_pull_output

pytestmark = [pytest.mark.requires_root, pytest.mark.needs_ctr]


def content(d: DaemonProcess, ns: str) -> dict[str, frozenset[str]]:
    """digest -> labels of ``ctr content ls`` (ctr prints labels in Go's random map order)."""
    rows = [line.split("\t") for line in d.ctr("content", "ls", namespace=ns).stdout.splitlines()[1:]]
    return {r[0]: frozenset(r[-1].split(",")) for r in rows}


def labels_of(d: DaemonProcess, ns: str, digest: str) -> dict[str, str]:
    return dict(label.split("=", 1) for label in content(d, ns)[digest])


def same_state(d: DaemonProcess, a: str, b: str) -> None:
    """Namespaces ``a`` (ctr's pull) and ``b`` (pyctr's) hold the same images, content and snapshots."""
    for args in (("images", "ls"), ("images", "check"), ("snapshots", "ls")):
        # (check fails, as for containerd, when this host's manifest was not pulled)
        ra, rb = d.ctr(*args, namespace=a, check=False), d.ctr(*args, namespace=b, check=False)
        assert (ra.returncode, ra.stdout) == (rb.returncode, rb.stdout), args
    assert content(d, a) == content(d, b)


def unpacking(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("unpacking ")]


def test_docker_v2_manifest(pyctrd: DaemonProcess, pushed_docker: Registry,
                            docker_samples: Mapping[str, SampleImage], samples: Mapping[str, SampleImage]) -> None:
    s = docker_samples["busybox-docker"]
    ref = pushed_docker.ref("busybox-docker")
    check_pull_output(pyctrd.ctr("-n", "ctr", "images", "pull", "--plain-http", ref).stdout, ref, s)
    check_pull_output(pyctrd.pyctr("-n", "py", "images", "pull", "--plain-http", ref).stdout, ref, s)
    same_state(pyctrd, "ctr", "py")
    row = pyctrd.ctr("images", "ls", namespace="py").stdout.splitlines()[1].split()
    assert row[:3] == [ref, MEDIA_TYPE_DOCKER_MANIFEST, s.manifest.digest] and row[-2:] == ["linux/amd64", "-"]
    image = pyctrd.client("py").images.get(ref)
    assert (image.target.media_type, image.target.digest, image.target.size) == (
        MEDIA_TYPE_DOCKER_MANIFEST, s.manifest.digest, s.manifest.size)
    manifest = json.loads(pyctrd.ctr("content", "get", s.manifest.digest, namespace="py").stdout)
    assert manifest["mediaType"] == MEDIA_TYPE_DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == MEDIA_TYPE_DOCKER_CONFIG
    assert [x["mediaType"] for x in manifest["layers"]] == [MEDIA_TYPE_DOCKER_LAYER]
    # the layer is the OCI busybox's, byte for byte: the same diff ID and the same snapshot
    busybox = samples["busybox"]
    assert s.layers[0].digest == busybox.layers[0].digest and s.manifest.digest != busybox.manifest.digest
    chain = chain_ids(busybox.diff_ids)[-1]
    assert labels_of(pyctrd, "py", s.config.digest)["containerd.io/gc.ref.snapshot.overlayfs"] == chain
    assert labels_of(pyctrd, "py", s.layers[0].digest)["containerd.io/uncompressed"] == busybox.diff_ids[0]


@pytest.mark.parametrize("options", [(), ("--platform", "linux/arm64"), ("--all-platforms",)],
                         ids=["host", "arm64", "all"])
def test_docker_manifest_list_and_platforms(pyctrd: DaemonProcess, pushed_docker: Registry,
                                            docker_samples: Mapping[str, SampleImage], options: tuple[str, ...]) -> None:
    s = docker_samples["busybox-docker-list"]
    ref = pushed_docker.ref("busybox-docker-list")
    index = json.loads(s.blobs[s.manifest.digest])
    host_m, arm_m = (m["digest"] for m in index["manifests"])
    theirs = pyctrd.ctr("-n", "ctr", "images", "pull", "--plain-http", *options, ref).stdout
    mine = pyctrd.pyctr("-n", "py", "images", "pull", "--plain-http", *options, ref).stdout
    assert unpacking(mine) == unpacking(theirs) == {
        (): [f"unpacking linux/amd64 {s.manifest.digest}..."],
        ("--platform", "linux/arm64"): [f"unpacking linux/arm64 {s.manifest.digest}..."],
        ("--all-platforms",): [f"unpacking linux/amd64 {s.manifest.digest}...",
                               f"unpacking linux/arm64/v8 {s.manifest.digest}..."]}[options]
    same_state(pyctrd, "ctr", "py")
    row = pyctrd.ctr("images", "ls", namespace="py").stdout.splitlines()[1].split()
    assert row[:3] == [ref, MEDIA_TYPE_DOCKER_MANIFEST_LIST, s.manifest.digest]
    assert row[-2:] == ["linux/amd64,linux/arm64/v8", "-"]
    assert pyctrd.client("py").images.get(ref).target.media_type == MEDIA_TYPE_DOCKER_MANIFEST_LIST
    held = content(pyctrd, "py")
    # the index names every manifest for GC, also the one a single-platform pull did not fetch
    index_labels = labels_of(pyctrd, "py", s.manifest.digest)
    assert (index_labels["containerd.io/gc.ref.content.m.0"], index_labels["containerd.io/gc.ref.content.m.1"]) == (
        host_m, arm_m)
    fetched = {(): {host_m}, ("--platform", "linux/arm64"): {arm_m}, ("--all-platforms",): {host_m, arm_m}}[options]
    assert {host_m, arm_m} & set(held) == fetched


def test_no_manifest_for_the_platform_fails_like_ctr(pyctrd: DaemonProcess, pushed_docker: Registry,
                                                     docker_samples: Mapping[str, SampleImage]) -> None:
    s = docker_samples["busybox-docker-list"]
    ref = pushed_docker.ref("busybox-docker-list")
    theirs = pyctrd.ctr("-n", "ctr", "images", "pull", "--plain-http", "--platform", "linux/s390x", ref, check=False)
    mine = pyctrd.pyctr("-n", "py", "images", "pull", "--plain-http", "--platform", "linux/s390x", ref, check=False)
    assert (mine.returncode, theirs.returncode) == (1, 1)
    assert last_line(mine.stderr) == last_line(theirs.stderr) == (
        f"no match for platform in manifest {s.manifest.digest}: not found")
    # ctr fetches with no manifest limit, records the image and fails only when it unpacks;
    # pyctr fails in the fetch (as containerd's client.Pull does): nothing is recorded
    assert pyctrd.ctr("images", "ls", "-q", namespace="ctr").stdout == f"{ref}\n"
    assert pyctrd.ctr("images", "ls", "-q", namespace="py").stdout == ""


def last_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1].split(": ", 1)[1]


def test_user_for_a_registry_with_basic_auth(pyctrd: DaemonProcess, htpasswd_registry: Registry,
                                             samples: Mapping[str, SampleImage]) -> None:
    reg = htpasswd_registry
    push_samples(DockerResolver(credentials=reg.credentials), reg.host, {"busybox": samples["busybox"]})
    ref = reg.ref("busybox")

    def pull(ns: str, *user: str) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
        return (pyctrd.ctr("-n", f"ctr{ns}", "images", "pull", "--plain-http", *user, ref, check=False),
                pyctrd.pyctr("-n", f"py{ns}", "images", "pull", "--plain-http", *user, ref, check=False))

    for user in ((), ("--user", f"{USER}:wrong")):
        theirs, mine = pull("x", *user)
        assert (mine.returncode, theirs.returncode) == (1, 1), user
        assert "401 Unauthorized" in theirs.stderr and "401 Unauthorized" in mine.stderr
    theirs, mine = pull("", "--user", f"{USER}:{PASSWORD}")
    check_pull_output(theirs.stdout, ref, samples["busybox"])
    check_pull_output(mine.stdout, ref, samples["busybox"])
    same_state(pyctrd, "ctr", "py")
    assert pyctrd.ctr("images", "ls", "-q", namespace="py").stdout == f"{ref}\n"
