"""``python -m pyctrd.lab --dir .lab``: the daemon for ``make lab``; Ctrl-C stops everything."""
from __future__ import annotations

import argparse
import signal
import sys
import time

from .lab import Lab


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pyctrd.lab")
    ap.add_argument("--dir", default=".lab", help="where the lab keeps root, state and logs")
    ap.add_argument("--no-jupyter", action="store_true", help="only the daemon")
    args = ap.parse_args(argv)
    lab = Lab(args.dir)
    lab.launch()
    print(f"pyctrd is serving on {lab.address}")
    print(f"  root:  {lab.root}\n  state: {lab.state}\n  log:   {lab.log_path}")
    print(f"Try:  PYCTRD_ADDRESS={lab.address} .venv/bin/pyctr plugins ls")
    print(f"      ctr --address {lab.address} plugins ls")
    print("Ctrl-C stops the lab.")
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stop and lab.running:
            time.sleep(0.5)
    finally:
        rc = lab.stop()
        print(f"pyctrd stopped ({rc})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
