"""pyctrd: containerd 1.6, reimplemented in Python so that it can be read, run and watched.

The daemon (``pyctrd``) serves containerd's gRPC API on a unix socket; the client
(``pyctr`` and :mod:`pyctrd.client`) speaks the same API, to pyctrd or to a real containerd.
"""

__version__ = "0.1.0"
#: The containerd release whose API and behaviour pyctrd follows.
CONTAINERD_VERSION = "1.6.20"

__all__ = ["CONTAINERD_VERSION", "__version__"]
