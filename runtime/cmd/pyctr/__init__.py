"""``pyctr``: a ctr-shaped command line for pyctrd (and containerd).

One module per noun, like ``ctr``'s ``commands/<noun>``; every command calls only
:mod:`pyctrd.client`. Output is shaped like ctr's, so the two can be compared line by line.
"""
from __future__ import annotations

import sys

import click

from ... import errdefs
from .app import cli

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> int:
    try:
        # without standalone mode, click *returns* the code of a `raise click.exceptions.Exit(n)`
        result = cli.main(args=argv, prog_name="pyctr", standalone_mode=False)
        if isinstance(result, int):
            return result
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        return 130
    except errdefs.PyctrdError as exc:
        print(f"pyctr: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
