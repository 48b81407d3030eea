"""``redis-lab cleanup``: end what an interrupted lab run left behind."""

from __future__ import annotations

import argparse
from typing import Any

from labkit.faults import netns_registry
from labkit.realredis import dockercli, reaper

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "cleanup",
        help="end every process and container an interrupted lab run left behind",
        description=(
            "Find processes that carry the lab's run marker (REDIS_LAB_RUN); containers, "
            "networks and test images with the label redis-lab.run; and network namespaces, "
            "veths, bridges and iptables chains of netns labs. End those whose owner is gone. "
            "With --all, end those of runs still in progress too."
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
    _containers(args)
    _namespaces(args)
    return 0


def _containers(args: argparse.Namespace) -> None:
    """Containers, networks and test images labelled with a lab run (when an engine answers)."""
    if dockercli.engine_version(timeout_s=5) is None:
        print("no Docker engine answers: no containers to look at")
        return
    if args.dry_run:
        found = dockercli.leftovers()
        print(f"would remove (owners alive or not): {found.describe()}")
        return
    removed = dockercli.remove_leftovers(include_live_owners=args.all)
    print(f"removed: {removed.describe()}")


def _namespaces(args: argparse.Namespace) -> None:
    """Network namespaces, veths, bridges and iptables chains of netns labs."""
    if args.dry_run:
        found = netns_registry.find_leftovers(include_live_owners=args.all)
        print(f"would remove namespaces: {found.describe()}")
        return
    removed = netns_registry.remove_leftovers(include_live_owners=args.all)
    print(f"removed namespaces: {removed.describe()}")
