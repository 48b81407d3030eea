"""``python -m labkit.history check HISTORY ...``: the same command as ``redis-lab check``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from labkit.history import cli

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labkit.history", description="Check recorded operation histories."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    cli.register(subparsers)
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
