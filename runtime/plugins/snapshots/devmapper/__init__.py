"""The devmapper snapshotter's configuration check (pyctrd has no devmapper snapshotter)."""
