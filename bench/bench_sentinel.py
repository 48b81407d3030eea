"""Benchmark: sentinel_lab's failover time against real Redis Sentinel, in the same run.

The side-by-side study (:mod:`labkit.studies.sentinel`): 1 master, 2 replicas, 3
sentinels (quorum 2, down-after-milliseconds 1000, failover-timeout 10000, everything
else Redis's defaults), the master SIGKILLed; ``--runs`` failovers of each kind,
interleaved. The failover time is the first write accepted by the new master as found
by a redis-py ``Sentinel`` over all three sentinels, with the early switch off; the
goal is a median at or below real Sentinel's (ratio <= 1). Per-phase medians, the
client outage and, unless ``--no-early``, sentinel_lab with ``--early-switch`` come too.
Prints JSON and a markdown table; ``--out`` writes the JSON, ``--md`` the table.

    .venv/bin/python bench/bench_sentinel.py [--runs 5] [--no-early] [--out FILE] [--md FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

from labkit.realredis.binaries import find_binaries
from labkit.studies.sentinel import StudySettings, run_side_by_side
from labkit.studies.sentinel_report import FIGURES, medians, medians_table

GOAL = "first write via the Sentinel API"


def markdown(columns: tuple[str, ...], rows: list[tuple[str, tuple[str, ...]]]) -> str:
    lines = [
        "| median, s after the kill | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="failovers per kind (default 5)")
    parser.add_argument("--no-early", action="store_true", help="skip the early-switch column")
    parser.add_argument("--out", type=Path, help="write the JSON here")
    parser.add_argument("--md", type=Path, help="write the markdown table here")
    args = parser.parse_args(argv)
    settings = StudySettings()
    started = time.monotonic()
    runs = run_side_by_side(
        args.runs,
        settings,
        early_switch=not args.no_early,
        say=lambda line: print(line, file=sys.stderr, flush=True),
    )
    table = medians(runs)
    columns, rows = medians_table(runs)
    goal = table[GOAL]
    real, ours = goal.get("real"), goal.get("ours")
    ratio = ours / real if real and ours is not None else None
    result = {
        "benchmark": "sentinel failover, side by side",
        "command": "python bench/bench_sentinel.py " + " ".join(argv or sys.argv[1:]),
        "redis": find_binaries().version_text,
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "settings": {
            "down_after_ms": settings.down_after_ms,
            "failover_timeout_ms": settings.failover_timeout_ms,
            "quorum": settings.quorum,
            "topology": "1 master, 2 replicas, 3 sentinels",
        },
        "runs_per_kind": args.runs,
        "goal": {
            "figure": GOAL,
            "real_median_s": real,
            "ours_median_s": ours,
            "ratio_ours_over_real": ratio,
            "met": ratio is not None and ratio <= 1.0,
        },
        "medians": table,
        "runs": [
            {
                "kind": r.kind,
                "leader": r.leader,
                **{label: figure(r) for label, figure, _ in FIGURES},
                "addr_switch_s": r.addr_switch_s,
            }
            for r in runs
        ],
        "seconds": round(time.monotonic() - started, 1),
    }
    text = json.dumps(result, indent=2)
    print(text)
    md = markdown(columns, rows)
    print("\n" + md)
    if ratio is not None:
        spread = [r.first_write_s for r in runs if r.kind == "real"]
        print(
            f"\nfailover time (first write), median: ours {ours:.2f}s, real {real:.2f}s, "
            f"ratio {ratio:.2f} (real's runs spread {min(spread):.2f}-{max(spread):.2f}s; "
            f"mean {statistics.mean(spread):.2f}s)"
        )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.md is not None:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(md + "\n")
    return 0


def _cpus() -> int | None:
    import os

    return os.cpu_count()


if __name__ == "__main__":
    sys.exit(main())
