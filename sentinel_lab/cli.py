"""``redis-lab sentinel /path/sentinel.conf [--log-json FILE]``: the drop-in Sentinel.

Registered through the ``redis_lab.commands`` entry point group.
"""

from __future__ import annotations

import argparse
from typing import Any

from sentinel_lab.app import add_arguments, run_from_args

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``sentinel`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sentinel",
        help="run sentinel_lab, a drop-in Redis Sentinel, from a sentinel.conf",
        description="Run sentinel_lab from a sentinel.conf, as redis-sentinel does.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run_from_args)
