"""A registry that misbehaves on purpose: the lowest seam under the remotes fetch path.

It speaks just enough of the distribution API to serve an image from memory (``HEAD``/``GET``
of ``/v2/<repo>/manifests/<tag or digest>`` and ``/v2/<repo>/blobs/<digest>``), and a rule per
path can replace the answer:

- ``redirect``: ``307`` to ``to`` (another host, itself, a ``file://`` URL, ...);
- ``stall``: send the headers and ``after`` bytes, then go quiet for ``seconds``;
- ``status``: answer ``code`` with ``headers`` (e.g. 401 without a challenge);
- ``length``: announce ``Content-Length: n`` whatever the body is;
- ``truncate``: announce the full length, send ``after`` bytes, hang up (honours Range);
- ``body``: serve these bytes instead (a lying registry);
- ``corrupt``: serve the right length with the byte at ``after`` flipped (bit rot on the way);
- ``trickle``: serve the body in ``n`` pieces, ``seconds`` apart (slow, but moving).

The real registry tests (tests/remotes, against Debian's docker-registry) stand beside these.
``seen`` records (method, path, Authorization header present?) of every request.
"""
from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pyctrd.core import digest as digests
from pyctrd.core.ocispec import (
    MEDIA_TYPE_OCI_CONFIG,
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_LAYER,
    MEDIA_TYPE_OCI_MANIFEST,
)

__all__ = ["Blob", "HostileRegistry", "Rule", "image", "index"]


@dataclass
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return digests.from_bytes(self.data)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


def image(layers: list[bytes]) -> tuple[Blob, list[Blob]]:
    """A manifest and its config and layers (as blobs)."""
    ls = [Blob(MEDIA_TYPE_OCI_LAYER, data) for data in layers]
    config = Blob(MEDIA_TYPE_OCI_CONFIG, json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": [b.digest for b in ls]}}).encode())
    manifest = Blob(MEDIA_TYPE_OCI_MANIFEST, json.dumps({
        "schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_MANIFEST, "config": config.descriptor(),
        "layers": [b.descriptor() for b in ls]}).encode())
    return manifest, [config, *ls]


def index(manifests: list[dict[str, Any]]) -> Blob:
    return Blob(MEDIA_TYPE_OCI_INDEX, json.dumps({"schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_INDEX,
                                                  "manifests": manifests}).encode())


@dataclass
class Rule:
    action: str
    to: str = ""
    after: int = 0
    seconds: float = 0.0
    code: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    n: int = 0


class HostileRegistry:
    def __init__(self, bind: str = "127.0.0.1", basic_auth: tuple[str, str] | None = None) -> None:
        #: with ``basic_auth``, every request without those credentials gets a Basic challenge
        self.basic = "Basic " + base64.b64encode(":".join(basic_auth).encode()).decode() if basic_auth else None
        self.blobs: dict[str, Blob] = {}
        self.tags: dict[str, str] = {}
        self.rules: dict[str, Rule] = {}
        self.seen: list[tuple[str, str, bool]] = []
        self._stop = threading.Event()
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                registry._answer(self, head=True)

            def do_GET(self) -> None:
                registry._answer(self, head=False)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients hang up on stalled answers: expected here

        self._server = Server((bind, 0), Handler)
        self.host = f"{bind}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<HostileRegistry {self.host} blobs={len(self.blobs)} rules={len(self.rules)}>"

    def add(self, *blobs: Blob, tag: str | None = None) -> HostileRegistry:
        for b in blobs:
            self.blobs[b.digest] = b
        if tag is not None:
            self.tags[tag] = blobs[0].digest
        return self

    def ref(self, tag: str = "latest", repo: str = "hostile") -> str:
        return f"{self.host}/{repo}:{tag}"

    def close(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        self.seen.append((h.command, h.path, "Authorization" in h.headers))
        if self.basic and h.headers.get("Authorization") != self.basic:
            return self._send(h, 401, b'{"errors": [{"code": "UNAUTHORIZED"}]}', head,
                              {"WWW-Authenticate": 'Basic realm="hostile"'})
        if h.path == "/v2/":
            return self._send(h, 200, b"{}", head)
        parts = h.path.split("/")
        if len(parts) < 5 or parts[1] != "v2":
            return self._send(h, 404, b"{}", head)
        kind, ref = parts[-2], parts[-1]
        digest = self.tags.get(ref, ref)
        rule = self.rules.get(digest) or self.rules.get(h.path)
        blob = self.blobs.get(digest)
        if rule is None and blob is None:
            return self._send(h, 404, json.dumps({"errors": [{"code": "BLOB_UNKNOWN"}]}).encode(), head)
        data = blob.data if blob is not None else b""
        headers = {"Content-Type": blob.media_type if blob else "application/octet-stream",
                   "Docker-Content-Digest": digest if kind == "manifests" and blob else ""}
        if rule is None:
            return self._send(h, 200, data, head, headers, honour_range=True)
        if rule.action == "redirect":
            return self._send(h, 307, b"", head, {"Location": rule.to})
        if rule.action == "status":
            return self._send(h, rule.code, b'{"errors": []}', head, rule.headers)
        if rule.action == "body":
            return self._send(h, 200, rule.body, head, headers)
        if rule.action == "corrupt":
            bad = bytearray(data)
            bad[rule.after % len(bad)] ^= 0xFF
            return self._send(h, 200, bytes(bad), head, headers, honour_range=True)
        if rule.action == "length":
            return self._send(h, 200, data, head, {**headers, "Content-Length": str(rule.n)})
        if rule.action == "stall":
            self._head(h, 200, {**headers, "Content-Length": str(len(data))})
            if not head:
                h.wfile.write(data[:rule.after])
                h.wfile.flush()
                self._stop.wait(rule.seconds)
            return None
        if rule.action == "trickle":
            self._head(h, 200, {**headers, "Content-Length": str(len(data))})
            if not head:
                step = -(-len(data) // max(rule.n, 1))
                for i in range(0, len(data), step):
                    if i:
                        self._stop.wait(rule.seconds)
                    h.wfile.write(data[i:i + step])
                    h.wfile.flush()
            return None
        if rule.action == "truncate":
            start = _range_start(h)
            part = data[start:]
            code = 206 if start else 200
            extra = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"} if start else {}
            self._head(h, code, {**headers, **extra, "Content-Length": str(len(part)), "Connection": "close"})
            if not head:
                h.wfile.write(part[:rule.after])
                h.wfile.flush()
            h.close_connection = True
            return None
        raise AssertionError(f"unknown rule {rule.action}")

    @staticmethod
    def _head(h: BaseHTTPRequestHandler, code: int, headers: dict[str, str]) -> None:
        h.send_response(code)
        for k, v in headers.items():
            if v:
                h.send_header(k, v)
        h.end_headers()

    def _send(self, h: BaseHTTPRequestHandler, code: int, data: bytes, head: bool,
              headers: dict[str, str] | None = None, honour_range: bool = False) -> None:
        headers = dict(headers or {})
        start = _range_start(h) if honour_range else 0
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            data, code = data[start:], 206
        headers.setdefault("Content-Length", str(len(data)))
        self._head(h, code, headers)
        if not head:
            h.wfile.write(data)


def _range_start(h: BaseHTTPRequestHandler) -> int:
    rng = h.headers.get("Range", "")
    return int(rng[6:].split("-")[0]) if rng.startswith("bytes=") else 0


