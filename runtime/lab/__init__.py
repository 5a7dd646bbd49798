"""The lab: a private pyctrd (and, with ``make lab``, a registry and JupyterLab) for learning.

A notebook can own its daemon::

    from pyctrd.lab import Lab
    lab = Lab.start()            # private root/state/socket under a temp dir
    c = lab.client()             # pyctrd.client.Client
    ...
    lab.stop()                   # stops the daemon by PID

``lab.registry_with_samples()`` gives a registry holding the sample images (``make lab``'s, or
one of the lab's own); ``reference("content-ls")`` what the real containerd printed.

``python -m pyctrd.lab --dir .lab`` is what ``make lab`` runs.
"""
from .lab import Lab
from .reference import reference

__all__ = ["Lab", "reference"]
