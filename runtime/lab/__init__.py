"""The lab: a private pyctrd (and, with ``make lab``, a registry and JupyterLab) for learning.

A notebook can own its daemon::

    from pyctrd.lab import Lab
    lab = Lab.start()            # private root/state/socket under a temp dir
    c = lab.client()             # pyctrd.client.Client
    ...
    lab.stop()                   # stops the daemon by PID

``python -m pyctrd.lab --dir .lab`` is what ``make lab`` runs.
"""
from .lab import Lab

__all__ = ["Lab"]
