"""Working with whole images outside the daemon: archives (import/export) and sample images.

The records and pure logic live in :mod:`pyctrd.core.images`; this package holds the parts
that read and write files: :mod:`.archive` and :mod:`.samples`.
"""
