"""Garbage collection schedulers (``io.containerd.gc.v1``)."""
