"""The plugin model: registration rules, init order, status, disabled and required plugins."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from pyctrd import errdefs
from pyctrd.config import setting
from pyctrd.plugin import DependencyCycle, InitContext, Plugin, PluginSet, Registration, Registry, SkipPlugin

NOOP = lambda ic: object()  # noqa: E731

# containerd 1.6.20's built-in plugins with their requires, in its registration order, and the
# init order its `ctr plugins ls` printed on this machine (../shared/reference).
CONTAINERD_REGS = [
    ("io.containerd.content.v1", "content", ()),
    ("io.containerd.snapshotter.v1", "aufs", ()), ("io.containerd.snapshotter.v1", "btrfs", ()),
    ("io.containerd.snapshotter.v1", "devmapper", ()), ("io.containerd.snapshotter.v1", "native", ()),
    ("io.containerd.snapshotter.v1", "overlayfs", ()), ("io.containerd.snapshotter.v1", "zfs", ()),
    ("io.containerd.metadata.v1", "bolt", ("io.containerd.content.v1", "io.containerd.snapshotter.v1")),
    ("io.containerd.differ.v1", "walking", ("io.containerd.metadata.v1",)),
    ("io.containerd.event.v1", "exchange", ()),
    ("io.containerd.gc.v1", "scheduler", ("io.containerd.metadata.v1",)),
    ("io.containerd.service.v1", "introspection-service", ()),
    ("io.containerd.service.v1", "containers-service", ("io.containerd.event.v1", "io.containerd.metadata.v1")),
    ("io.containerd.service.v1", "content-service", ("io.containerd.event.v1", "io.containerd.metadata.v1")),
    ("io.containerd.service.v1", "diff-service", ("io.containerd.differ.v1",)),
    ("io.containerd.service.v1", "images-service", ("io.containerd.metadata.v1", "io.containerd.gc.v1")),
    ("io.containerd.service.v1", "leases-service", ("io.containerd.metadata.v1",)),
    ("io.containerd.service.v1", "namespaces-service", ("io.containerd.event.v1", "io.containerd.metadata.v1")),
    ("io.containerd.service.v1", "snapshots-service", ("io.containerd.event.v1", "io.containerd.metadata.v1")),
    ("io.containerd.runtime.v1", "linux", ("io.containerd.event.v1", "io.containerd.metadata.v1")),
    ("io.containerd.runtime.v2", "task", ("io.containerd.event.v1", "io.containerd.metadata.v1")),
    ("io.containerd.monitor.v1", "cgroups", ("io.containerd.event.v1",)),
    ("io.containerd.service.v1", "tasks-service", ("io.containerd.event.v1", "io.containerd.runtime.v1",
                                                   "io.containerd.runtime.v2", "io.containerd.metadata.v1",
                                                   "io.containerd.monitor.v1")),
    ("io.containerd.grpc.v1", "introspection", ("io.containerd.service.v1",)),
    ("io.containerd.internal.v1", "restart", ("io.containerd.event.v1", "io.containerd.service.v1")),
    ("io.containerd.grpc.v1", "containers", ("io.containerd.service.v1",)),
    ("io.containerd.grpc.v1", "content", ("io.containerd.service.v1",)),
    ("io.containerd.grpc.v1", "diff", ("io.containerd.service.v1",)),
    ("io.containerd.grpc.v1", "events", ("io.containerd.event.v1",)),
    ("io.containerd.grpc.v1", "healthcheck", ()),
    ("io.containerd.grpc.v1", "images", ("io.containerd.service.v1",)),
    ("io.containerd.grpc.v1", "leases", ("io.containerd.service.v1",)),
    ("io.containerd.grpc.v1", "namespaces", ("io.containerd.service.v1",)),
    ("io.containerd.internal.v1", "opt", ()),
    ("io.containerd.grpc.v1", "snapshots", ("io.containerd.service.v1",)),
    ("io.containerd.grpc.v1", "tasks", ("io.containerd.service.v1",)),
    ("io.containerd.grpc.v1", "version", ()),
]
CONTAINERD_ORDER = [
    "content", "aufs", "btrfs", "devmapper", "native", "overlayfs", "zfs", "bolt", "walking", "exchange",
    "scheduler", "introspection-service", "containers-service", "content-service", "diff-service",
    "images-service", "leases-service", "namespaces-service", "snapshots-service", "linux", "task", "cgroups",
    "tasks-service", "introspection", "restart", "containers", "content", "diff", "events", "healthcheck",
    "images", "leases", "namespaces", "opt", "snapshots", "tasks", "version",
]


def registry(*regs: Registration) -> Registry:
    r = Registry()
    for reg in regs:
        r.register(reg)
    return r


def test_init_order_matches_containerd() -> None:
    # Registered in a scrambled order, the graph still puts requirements first ...
    r = registry(*(Registration(type=t, id=i, requires=req, init=NOOP) for t, i, req in CONTAINERD_REGS))
    assert [x.id for x in r.graph()] == CONTAINERD_ORDER
    order = [x.uri for x in r.graph()]
    for a, b in r.requires_edges():
        assert order.index(b) < order.index(a), f"{a} initialised before its requirement {b}"


def test_dependencies_first_then_registration_order() -> None:
    r = registry(Registration(type="t.c", id="c", requires=("t.b",), init=NOOP),
                 Registration(type="t.a", id="a", init=NOOP),
                 Registration(type="t.b", id="b", requires=("t.a",), init=NOOP))
    assert [x.id for x in r.graph()] == ["a", "b", "c"]


def test_star_requires_everything_else() -> None:
    r = registry(Registration(type="t.all", id="all", requires=("*",), init=NOOP),
                 Registration(type="t.a", id="a", init=NOOP), Registration(type="t.b", id="b", init=NOOP))
    assert [x.id for x in r.graph()] == ["a", "b", "all"]


def test_cycle_is_named() -> None:
    r = registry(Registration(type="t.a", id="a", requires=("t.b",), init=NOOP),
                 Registration(type="t.b", id="b", requires=("t.c",), init=NOOP),
                 Registration(type="t.c", id="c", requires=("t.a",), init=NOOP))
    with pytest.raises(DependencyCycle) as ei:
        r.graph()
    assert set(ei.value.cycle) == {"t.a.a", "t.b.b", "t.c.c"}
    assert "plugin dependency cycle: " in str(ei.value)
    assert isinstance(ei.value, errdefs.InvalidArgument)


@pytest.mark.parametrize("kwargs, message", [
    ({"type": "", "id": "x"}, "no type"),
    ({"type": "t", "id": ""}, "no id"),
    ({"type": "t", "id": "x", "requires": ("t",)}, "requires its own type"),
    ({"type": "t", "id": "x", "requires": ("*", "u")}, "cannot be combined"),
    ({"type": "t", "id": "x", "config": {"not": "a dataclass"}}, "must be a dataclass"),
])
def test_registration_rejects(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(errdefs.InvalidArgument, match=message):
        Registration(init=NOOP, **kwargs)  # type: ignore[arg-type]


def test_duplicate_registration() -> None:
    r = registry(Registration(type="t", id="x", init=NOOP))
    with pytest.raises(errdefs.AlreadyExists):
        r.register(Registration(type="t", id="x", init=NOOP))


def test_disabled_plugins_leave_the_graph() -> None:
    r = registry(Registration(type="t.a", id="a", init=NOOP), Registration(type="t.b", id="b", init=NOOP))
    assert [x.id for x in r.graph(lambda reg: reg.id == "a")] == ["b"]
    assert list(r.dependency_graph(lambda reg: reg.id == "a").nodes) == ["t.b.b"]


def _run(reg: Registration, plugins: PluginSet, tmp: Path) -> Plugin:
    ic = InitContext(reg, root=tmp / reg.uri, state=tmp / "state" / reg.uri, config=reg.config, plugins=plugins)
    p = Plugin.run(reg, ic)
    plugins.add(p)
    return p


def test_status_ok_skip_error_and_cascade(tmp_path: Path) -> None:
    def skip(ic: InitContext) -> None:
        raise SkipPlugin("path /x (ext4) must be a btrfs filesystem")

    def boom(ic: InitContext) -> None:
        raise RuntimeError("devmapper not configured")

    plugins = PluginSet()
    ok = _run(Registration(type="t.snap", id="ok", init=lambda ic: "instance"), plugins, tmp_path)
    sk = _run(Registration(type="t.snap", id="btrfs", init=skip), plugins, tmp_path)
    er = _run(Registration(type="t.other", id="dm", init=boom), plugins, tmp_path)
    assert (ok.status, sk.status, er.status) == ("ok", "skip", "error")
    assert sk.error_message.endswith(": skip plugin")
    assert er.error_message == "devmapper not configured"
    assert repr(sk) == "<Plugin t.snap.btrfs skip>"
    # A plugin that requires a failed one fails too, naming the cause.
    dep = _run(Registration(type="t.user", id="u", requires=("t.other",), init=lambda ic: ic.get("t.other")),
               plugins, tmp_path)
    assert dep.status == "error" and "devmapper not configured" in str(dep.error)
    # get_all only returns ok ones; get_by_id names the status.
    ic = InitContext(Registration(type="t.q", id="q", init=NOOP), root=tmp_path, state=tmp_path, plugins=plugins)
    assert ic.get_all("t.snap") == {"ok": "instance"}
    with pytest.raises(errdefs.FailedPrecondition, match="skip"):
        ic.get_by_id("t.snap", "btrfs")
    with pytest.raises(errdefs.NotFound):
        ic.get("t.nothing")


def test_plugin_config_defaults_are_documented() -> None:
    @dataclass
    class Cfg:
        interval: str = setting("10s", "How often to check")

    reg = Registration(type="t", id="x", config=Cfg(), init=NOOP)
    assert reg.uri == "t.x"
    assert "Default: 10s." in Cfg.__dataclass_fields__["interval"].metadata["doc"]


def test_builtins_registry_is_inspectable_without_a_daemon() -> None:
    from pyctrd import builtins  # noqa: F401
    from pyctrd.plugin import REGISTRY

    uris = [r.uri for r in REGISTRY.graph()]
    assert "io.containerd.grpc.v1.version" in uris
    assert uris.index("io.containerd.metadata.v1.sqlite") < uris.index("io.containerd.service.v1.namespaces-service")
    g = REGISTRY.dependency_graph()
    assert ("io.containerd.grpc.v1.namespaces", "io.containerd.service.v1.namespaces-service") in g.edges
