"""The event exchange (``io.containerd.event.v1`` ``exchange``)."""
from .exchange import Exchange

__all__ = ["Exchange"]
