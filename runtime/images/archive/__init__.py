"""Image archives: import OCI layouts and docker archives into a content store, export them.

>>> sorted(__all__)[:3]
['ImportResult', 'export_docker_archive', 'export_oci']
"""
from __future__ import annotations

from .exporter import export_docker_archive, export_oci
from .importer import ImportResult, import_images, import_index, write_blob

__all__ = ["ImportResult", "export_docker_archive", "export_oci", "import_images", "import_index",
           "write_blob"]
