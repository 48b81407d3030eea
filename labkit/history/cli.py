"""``redis-lab check`` / ``python -m labkit.history check``: check a recorded history.

::

    check HISTORY [--model register|kv|list|counter|set] [--budget SECONDS]
                  [--format auto|jsonl|edn|jepsen-log] [--json]

Prints the verdict and, for a violation, the failing key, the longest linearizable
prefix and the operations that could not be linearized next. Beside the
linearizability search it runs the cheap checks that fit the model: stale reads for a
register, lost acknowledged writes for a set or a list.

Exit status: 0 valid; 1 a violation (found by any check); 2 unreadable input or bad
options; 3 unknown (the budget ran out, and no check found a violation).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from labkit.history.checks import (
    LostWritesResult,
    StaleReadsResult,
    check_lost_writes,
    check_stale_reads,
)
from labkit.history.errors import HistoryError
from labkit.history.format import FORMATS, Format, read_history
from labkit.history.linearizability import Verdict, check_linearizability
from labkit.history.models import MODELS
from labkit.history.report import format_text, to_json

__all__ = [
    "DEFAULT_BUDGET_S",
    "EXIT_INVALID",
    "EXIT_UNKNOWN",
    "EXIT_UNREADABLE",
    "EXIT_VALID",
    "add_arguments",
    "register",
    "run",
]

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2
EXIT_UNKNOWN = 3
DEFAULT_BUDGET_S = 60.0
"""Long enough for 100k-operation register histories; an hour-long search is a bug report."""

_DESCRIPTION = (
    "Check a history (JSON lines, Jepsen/Knossos EDN, or a Jepsen log) for linearizability "
    "against a model, key by key. Exit status: 0 valid, 1 violation, 2 unreadable input or "
    "bad options, 3 unknown (budget spent)."
)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``check`` command's arguments."""
    parser.add_argument("history", metavar="HISTORY", help="the history file ('-' for stdin)")
    parser.add_argument(
        "--model",
        default="register",
        choices=sorted(MODELS),
        help="the sequential model (default: register)",
    )
    parser.add_argument(
        "--budget",
        type=_seconds,
        default=DEFAULT_BUDGET_S,
        metavar="SECONDS",
        help=f"give up with 'unknown' (exit 3) after this long (default: {DEFAULT_BUDGET_S:g})",
    )
    parser.add_argument(
        "--format",
        default="auto",
        choices=FORMATS,
        help="the input format (default: auto, from the first line)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def register(subparsers: Any) -> None:
    """Add the ``check`` subcommand (for the ``redis_lab.commands`` entry point group)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check", help="check a history for linearizability", description=_DESCRIPTION
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``check``; returns the exit status."""
    fmt: Format = args.format
    try:
        history = read_history(args.history, fmt)
        result = check_linearizability(history, args.model, budget_s=args.budget)
        stale: StaleReadsResult | None = None
        lost: LostWritesResult | None = None
        if result.model == "register":
            stale = check_stale_reads(history)
        elif result.model in ("set", "list"):
            lost = check_lost_writes(history, result.model)
    except (HistoryError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"check: {args.history}: {reason}", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.json:
        print(json.dumps(to_json(result, stale=stale, lost=lost), indent=2))
    else:
        print(format_text(result, source=args.history, stale=stale, lost=lost))
    extra_ok = (stale is None or stale.valid) and (lost is None or lost.valid)
    if result.verdict is Verdict.INVALID or not extra_ok:
        return EXIT_INVALID
    if result.verdict is Verdict.UNKNOWN:
        return EXIT_UNKNOWN
    return EXIT_VALID
