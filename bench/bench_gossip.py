"""Benchmark: gossip_cluster's failure detection and failover time against a real Redis
Cluster of the same size and node timeout, in the same run.

The side-by-side study (:mod:`labkit.studies.gossip`): 3 masters, 3 replicas,
``cluster-node-timeout`` 1000 ms (``--node-timeout-ms``), everything else Redis's
defaults; one master SIGKILLed per run; ``--runs`` failovers of each kind, interleaved
(real, ours, real, ...). The figures, in seconds after the kill: FAIL flagged by every
survivor (failure detection), the replica promoted in every survivor's view (failover),
and the first write accepted on the moved slot through redis-py ``RedisCluster`` (client
outage). The goal: ours/real ratios of the medians at or below 1. Prints JSON and a
markdown table; ``--out`` writes the JSON, ``--md`` the table.

    .venv/bin/python bench/bench_gossip.py [--runs 5] [--node-timeout-ms 1000] \
        [--out bench/results/gossip.json] [--md bench/results/gossip.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from labkit.realredis.binaries import find_binaries
from labkit.studies.gossip import (
    FIGURES,
    GOALS,
    StudySettings,
    medians,
    medians_table,
    ratio,
    run_side_by_side,
)


def markdown(columns: tuple[str, ...], rows: list[tuple[str, tuple[str, ...]]]) -> str:
    lines = [
        "| median, s after the kill | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="failovers per kind (default 5)")
    parser.add_argument("--node-timeout-ms", type=int, default=1000, help="(default 1000)")
    parser.add_argument("--out", type=Path, help="write the JSON here")
    parser.add_argument("--md", type=Path, help="write the markdown table here")
    args = parser.parse_args(argv)
    settings = StudySettings(node_timeout_ms=args.node_timeout_ms)
    started = time.monotonic()
    runs = run_side_by_side(
        args.runs, settings, say=lambda line: print(line, file=sys.stderr, flush=True)
    )
    table = medians(runs)
    columns, rows = medians_table(runs)
    goals = {
        label: {
            "real_median_s": table[label].get("real"),
            "ours_median_s": table[label].get("ours"),
            "ratio_ours_over_real": ratio(table[label]),
            "met": (r := ratio(table[label])) is not None and r <= 1.0,
        }
        for label in GOALS
    }
    result = {
        "benchmark": "cluster failure detection and failover, side by side",
        "command": "python bench/bench_gossip.py " + " ".join(argv or sys.argv[1:]),
        "redis": find_binaries().version_text,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "settings": {
            "node_timeout_ms": settings.node_timeout_ms,
            "topology": f"{settings.masters} masters, "
            f"{settings.masters * settings.replicas_per_master} replicas",
            "client": "redis-py RedisCluster, 0.2 s timeouts, no retries, 10 ms between SETs",
        },
        "runs_per_kind": args.runs,
        "goals": goals,
        "medians": table,
        "runs": [
            {"kind": r.kind, **{label: figure(r) for label, figure, _ in FIGURES}} for r in runs
        ],
        "seconds": round(time.monotonic() - started, 1),
    }
    text = json.dumps(result, indent=2)
    print(text)
    md = markdown(columns, rows)
    print("\n" + md)
    for label, goal in goals.items():
        real, ours, value = (
            goal["real_median_s"],
            goal["ours_median_s"],
            goal["ratio_ours_over_real"],
        )
        if isinstance(real, float) and isinstance(ours, float) and isinstance(value, float):
            print(f"{label}: ours {ours:.2f}s, real {real:.2f}s, ratio {value:.2f}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.md is not None:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(md + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
