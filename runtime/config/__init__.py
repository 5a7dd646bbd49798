"""Daemon configuration: containerd's version-2 TOML, with documented fields.

- :mod:`.schema` - the :class:`Config` dataclass tree (``root``, ``state``, ``[grpc]``, ...).
- :mod:`.fields` - :func:`setting` (a field with its doc and default) and :class:`Duration`.
- :mod:`.load` - parse, check and merge files; write TOML back out.
"""
from .fields import Duration, doc_of, setting
from .load import ConfigError, Loaded, decode, find_line, load, loads, to_dict, to_toml
from .schema import DEFAULT_ADDRESS, DEFAULT_ROOT, DEFAULT_STATE, Config

__all__ = [
    "DEFAULT_ADDRESS", "DEFAULT_ROOT", "DEFAULT_STATE", "Config", "ConfigError", "Duration", "Loaded",
    "decode", "doc_of", "find_line", "load", "loads", "setting", "to_dict", "to_toml",
]
