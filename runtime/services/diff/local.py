"""The diff service (``diff-service``): the configured differs, tried in order.

containerd's ``services/diff/local.go``: ``[plugins."io.containerd.service.v1.diff-service"]
default = ["walking"]`` names the differs to use, most preferred first. ``apply`` and
``compare`` ask each in turn and take the first answer that is not NotImplemented (a differ
that cannot handle a media type says so and the next one gets a go). This object is itself
an :class:`~pyctrd.core.diff.Applier` and :class:`~pyctrd.core.diff.Comparer`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...core.mount import Mount
from ...core.ocispec import Descriptor
from ...errdefs import NotImplemented as NotImplementedKind

__all__ = ["DiffService"]


class DiffService:
    """Applier and Comparer over an ordered list of differs.

    Args:
        differs: ``[(name, differ)]`` in order of preference; each has apply() and compare().
    """

    def __init__(self, differs: Sequence[tuple[str, Any]]) -> None:
        self.differs = list(differs)

    def __repr__(self) -> str:
        return f"<DiffService {','.join(n for n, _ in self.differs) or '-'}>"

    def apply(self, desc: Descriptor, mounts: Sequence[Mount], *,
              payloads: Mapping[str, Any] | None = None) -> Descriptor:
        """See :meth:`pyctrd.core.diff.Applier.apply`; NotImplemented when no differ can."""
        error: Exception = NotImplementedKind("no differ configured")
        for _, differ in self.differs:
            try:
                return differ.apply(desc, mounts, payloads=payloads)  # type: ignore[no-any-return]
            except NotImplementedKind as exc:
                error = exc
        raise error

    def compare(self, lower: Sequence[Mount], upper: Sequence[Mount], *, media_type: str = "",
                ref: str = "", labels: Mapping[str, str] | None = None) -> Descriptor:
        """See :meth:`pyctrd.core.diff.Comparer.compare`; NotImplemented when no differ can."""
        error: Exception = NotImplementedKind("no differ configured")
        for _, differ in self.differs:
            try:
                return differ.compare(lower, upper, media_type=media_type, ref=ref,  # type: ignore[no-any-return]
                                      labels=labels)
            except NotImplementedKind as exc:
                error = exc
        raise error
