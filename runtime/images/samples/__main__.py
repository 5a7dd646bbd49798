"""``python -m pyctrd.images.samples --out DIR [--push HOST:PORT] [--plain-http]``."""
from __future__ import annotations

import argparse
import sys

from . import build_samples, push_samples, write_samples
from .build import BUSYBOX

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pyctrd.images.samples", description=__doc__)
    ap.add_argument("--out", help="directory for OCI layouts and docker archives")
    ap.add_argument("--busybox", default=BUSYBOX, help=f"static busybox binary (default {BUSYBOX})")
    ap.add_argument("--push", metavar="REGISTRY", help="also push to REGISTRY (e.g. 127.0.0.1:5000)")
    ap.add_argument("--plain-http", action="store_true", help="talk http to a non-loopback registry")
    args = ap.parse_args(argv)
    if not args.out and not args.push:
        ap.error("give --out, --push or both")
    from ...errdefs import PyctrdError
    from ...remotes.docker import DockerResolver

    try:
        samples = build_samples(args.busybox)
        for name, s in samples.items():
            print(f"{name}: {s.manifest.digest} ({len(s.layers)} layers)")
        if args.out:
            for path in write_samples(args.out, samples).values():
                print(f"wrote {path}")
        if args.push:
            resolver = DockerResolver(plain_http=args.plain_http)
            for r in push_samples(resolver, args.push, samples).values():
                print(f"pushed {r!r}")
    except PyctrdError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
