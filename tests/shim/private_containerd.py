"""Debian's real ``containerd`` on private paths, with our shim on its PATH.

The helper lives in the package now (:mod:`pyctrd.bench.daemons`, shared with ``pyctr bench``);
this module keeps the tests' import path. Everything it makes stays under one short temp
dir: ``root/``, ``state/``, the gRPC socket ``c.sock`` (so our shim's sockets go to
``<dir>/s/`` and its runc state to ``<dir>/runc/``) and ``ctr``'s FIFOs (``fifo/``). The CRI
plugin is disabled. It is stopped by PID; :meth:`PrivateContainerd.cleanup` also removes
what the Go shim left for our namespaces under ``/run/containerd``.
"""
from __future__ import annotations

from pyctrd.bench.daemons import CONTAINERD, PrivateContainerd

__all__ = ["CONTAINERD", "PrivateContainerd"]
