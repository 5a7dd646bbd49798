"""The ``pyctr`` command group and its global options (``-a``, ``-n``, ``--timeout``)."""
from __future__ import annotations

import importlib

import click

from ...client import Client, default_address

__all__ = ["AliasGroup", "Context", "Root", "cli", "pass_ctx"]

NOUNS = ["version", "plugins", "namespaces", "events", "content", "leases", "images", "containers", "tasks",
         "run", "snapshots"]


class Context:
    def __init__(self, address: str, namespace: str, timeout: float | None, debug: bool) -> None:
        self.address, self.namespace, self.timeout, self.debug = address, namespace, timeout, debug
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.address, self.namespace, timeout=self.timeout)
        return self._client


pass_ctx = click.make_pass_decorator(Context)


class AliasGroup(click.Group):
    """Accepts ctr's aliases (``ns``, ``plugin``, ``rm``, ``ls``...)."""

    aliases: dict[str, str] = {}

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(name, name))


class Root(AliasGroup):
    aliases = {"namespace": "namespaces", "ns": "namespaces", "plugin": "plugins", "event": "events",
               "image": "images", "i": "images", "lease": "leases", "container": "containers", "c": "containers",
               "task": "tasks", "t": "tasks", "snapshot": "snapshots"}


@click.group(cls=Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-a", "--address", envvar="PYCTRD_ADDRESS", default=default_address, show_default=True,
              help="address of the daemon's gRPC socket (pyctrd or containerd)")
@click.option("-n", "--namespace", envvar="CONTAINERD_NAMESPACE", default="default", show_default=True,
              help="namespace to use")
@click.option("--timeout", type=float, default=None, help="timeout for each call, seconds")
@click.option("--debug", is_flag=True, help="print more")
@click.pass_context
def cli(ctx: click.Context, address: str, namespace: str, timeout: float | None, debug: bool) -> None:
    """pyctr: talk to pyctrd (or containerd) the way ctr does."""
    ctx.obj = Context(address, namespace, timeout, debug)


for _noun in NOUNS:
    _mod = importlib.import_module(f".{_noun}", __package__)
    cli.add_command(_mod.command)
