"""``pyctrd``: run the daemon, or print its config.

    pyctrd [--config FILE] [--root DIR] [--state DIR] [--address SOCK] [--log-level LEVEL]
    pyctrd config default        # every setting and every plugin's section, with defaults
    pyctrd config dump           # the effective config after merging FILE
    pyctrd systemd-unit          # a unit file for running pyctrd under systemd
    pyctrd --address SOCK publish --topic /tasks/exit --namespace NS  < event (a serialized Any)

A bad config file (TOML syntax, wrong type) is reported with file, key and line, and the
daemon exits with status 2 without starting.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from .. import __version__
from ..config import ConfigError, Loaded, load, to_toml
from ..config.check import check_values
from ..config.schema import Config
from ..errdefs import PyctrdError

__all__ = ["load_config", "main", "plugin_sections", "print_config", "publish", "serve"]

DEFAULT_CONFIG = "/etc/pyctrd/config.toml"
log = logging.getLogger("pyctrd")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="pyctrd", description="containerd 1.6, in Python")
    ap.add_argument("-c", "--config", help=f"config file (default {DEFAULT_CONFIG} if it exists)")
    ap.add_argument("--root", help="persistent data directory")
    ap.add_argument("--state", help="runtime state directory")
    ap.add_argument("-a", "--address", help="gRPC unix socket")
    ap.add_argument("-l", "--log-level", help="trace, debug, info, warn, error")
    ap.add_argument("-v", "--version", action="store_true", help="print the version and exit")
    sub = ap.add_subparsers(dest="command")
    cfg = sub.add_parser("config", help="print config")
    cfg.add_argument("what", choices=["default", "dump"])
    sub.add_parser("systemd-unit", help="print a systemd unit for pyctrd")
    pub = sub.add_parser("publish", help="publish an event read from stdin (what shims may run)")
    pub.add_argument("--topic", default="", help="topic of the event, e.g. /tasks/exit")
    pub.add_argument("--namespace", default="", help="namespace to publish to")
    return ap


def publish(address: str, topic: str, namespace: str, payload: bytes) -> int:
    """containerd's ``publish``: a serialized ``Any`` from stdin, published over gRPC."""
    from google.protobuf import any_pb2
    from google.protobuf.message import DecodeError

    from .._api.containerd.api.services.events.v1 import events_pb2, events_pb2_grpc
    from ..client.connection import Connection

    if not topic:
        print("pyctrd: topic required to publish event: invalid argument", file=sys.stderr)
        return 1
    event = any_pb2.Any()
    try:
        event.ParseFromString(payload)
    except DecodeError as exc:
        print(f"pyctrd: event on stdin is not a serialized Any: {exc}", file=sys.stderr)
        return 1
    conn = Connection(address, namespace=namespace or "default", timeout=10)
    try:
        conn.stub(events_pb2_grpc.EventsStub).Publish(events_pb2.PublishRequest(topic=topic, event=event))
    except PyctrdError as exc:
        print(f"pyctrd: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    return 0


def load_config(args: argparse.Namespace) -> Loaded:
    """The file (if any) with the command-line overrides applied."""
    path = args.config or (DEFAULT_CONFIG if os.path.exists(DEFAULT_CONFIG) else None)
    loaded = load(path) if path else Loaded(Config())
    c = loaded.config
    if args.root:
        c.root = args.root
    if args.state:
        c.state = args.state
        if not args.address and c.grpc.address == Config().grpc.address:
            c.grpc.address = str(Path(args.state) / "pyctrd.sock")
    if args.address:
        c.grpc.address = args.address
    if args.log_level:
        c.debug.level = args.log_level
    return loaded


def plugin_sections() -> dict[str, object]:
    from .. import builtins  # noqa: F401 - registers every plugin
    from ..plugin import REGISTRY

    return {r.uri: r.config for r in REGISTRY if r.config is not None}


def print_config(loaded: Loaded, what: str) -> None:
    from ..daemon.plugin_config import plugin_configs
    from ..plugin import REGISTRY

    sections = plugin_sections()
    if what == "dump":
        merged = plugin_configs(loaded, REGISTRY)
        sections = {uri: c for uri, c in merged.items() if c is not None}
        for line in loaded.unknown:
            print(f"warning: {line}", file=sys.stderr)
        for line in loaded.notes:
            print(f"note: {line}", file=sys.stderr)
        loaded.config.plugins = {}
    sys.stdout.write(to_toml(loaded.config, sections))


async def serve(loaded: Loaded) -> int:
    from .. import builtins  # noqa: F401
    from ..daemon import Daemon

    daemon = Daemon(loaded)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await daemon.start()
    except PyctrdError as exc:
        log.error("pyctrd: %s", exc)
        await daemon.stop(0)
        return 1
    except Exception:  # a bug: still shut down what started (sockets, plugins) before exiting
        log.exception("pyctrd: start failed")
        await daemon.stop(0)
        return 1
    await stop.wait()
    await daemon.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.version:
        from ..services.version.plugin import VERSION

        print(f"pyctrd {__version__} (containerd API {VERSION})")
        return 0
    try:
        loaded = load_config(args)
        if args.command != "config":
            check_values(loaded)
    except ConfigError as exc:
        print(f"pyctrd: {exc}", file=sys.stderr)
        return 2
    if args.command == "config":
        if args.what == "default":
            loaded = Loaded(Config())
        try:
            if args.what == "dump":
                check_values(loaded)
            print_config(loaded, args.what)
        except ConfigError as exc:
            print(f"pyctrd: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "publish":
        return publish(loaded.config.grpc.address, args.topic, args.namespace, sys.stdin.buffer.read())
    if args.command == "systemd-unit":
        from ..daemon.systemd import unit

        sys.stdout.write(unit(sys.argv[0] if argv is None else "pyctrd", args.config))
        return 0
    from ..log import setup

    setup(loaded.config.debug.level or "info", loaded.config.debug.format)
    try:
        from .. import builtins  # noqa: F401
        from ..daemon.plugin_config import plugin_configs
        from ..plugin import REGISTRY

        plugin_configs(loaded, REGISTRY)  # wrong types in plugin sections: fail before starting
        loaded.unknown.clear()
        loaded.notes.clear()
    except ConfigError as exc:
        print(f"pyctrd: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(serve(loaded))


if __name__ == "__main__":
    sys.exit(main())
