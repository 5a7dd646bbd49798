"""The few Go formatters ctr's tables use, so pyctr prints the same strings.

>>> human_size(1085000), human_size(82), bytes_iec(1048576 + 4000)
('1.085MB', '82B', '1.0 MiB')
>>> human_duration(0.3), human_duration(90), human_duration(3 * 86400)
('Less than a second', 'About a minute', '3 days')
>>> from datetime import datetime, timezone
>>> rfc3339(datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc))
'2024-05-01T12:00:00Z'
"""
from __future__ import annotations

import math
from datetime import datetime

__all__ = ["bytes_iec", "human_duration", "human_size", "rfc3339"]

_DECIMAL = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
_IEC = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]


def human_size(size: float) -> str:
    """docker/go-units ``HumanSize``: decimal units, 4 significant digits."""
    i = 0
    while size >= 1000 and i < len(_DECIMAL) - 1:
        size, i = size / 1000, i + 1
    return f"{size:.4g}{_DECIMAL[i]}"


def bytes_iec(n: int) -> str:
    """containerd's ``progress.Bytes`` (go-units ``CustomSize("%02.1f %s")``): ``12.0 B``, ``1.0 MiB``.

    >>> bytes_iec(0), bytes_iec(12), bytes_iec(8192)
    ('0.0 B', '12.0 B', '8.0 KiB')
    """
    if n < 1024:
        return f"{n:.1f} B"
    exp = int(math.log(n) / math.log(1024))
    return f"{n / 1024 ** exp:.1f} {_IEC[exp]}"


def human_duration(seconds: float) -> str:
    """docker/go-units ``HumanDuration``."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def rfc3339(t: datetime) -> str:
    """Go's ``t.Local().Format(time.RFC3339)``: seconds, ``Z`` for UTC."""
    s = t.astimezone().replace(microsecond=0).isoformat()
    return s[:-6] + "Z" if s.endswith("+00:00") else s
