"""From image to process: what an image's config contributes to a container's spec.

An image's config blob (``application/vnd.oci.image.config.v1+json``) carries defaults for
the process under its ``config`` key::

    {"config": {"Env": ["PATH=…"], "Entrypoint": ["/entry"], "Cmd": ["serve"],
                "WorkingDir": "/app", "User": "app:app"}, "rootfs": {…}, "history": […]}

:func:`with_image_config` turns them into the spec, as containerd's ``WithImageConfig`` does:
args are Entrypoint + Cmd (``args`` replaces Cmd), the image's Env comes first and whatever
the spec already had wins, cwd defaults to ``/``, and ``User`` is resolved against the
rootfs's own /etc/passwd and /etc/group (:mod:`pyctrd.core.oci.user`).

>>> from pyctrd.core.oci.spec import default_spec
>>> s = default_spec("default", "c1")
>>> with_image_config({"config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]}})(s)
>>> s["process"]["args"], s["process"]["env"], s["process"]["cwd"]
(['sh'], ['PATH=/bin'], '/')
"""
from __future__ import annotations

import json
import os
from typing import Any

from ...errdefs import InvalidArgument
from .opts import replace_or_append_env
from .spec import DEFAULT_UNIX_ENV, Spec, SpecOpt
from .user import with_additional_gids, with_user

__all__ = ["image_process_config", "with_image_config"]


def image_process_config(config: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """The ``config`` object of an image config document (JSON text or parsed).

    Raises:
        InvalidArgument: not JSON, or not an object.

    >>> image_process_config('{"config": {"Cmd": ["sh"]}}')
    {'Cmd': ['sh']}
    """
    if isinstance(config, (bytes, str)):
        try:
            config = json.loads(config)
        except ValueError as exc:
            raise InvalidArgument(f"image config is not JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise InvalidArgument("image config must be a JSON object")
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        raise InvalidArgument("image config's config must be a JSON object")
    return inner


def with_image_config(config: bytes | str | dict[str, Any], rootfs: str | None = None,
                      args: list[str] | None = None) -> SpecOpt:
    """Apply an image config's Env, Entrypoint/Cmd, WorkingDir and User.

    Args:
        config: the image config document (as stored in the content store).
        rootfs: where the container's root filesystem is, to resolve ``User`` names and
            supplementary groups; defaults to the spec's ``root.path`` when absolute.
            Without one, numeric users still work and no supplementary groups are added.
        args: replaces the image's Cmd (the Entrypoint stays), like ``ctr run IMG ID args…``.

    Raises:
        InvalidArgument: a malformed config or USER value, or a named user with no rootfs.
        NotFound: ``User`` names a user or group the rootfs does not have.
    """
    cfg = image_process_config(config)

    def opt(spec: Spec) -> None:
        proc = spec.setdefault("process", {})
        proc["env"] = replace_or_append_env(list(cfg.get("Env") or DEFAULT_UNIX_ENV),
                                            proc.get("env", []))
        proc["args"] = list(cfg.get("Entrypoint") or []) + list(args or cfg.get("Cmd") or [])
        proc["cwd"] = cfg.get("WorkingDir") or "/"
        root = rootfs or spec.get("root", {}).get("path", "")
        user = str(cfg.get("User") or "")
        if user:
            with_user(user, rootfs)(spec)
        have_root = os.path.isabs(root)
        if have_root:
            who = str(proc["user"]["uid"]) if user else "root"
            with_additional_gids(who, root)(spec)
        else:
            ids = proc.setdefault("user", {"uid": 0, "gid": 0})
            gid = ids.get("gid", 0)
            ids["additionalGids"] = [gid, *[g for g in ids.get("additionalGids", []) if g != gid]]
    return opt
