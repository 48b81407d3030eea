"""``redis-lab raft ...``: run one Raft node (the flags of ``python -m redis_raft``)."""

from __future__ import annotations

import argparse
from typing import Any

from redis_raft.driver.main import run
from redis_raft.driver.options import add_arguments

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``raft`` subcommand (for the ``redis_lab.commands`` entry point group)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "raft",
        help="run one Raft node in front of a real redis-server",
        description="Run one Raft node: clients and peers share its RESP port.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
