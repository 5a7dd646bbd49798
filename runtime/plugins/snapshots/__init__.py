"""Snapshotters (``io.containerd.snapshotter.v1``): native, overlayfs and btrfs (when its root is on
btrfs), and the detectors that report why zfs, aufs and devmapper cannot run here. :mod:`.local`
is what native and overlayfs share (metadata, stat, update, usage, walk, commit, remove).
"""
