"""``python -m pyctrd.shim …``: the same as the ``containerd-shim-pyrunc-v1`` command."""
import sys

from .main import main

if __name__ == "__main__":
    sys.exit(main())
