"""Every plugin the daemon loads, in registration order: the daemon's contents in one file.

The order matters only where the requires graph leaves a choice; it follows containerd's
(so ``plugins ls`` reads the same). Importing a ``plugin.py`` registers it in
:data:`pyctrd.plugin.REGISTRY`.
"""
# ruff: noqa: F401, I001 - the order is the point
from .plugins.content.local import plugin as _content_local
from .plugins.snapshots.aufs import plugin as _snapshots_aufs
from .plugins.snapshots.btrfs import plugin as _snapshots_btrfs
from .plugins.snapshots.devmapper import plugin as _snapshots_devmapper
from .plugins.snapshots.native import plugin as _snapshots_native
from .plugins.snapshots.overlayfs import plugin as _snapshots_overlayfs
from .plugins.snapshots.zfs import plugin as _snapshots_zfs
from .plugins.metadata.sqlite import plugin as _metadata_sqlite
from .plugins.diff.walking import plugin as _diff_walking
from .plugins.events.exchange import plugin as _events_exchange
from .plugins.gc.scheduler import plugin as _gc_scheduler
from .plugins.remotes.registry import plugin as _registry
from .services.introspection import plugin as _introspection
from .plugins.internal.restart import plugin as _restart
from .services.containers import plugin as _containers
from .services.content import plugin as _content
from .services.diff import plugin as _diff
from .services.events import plugin as _events
from .services.healthcheck import plugin as _healthcheck
from .services.images import plugin as _images
from .services.leases import plugin as _leases
from .services.namespaces import plugin as _namespaces
from .services.snapshots import plugin as _snapshots
from .plugins.internal.opt import plugin as _opt
from .services.tasks import plugin as _tasks
from .plugins.runtime.v2 import plugin as _runtime_v2
from .plugins.monitor.cgroups import plugin as _monitor_cgroups
from .services.version import plugin as _version
