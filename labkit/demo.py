"""``make demo`` / ``redis-lab demo``: real Redis Sentinel and sentinel_lab, side by side.

Runs the side-by-side study (:mod:`labkit.studies.sentinel`) with one failover of each
kind by default: the same topology (1 master, 2 replicas, 3 sentinels, quorum 2,
down-after-milliseconds 1000, failover-timeout 10000) once with real Sentinels and once
with sentinel_lab, the master SIGKILLed each time. It prints the medians side by side
(phases, first write through the Sentinel API, the outage a redis-py client saw), the
per-sentinel times and the merged timeline of one run of each, and writes the HTML
report. Everything it starts is gone when it returns, even on Ctrl-C.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from labkit.studies.cli import print_sentinel_report
from labkit.studies.sentinel import FailoverRun, StudySettings, run_side_by_side

__all__ = ["DEFAULT_HTML", "MILESTONES", "DemoResult", "register", "run_demo"]

DEFAULT_HTML = Path("runs/demo/report.html")
MILESTONES = ("+sdown", "+odown", "+elected-leader", "+promoted-slave", "+switch-master")


@dataclass(frozen=True, slots=True)
class DemoResult:
    runs: list[FailoverRun]
    html: Path

    def of(self, kind: str) -> FailoverRun:
        """The first run of ``kind`` (``real`` or ``ours``)."""
        return next(r for r in self.runs if r.kind == kind)


def run_demo(
    out: TextIO = sys.stdout,
    *,
    keep: Path | None = None,
    html: Path | None = None,
    runs: int = 1,
) -> DemoResult:
    """Run the side-by-side failovers and print the story to ``out``."""
    version = _redis_version()
    settings = StudySettings()
    print(
        f"Redis Consensus Lab demo: real Redis Sentinel (Redis {version}) and sentinel_lab, "
        "side by side",
        file=out,
    )
    print(
        f"Each run: 1 master, 2 replicas, 3 sentinels on loopback (quorum {settings.quorum}, "
        f"down-after-milliseconds {settings.down_after_ms}, failover-timeout "
        f"{settings.failover_timeout_ms}); the master is killed with SIGKILL at t=0.\n"
        "First write: a redis-py Sentinel over all 3 sentinels, discover + SET per attempt.\n"
        "Client outage: a redis-py master_for client writing every 10 ms (0.2 s timeouts).",
        file=out,
        flush=True,
    )
    results = run_side_by_side(
        runs, settings, keep=keep, say=lambda line: print(line, file=out, flush=True)
    )
    width = shutil.get_terminal_size((120, 40)).columns
    target = html if html is not None else DEFAULT_HTML
    print_sentinel_report(results, out, html=target, settings=settings, timelines=True, width=width)
    if keep is not None:
        print(f"\nLogs and configs kept in {keep}", file=out)
    return DemoResult(results, target)


def _redis_version() -> str:
    from labkit.realredis.binaries import find_binaries

    return find_binaries().version_text


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="kill a master under 3 real Sentinels, then under 3 sentinel_lab; compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--keep", type=Path, metavar="DIR", help="copy the logs and configs to DIR")
    parser.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help=f"where to write the HTML report (default {DEFAULT_HTML})",
    )
    parser.add_argument(
        "--runs", type=int, default=1, choices=range(1, 6), help="failovers of each kind (1-5)"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    run_demo(keep=args.keep, html=args.html, runs=args.runs)
    print(
        f"\nDone in {time.monotonic() - started:.1f}s; every process it started has been stopped."
    )
    return 0
