"""Interfaces (Protocols), records and shared logic of each subsystem.

Implementations live in :mod:`pyctrd.plugins`; nothing here imports the plugin registry.
"""
