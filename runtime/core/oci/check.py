"""Is it a runtime spec at all? The shape check a daemon makes before a runtime sees a spec.

containerd keeps a container's spec as opaque bytes in an ``Any``, so a client can store
anything there; runc then fails on it much later, with a Go unmarshalling error reported as
UNKNOWN. :func:`check_spec` looks at the JSON *shape* - the document is an object, the
properties the OCI runtime spec defines have the JSON types it gives them, a task has a
``process`` - and says what is wrong as :class:`~pyctrd.errdefs.InvalidArgument`. It does
not judge values (paths, capabilities, ...): that stays the runtime's business.

>>> check_spec(b'{"ociVersion": "1.0.2", "process": {"args": ["sh"]}}')["process"]["args"]
['sh']
>>> check_spec(b'[]')
Traceback (most recent call last):
...
pyctrd.errdefs.InvalidArgument: spec: must be a JSON object, not array: invalid argument
>>> check_spec(b'{"process": {"args": "sh"}}')
Traceback (most recent call last):
...
pyctrd.errdefs.InvalidArgument: spec: process.args must be an array, not string: invalid argument
"""
from __future__ import annotations

import json
from typing import Any

from ...errdefs import InvalidArgument

__all__ = ["RESOURCES", "SCHEMA", "check_json_object", "check_process", "check_resources", "check_spec"]

_ID_MAPPING = {"containerID": int, "hostID": int, "size": int}
_DEVICE_RULE = {"allow": bool, "type": str, "major": int, "minor": int, "access": str}
_THROTTLE = [{"major": int, "minor": int, "rate": int}]
#: OCI ``LinuxResources`` (a spec's ``linux.resources``, and what Tasks.Update sends).
RESOURCES: dict[str, Any] = {
    "devices": [_DEVICE_RULE],
    "memory": {"limit": int, "reservation": int, "swap": int, "kernel": int, "kernelTCP": int,
               "swappiness": int, "disableOOMKiller": bool, "useHierarchy": bool, "checkBeforeUpdate": bool},
    "cpu": {"shares": int, "quota": int, "burst": int, "period": int, "realtimeRuntime": int,
            "realtimePeriod": int, "cpus": str, "mems": str, "idle": int},
    "pids": {"limit": int},
    "blockIO": {"weight": int, "leafWeight": int, "weightDevice": [dict], "throttleReadBpsDevice": _THROTTLE,
                "throttleWriteBpsDevice": _THROTTLE, "throttleReadIOPSDevice": _THROTTLE,
                "throttleWriteIOPSDevice": _THROTTLE},
    "hugepageLimits": [{"pageSize": str, "limit": int}],
    "network": {"classID": int, "priorities": [{"name": str, "priority": int}]},
    "rdma": {"*": {"hcaHandles": int, "hcaObjects": int}},
    "unified": {"*": str},
}
#: property -> JSON type, a nested schema (an object), or [item type or schema] (an array).
SCHEMA: dict[str, Any] = {
    "ociVersion": str, "hostname": str, "domainname": str, "annotations": {"*": str},
    "root": {"path": str, "readonly": bool},
    "mounts": [{"destination": str, "source": str, "type": str, "options": [str]}],
    "process": {"terminal": bool, "consoleSize": {"height": int, "width": int}, "cwd": str, "env": [str],
                "args": [str], "commandLine": str, "rlimits": [{"type": str, "hard": int, "soft": int}],
                "apparmorProfile": str, "capabilities": {"*": [str]}, "noNewPrivileges": bool,
                "oomScoreAdj": int, "selinuxLabel": str,
                "user": {"uid": int, "gid": int, "umask": int, "additionalGids": [int], "username": str}},
    "hooks": {"*": [{"path": str, "args": [str], "env": [str], "timeout": int}]},
    "linux": {"uidMappings": [_ID_MAPPING], "gidMappings": [_ID_MAPPING], "sysctl": {"*": str},
              "resources": RESOURCES, "cgroupsPath": str, "namespaces": [{"type": str, "path": str}],
              "devices": [dict], "seccomp": dict, "rootfsPropagation": str, "maskedPaths": [str],
              "readonlyPaths": [str], "mountLabel": str, "intelRdt": dict, "personality": dict},
}
_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer", bool: "a boolean"}


def _json_type(v: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number",
            type(None): "null"}.get(type(v), type(v).__name__)


def _is(v: Any, t: type) -> bool:
    if t is int:
        return isinstance(v, int) and not isinstance(v, bool)
    return isinstance(v, t)


def _check(v: Any, schema: Any, where: str) -> None:
    if isinstance(schema, list):
        if not isinstance(v, list):
            raise InvalidArgument(f"spec: {where} must be an array, not {_json_type(v)}")
        for i, item in enumerate(v):
            _check(item, schema[0], f"{where}[{i}]")
    elif isinstance(schema, dict):
        if not isinstance(v, dict):
            raise InvalidArgument(f"spec: {where} must be an object, not {_json_type(v)}")
        for key, item in v.items():
            sub = schema.get(key, schema.get("*"))
            if sub is not None and item is not None:  # null: Go leaves the field empty
                _check(item, sub, f"{where}.{key}")
    elif not _is(v, schema):
        raise InvalidArgument(f"spec: {where} must be {_NAMES[schema]}, not {_json_type(v)}")


def check_json_object(raw: bytes, what: str = "spec") -> dict[str, Any]:
    """``raw`` parsed, if it is a JSON object.

    >>> check_json_object(b'{"memory": 5', "resources")
    Traceback (most recent call last):
    ...
    pyctrd.errdefs.InvalidArgument: resources: not valid JSON: ...

    Raises:
        InvalidArgument: not JSON, or not an object.
    """
    try:
        doc = json.loads(raw or b"null")
    except (ValueError, RecursionError) as exc:
        raise InvalidArgument(f"{what}: not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{what}: must be a JSON object, not {_json_type(doc)}")
    return doc


def check_process(raw: bytes) -> dict[str, Any]:
    """An exec's process spec (JSON ``Process``), shape checked; it must have ``args``.

    >>> check_process(b'{"args": ["sh"], "cwd": "/"}')["cwd"]
    '/'

    Raises:
        InvalidArgument: not a JSON object of the ``process`` shape, or no args.
    """
    doc = check_json_object(raw, "process spec")
    _check(doc, SCHEMA["process"], "process")
    if not doc.get("args"):
        raise InvalidArgument("spec: process.args must not be empty")
    return doc


def check_resources(raw: bytes) -> dict[str, Any]:
    """Task update resources (JSON ``LinuxResources``), shape checked.

    >>> check_resources(b'{"memory": {"limit": "big"}}')
    Traceback (most recent call last):
    ...
    pyctrd.errdefs.InvalidArgument: spec: resources.memory.limit must be an integer, not string: invalid argument

    Raises:
        InvalidArgument: not a JSON object of the ``LinuxResources`` shape.
    """
    doc = check_json_object(raw, "resources")
    _check(doc, RESOURCES, "resources")
    return doc


def check_spec(raw: bytes, *, need_process: bool = True) -> dict[str, Any]:
    """The spec document in ``raw``, after checking its shape (see the module docstring).

    Raises:
        InvalidArgument: not JSON, not an object, a property of the wrong JSON type, or no
            ``process`` when ``need_process``.
    """
    doc = check_json_object(raw)
    for key, sub in SCHEMA.items():
        if doc.get(key) is not None:
            _check(doc[key], sub, key)
    if need_process and not doc.get("process"):
        raise InvalidArgument("spec: a task needs a process (spec.process is empty)")
    return doc
