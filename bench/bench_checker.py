"""Benchmark of the linearizability checker on generated register histories.

Histories of 1k, 10k and 100k operations over 10 keys from 10 clients, linearizable by
construction with overlapping operations, timeouts and refused cas
(:func:`labkit.history.generate.register_history`). For each size it times reading the
JSON-lines file, the linearizability check, and the stale-read check, and prints the
results as JSON and as a markdown table. ``--out`` also writes the JSON to a file
(``make bench`` puts results in ``bench/results/``).

    .venv/bin/python bench/bench_checker.py [--sizes 1000,10000,100000] [--seed 1] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

from labkit.history import (
    check_linearizability,
    check_stale_reads,
    read_history,
    write_history,
)
from labkit.history.generate import register_history


def bench_one(size: int, seed: int, keys: int, clients: int) -> dict[str, object]:
    events = register_history(random.Random(seed), size, keys=keys, clients=clients)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        write_history(path, events)
        started = time.perf_counter()
        history = read_history(path)
        ops = history.operations()
        read_s = time.perf_counter() - started
    started = time.perf_counter()
    result = check_linearizability(ops, "register", budget_s=600)
    check_s = time.perf_counter() - started
    started = time.perf_counter()
    stale = check_stale_reads(ops)
    stale_s = time.perf_counter() - started
    return {
        "ops": len(ops),
        "keys": result.key_count,
        "clients": clients,
        "info": sum(op.outcome == "info" for op in ops),
        "fail": sum(op.outcome == "fail" for op in ops),
        "verdict": result.verdict.value,
        "explored": result.explored,
        "read_s": round(read_s, 4),
        "check_s": round(check_s, 4),
        "stale_check_s": round(stale_s, 4),
        "stale_valid": stale.valid,
    }


def table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| ops | keys | info | fail | verdict | states | read (s) | linearizability (s) | stale reads (s) |",
        "|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['ops']} | {row['keys']} | {row['info']} | {row['fail']} | {row['verdict']} "
            f"| {row['explored']} | {row['read_s']} | {row['check_s']} | {row['stale_check_s']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    try:
        sizes = [int(size) for size in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes: {args.sizes!r} is not a comma-separated list of integers")
    rows = [bench_one(size, args.seed, args.keys, args.clients) for size in sizes]
    report = {
        "benchmark": "linearizability checker, register model",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "seed": args.seed,
        "results": rows,
    }
    text = json.dumps(report, indent=2)
    print(text)
    print()
    print(table(rows))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0 if all(row["verdict"] == "valid" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
