"""Content store implementations (``io.containerd.content.v1``)."""
