"""The daemon's registry hosts configuration (``io.containerd.internal.v1.registry``)."""
from .config import RegistryConfig, host_options

__all__ = ["RegistryConfig", "host_options"]
