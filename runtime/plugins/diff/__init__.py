"""Differs (``io.containerd.differ.v1``): apply layers onto mounts, write layers from mounts."""
