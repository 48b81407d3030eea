"""``redis-lab cleanup``: end what an interrupted lab run left behind."""

from __future__ import annotations

import argparse
from typing import Any

from labkit.realredis import reaper

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "cleanup",
        help="end every process an interrupted lab run left behind",
        description=(
            "Find processes that carry the lab's run marker (REDIS_LAB_RUN) and end those "
            "whose owner is gone. With --all, end those of runs still in progress too."
        ),
    )
    parser.add_argument("--all", action="store_true", help="also end processes of live runs")
    parser.add_argument("--dry-run", action="store_true", help="list, do not end anything")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.dry_run:
        found = [info for info in reaper.find_lab_processes() if args.all or info.orphaned]
        verb = "would end"
    else:
        found = reaper.kill_leftovers(include_live_owners=args.all)
        verb = "ended"
    for info in found:
        print(f"{verb} pid {info.pid} (run {info.run_id}): {info.cmdline}")
    print(f"{verb} {len(found)} process(es)")
    return 0
