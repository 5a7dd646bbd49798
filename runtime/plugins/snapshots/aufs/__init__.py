"""The aufs snapshotter's detection: why it can or cannot run on this machine."""
