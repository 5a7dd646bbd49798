"""The btrfs snapshotter (subvolumes and copy-on-write snapshots) and its detection."""
from .detect import NotBtrfs, check_root
from .snapshotter import BtrfsSnapshotter

__all__ = ["BtrfsSnapshotter", "NotBtrfs", "check_root"]
