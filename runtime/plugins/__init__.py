"""Implementations, one package per subsystem and implementation; each has a tiny ``plugin.py``."""
