"""A counting reverse proxy in front of a real registry: how often was each blob downloaded?

The docker-registry the tests start keeps no access log; this proxy relays every request to it
unchanged (method, path, headers, body; the answer likewise, ``Range`` answers included) and
records ``(method, path)``. :meth:`CountingProxy.blob_gets` then says how many times each blob
was fetched - what "shared layers are fetched once" is measured with. Only pulls go through it
(HEAD/GET); the registry itself is the real one.
"""
from __future__ import annotations

import http.client
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["CountingProxy"]

#: Hop-by-hop headers are the connection's own, never relayed.
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class CountingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                proxy._relay(self)

            def do_GET(self) -> None:
                proxy._relay(self)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<CountingProxy {self.host} -> {self.upstream} requests={sum(self.requests.values())}>"

    def ref(self, name: str, tag: str = "latest") -> str:
        return f"{self.host}/{name}:{tag}"

    def blob_gets(self) -> Counter[str]:
        """digest -> how many GETs of ``/v2/<name>/blobs/<digest>`` reached the registry."""
        with self._lock:
            return Counter({p.rsplit("/", 1)[1]: n for (m, p), n in self.requests.items()
                            if m == "GET" and "/blobs/" in p})

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _relay(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests[h.command, h.path] += 1
        conn = http.client.HTTPConnection(self.upstream, timeout=60)
        try:
            conn.request(h.command, h.path, headers={k: v for k, v in h.headers.items() if k.lower() not in HOP})
            resp = conn.getresponse()
            body = resp.read()  # the sample images' blobs are small: whole answers are fine
            h.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP and k.lower() not in ("content-length", "date", "server"):
                    h.send_header(k, v)
            # a HEAD answer announces the length of the body it does not send
            h.send_header("Content-Length", resp.getheader("Content-Length", "0") if h.command == "HEAD"
                          else str(len(body)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(body)
        finally:
            conn.close()
