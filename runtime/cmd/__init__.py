"""Console scripts: ``pyctrd`` (the daemon) and ``pyctr`` (the client CLI)."""
