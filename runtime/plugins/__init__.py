"""Implementations: ``plugins/<subsystem>/<impl>/`` holds one implementation and its ``plugin.py``."""
