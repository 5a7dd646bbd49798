"""OCI runtime specs: containerd's default, and the options that shape it.

- :mod:`.spec`: :func:`default_spec`, :func:`generate_spec`, :func:`dumps` (``config.json``
  text in containerd's field order) and what a spec *is*;
- :mod:`.opts`: the ``with_*`` options (process, mounts, namespaces, cgroups, devices, caps);
- :mod:`.user`: resolving users and groups in the container's own /etc/passwd and /etc/group;
- :mod:`.image`: applying an image's config (Env, Entrypoint/Cmd, WorkingDir, User);
- :mod:`.caps`: capability names and bitmaps.
"""
from __future__ import annotations

from .image import image_process_config, with_image_config
from .opts import *  # noqa: F403 - the options are this package's API
from .opts import __all__ as _opts_all
from .spec import (
    DEFAULT_CAPS, OCI_VERSION, Spec, SpecOpt, apply_opts, compose, default_spec, dumps,
    generate_spec,
)
from .user import with_additional_gids, with_uid_gid, with_user, with_user_id, with_username

__all__ = [
    "DEFAULT_CAPS", "OCI_VERSION", "Spec", "SpecOpt", "apply_opts", "compose", "default_spec",
    "dumps", "generate_spec", "image_process_config", "with_additional_gids", "with_image_config",
    "with_uid_gid", "with_user", "with_user_id", "with_username", *_opts_all,
]
