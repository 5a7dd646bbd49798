"""Plugins about registries (where images come from)."""
