#!/usr/bin/env python3
"""Generate pyctrd's private gRPC/protobuf stubs from containerd 1.6's own .proto files.

Why this exists: the .proto files are the contract the real ``ctr`` speaks. We never
commit generated code; we rebuild it from Debian's packages at build time:

- ``golang-github-containerd-containerd-dev`` (containerd 1.6 API, runtime-v2 shim API,
  runc options),
- ``golang-github-containerd-cgroups-dev`` (the cgroup metrics types ``ctr tasks metrics``
  decodes),
- ``golang-github-gogo-protobuf-dev`` (``gogo.proto``: options only, no wire effect),
- ``googleapis-common-protos`` (``google/rpc/status.proto``, already a Python package).

The Go import paths (``github.com/containerd/containerd/api/...``) are rewritten so that
protoc emits imports inside the private package ``pyctrd._api``.

Usage: ``python scripts/gen_api.py [--out runtime/_api] [--debs build/debs]``.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEBS = (
    "golang-github-containerd-containerd-dev",
    "golang-github-containerd-cgroups-dev",
    "golang-github-gogo-protobuf-dev",
)
GOCODE = Path("usr/share/gocode/src")

# (source path under gocode, where it goes under pyctrd/_api)
CONTAINERD = "github.com/containerd/containerd"
SOURCES = {
    f"{CONTAINERD}/api": "containerd/api",
    f"{CONTAINERD}/runtime/v2/task/shim.proto": "containerd/runtime/v2/task/shim.proto",
    f"{CONTAINERD}/runtime/v2/runc/options/oci.proto": "containerd/runtime/v2/runc/options/oci.proto",
    f"{CONTAINERD}/runtime/linux/runctypes/runc.proto": "containerd/runtime/linux/runctypes/runc.proto",
    f"{CONTAINERD}/protobuf/plugin/fieldpath.proto": "containerd/protobuf/plugin/fieldpath.proto",
    "github.com/containerd/cgroups/stats/v1/metrics.proto": "cgroups/stats/v1/metrics.proto",
    "github.com/containerd/cgroups/v2/stats/metrics.proto": "cgroups/v2/stats/metrics.proto",
    "github.com/gogo/protobuf/gogoproto/gogo.proto": "gogoproto/gogo.proto",
}
PREFIX = "pyctrd/_api"
IMPORT_RE = re.compile(r'^(\s*import\s+)(weak\s+|public\s+)?"([^"]+)";', re.M)


def rewrite_import(path: str) -> str:
    """Map a Go-style import path to our tree; leave google/* alone."""
    if path.startswith("google/"):
        return path
    if path in ("gogoproto/gogo.proto", "github.com/gogo/protobuf/gogoproto/gogo.proto"):
        return f"{PREFIX}/gogoproto/gogo.proto"
    for src, dst in SOURCES.items():
        if path == src or path.startswith(src + "/"):
            return f"{PREFIX}/{dst}{path[len(src):]}"
    raise SystemExit(f"gen_api: no mapping for import {path!r}")


def rewrite(text: str) -> str:
    # 'weak' imports are a gogo habit; python's generator wants plain ones.
    return IMPORT_RE.sub(lambda m: f'{m.group(1)}"{rewrite_import(m.group(3))}";', text)


def fetch_debs(debs_dir: Path) -> Path:
    """Download and unpack the three -dev packages (no install, no Go dependencies)."""
    root = debs_dir / "root"
    if (root / GOCODE / CONTAINERD / "api").is_dir() and (root / GOCODE / "github.com/gogo").is_dir() \
            and (root / GOCODE / "github.com/containerd/cgroups").is_dir():
        return root
    debs_dir.mkdir(parents=True, exist_ok=True)
    for pkg in DEBS:
        if not list(debs_dir.glob(f"{pkg}_*.deb")):
            subprocess.run(["apt-get", "download", pkg], cwd=debs_dir, check=True)
    for deb in sorted(debs_dir.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def find_sources(debs_dir: Path) -> Path:
    system = Path("/") / GOCODE
    if all((system / s).exists() for s in SOURCES):
        return system
    root = fetch_debs(debs_dir) / GOCODE
    missing = [s for s in SOURCES if not (root / s).exists()]
    if missing:
        raise SystemExit(f"gen_api: missing proto sources after unpacking: {missing}")
    return root


def stage(src_root: Path, staging: Path) -> list[str]:
    protos = []
    for src, dst in SOURCES.items():
        base = src_root / src
        files = [base] if base.is_file() else sorted(base.rglob("*.proto"))
        for f in files:
            rel = dst if base.is_file() else f"{dst}/{f.relative_to(base)}"
            out = staging / PREFIX / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(rewrite(f.read_text()))
            protos.append(f"{PREFIX}/{rel}")
    return protos


def googleapis_include() -> str:
    import google.rpc.status_pb2 as status  # googleapis-common-protos ships the .proto too

    # google/rpc/status_pb2.py -> site-packages
    return str(Path(status.__file__).resolve().parents[2])


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=here / "runtime" / "_api")
    ap.add_argument("--debs", type=Path, default=here / "build" / "debs")
    args = ap.parse_args(argv)

    import grpc_tools
    from grpc_tools import protoc

    src_root = find_sources(args.debs)
    with tempfile.TemporaryDirectory() as tmp:
        staging, out = Path(tmp) / "proto", Path(tmp) / "out"
        out.mkdir()
        protos = stage(src_root, staging)
        wkt = str(Path(grpc_tools.__file__).parent / "_proto")
        cmd = ["protoc", f"-I{staging}", f"-I{wkt}", f"-I{googleapis_include()}",
               f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}", *protos]
        if protoc.main(cmd) != 0:
            raise SystemExit("gen_api: protoc failed")
        gen = out / PREFIX
        for d in [gen, *(p for p in gen.rglob("*") if p.is_dir())]:
            (d / "__init__.py").touch()
        (gen / "__init__.py").write_text(
            '"""Generated from containerd 1.6 .proto files by scripts/gen_api.py. Do not edit."""\n')
        # Drop empty *_grpc.py files for protos without services: less noise for students.
        for g in gen.rglob("*_pb2_grpc.py"):
            if "class " not in g.read_text():
                g.unlink()
        tmp_out = args.out.with_name(args.out.name + ".new")
        shutil.rmtree(tmp_out, ignore_errors=True)
        shutil.copytree(gen, tmp_out)
        shutil.rmtree(args.out, ignore_errors=True)
        os.replace(tmp_out, args.out)
    print(f"gen_api: {len(protos)} protos -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
