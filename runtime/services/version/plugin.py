"""``containerd.services.version.v1.Version``: which daemon is this?"""
from __future__ import annotations

import subprocess
from pathlib import Path

from google.protobuf import empty_pb2

from ... import CONTAINERD_VERSION, __version__
from ..._api.containerd.api.services.version.v1 import version_pb2, version_pb2_grpc
from ...plugin import Registration, register, types
from ..base import servicer

#: What ``ctr version`` shows as the server version: containerd's API level, then ours.
VERSION = f"{CONTAINERD_VERSION}+pyctrd.{__version__}"


def revision() -> str:
    """The git commit pyctrd runs from, when it runs from a checkout."""
    here = Path(__file__).resolve().parents[3]
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=2)
    except (OSError, subprocess.SubprocessError):
        return f"pyctrd-{__version__}"
    return out.stdout.strip() if out.returncode == 0 else f"pyctrd-{__version__}"


@servicer
class VersionService(version_pb2_grpc.VersionServicer):
    def __init__(self) -> None:
        self.response = version_pb2.VersionResponse(version=VERSION, revision=revision())

    async def Version(self, request: empty_pb2.Empty, context: object) -> version_pb2.VersionResponse:
        return self.response

    def register(self, server: object) -> None:
        version_pb2_grpc.add_VersionServicer_to_server(self, server)


registration = register(Registration(type=types.GRPC, id="version", init=lambda ic: VersionService(),
                                     doc="Version of the daemon"))
