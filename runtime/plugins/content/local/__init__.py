"""The local content store: containerd's on-disk layout of blobs and ingests.

See :mod:`.store` for the layout and the story of a write; :mod:`.plugin` registers it.
"""
from .store import LocalStore
from .writer import BlobReader, LocalWriter

__all__ = ["BlobReader", "LocalStore", "LocalWriter"]
