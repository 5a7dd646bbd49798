"""``pyctr events [FILTER...]``: print events as they happen, like ``ctr events``."""
from __future__ import annotations

import json
from datetime import datetime

import click
from google.protobuf import json_format
from google.protobuf.message import Message

from .app import Context, pass_ctx


def go_time(t: datetime) -> str:
    """Go's Time.String(): ``2026-11-28 04:53:44.95648176 +0000 UTC``."""
    frac = f"{t.microsecond:06d}".rstrip("0")
    return t.strftime("%Y-%m-%d %H:%M:%S") + (f".{frac}" if frac else "") + " +0000 UTC"


def event_json(event: Message | None) -> str:
    if event is None:
        return ""
    d = json_format.MessageToDict(event, preserving_proto_field_name=True)
    return json.dumps(d, separators=(",", ":"))


@click.command("events")
@click.argument("filters", nargs=-1)
@pass_ctx
def command(ctx: Context, filters: tuple[str, ...]) -> None:
    """Display events (filters: topic=="/tasks/exit", namespace==default, ...)."""
    for env in ctx.client.events.subscribe(*filters):
        click.echo(f"{go_time(env.timestamp)} {env.namespace} {env.topic} {event_json(env.event)}")
