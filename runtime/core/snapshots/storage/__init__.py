"""The metadata every local snapshotter keeps: ``<root>/metadata.db`` (SQLite).

:class:`MetaStore` (the file, its connections, transactions) is in :mod:`.metastore`, with the
tutorial; :class:`Transaction` (the operations on records) is in :mod:`.transaction`.
"""
from .metastore import SCHEMA_VERSION, MetaStore
from .transaction import Snapshot, Transaction, utcnow

__all__ = ["SCHEMA_VERSION", "MetaStore", "Snapshot", "Transaction", "utcnow"]
