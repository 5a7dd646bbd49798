"""Snapshotters (``io.containerd.snapshotter.v1``): native and overlayfs, and the detectors that
report why btrfs, zfs, aufs and devmapper cannot run here. :mod:`.local` is what the two local
snapshotters share (metadata, stat, update, usage, walk, commit, remove).
"""
