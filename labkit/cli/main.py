"""The ``redis-lab`` command line.

The core knows no component: each one registers its subcommands through the
``redis_lab.commands`` entry point group, as ``register(subparsers)`` functions that add
a parser and set ``func`` (taking the parsed arguments, returning an exit status).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any

from labkit.errors import LabError, UsageError

__all__ = ["build_parser", "main"]

ENTRY_POINT_GROUP = "redis_lab.commands"
# Groups of subcommands that several components add to: ``redis-lab study NAME``.
GROUPS = {
    "study": ("redis_lab.studies", "run a side-by-side study (real Redis and ours, with faults)"),
    "bench": ("redis_lab.benches", "run a benchmark against the real component, in one run"),
}


def _load(group: str, subparsers: Any) -> None:
    for entry in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            register = entry.load()
        except Exception as exc:  # one broken component must not hide the others
            print(f"redis-lab: {entry.name!r} is unavailable: {exc}", file=sys.stderr)
            continue
        register(subparsers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="redis-lab",
        description="Redis Consensus Lab: Redis's coordination mechanisms, side by side with the real thing.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _load(ENTRY_POINT_GROUP, subparsers)
    for name, (group, help_text) in GROUPS.items():
        if not entry_points(group=group):
            continue
        grouped = subparsers.add_parser(name, help=help_text, description=help_text)
        _load(group, grouped.add_subparsers(dest="subcommand", metavar=name.upper(), required=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        status = func(args)
    except UsageError as exc:
        print(f"redis-lab {args.command}: {exc}", file=sys.stderr)
        return 2
    except LabError as exc:
        print(f"redis-lab {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("redis-lab: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
