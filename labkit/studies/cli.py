"""``redis-lab study partition``: lost acknowledged writes under a partition, real Redis + Sentinel."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from labkit.studies.partition import (
    GUARD_LABELS,
    GUARDS,
    PartitionRun,
    report_lines,
    run_partition,
)
from labkit.timeline.html import write_html

__all__ = ["register_partition", "write_report"]


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 600 seconds, got {text!r}")
    return value


def _runs(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(f"runs must be a whole number from 1 to 100, got {text!r}")
    return int(text)


def register_partition(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "partition",
        help="cut a real master off from its replicas and Sentinels; count lost acknowledged writes",
        description=__doc__,
    )
    parser.add_argument("--runs", type=_runs, default=1, help="runs per setting (default 1)")
    parser.add_argument(
        "--partition-s", type=_positive, default=10.0, help="partition length (default 10)"
    )
    parser.add_argument(
        "--guard", choices=sorted(GUARDS), action="append", help="settings to run (default: all)"
    )
    parser.add_argument(
        "--html", type=Path, metavar="FILE", help="write an HTML report per setting"
    )
    parser.set_defaults(func=_run)


def _html_path(base: Path, guard: str) -> Path:
    slug = "".join(ch if ch.isalnum() else "-" for ch in guard).strip("-")
    return base.with_name(f"{base.stem}-{slug}{base.suffix or '.html'}")


def write_report(path: Path, run: PartitionRun) -> None:
    write_html(
        path,
        run.timeline,
        title=f"Real Redis + Sentinel under a {run.partition_s:g}s partition ({GUARD_LABELS[run.guard]})",
        subtitle="the master is cut off from its replicas and Sentinels; clients stay on its side",
        summary=[
            ("master setting", GUARD_LABELS[run.guard]),
            ("acknowledged writes", f"{run.acknowledged:,}"),
            ("lost acknowledged writes", f"{run.lost_count:,}"),
            ("refused (-NOREPLICAS)", f"{run.refused:,}"),
            (
                "replica promoted at",
                f"+{run.promoted_after_s:.2f} s" if run.promoted_after_s else "-",
            ),
        ],
        ops=run.ops,
        zero_label="partition starts",
    )


def _run(args: argparse.Namespace) -> int:
    guards = args.guard or list(GUARDS)
    started = time.monotonic()
    print(
        f"Partition study: {args.runs} run(s) per setting, partition {args.partition_s:g}s, "
        "1 master, 2 replicas, 3 real Sentinels (down-after-milliseconds 1000)"
    )
    results: dict[str, list[PartitionRun]] = {}
    for guard in guards:
        for number in range(args.runs):
            run = run_partition(guard, partition_s=args.partition_s, seed=number, say=print)
            results.setdefault(guard, []).append(run)
            if args.html is not None:
                path = _html_path(args.html, guard)
                write_report(path, run)
                print(f"  [{guard}] report: {path}")
    print()
    report_lines([run for runs in results.values() for run in runs], sys.stdout)
    if args.runs > 1:
        for guard, runs in results.items():
            share = statistics.median(r.lost_count / max(r.acknowledged, 1) for r in runs)
            print(f"median share lost with {guard!r}: {100 * share:.0f}%")
    print(f"\nDone in {time.monotonic() - started:.0f}s.")
    return 0
