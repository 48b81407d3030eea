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
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labkit.history import (
    Verdict,
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


def bench_porcupine(root: Path) -> dict[str, object]:
    """Our checker and Porcupine on Porcupine's Jepsen etcd logs, measured in one run.

    ``root`` is a checkout of Porcupine (github.com/anishathalye/porcupine); nothing of it
    is kept in this repository. The expected verdicts come from its test file; Porcupine
    itself is timed with ``go test`` when Go is installed (its figure includes parsing
    the logs, as ours does).
    """
    logs = sorted((root / "test_data" / "jepsen").glob("etcd_*.log"))
    if not logs:
        raise SystemExit(f"--porcupine: no test_data/jepsen/etcd_*.log under {root}")
    expected: dict[int, bool] = {}
    test_file = root / "porcupine_test.go"
    if test_file.exists():
        for number, verdict in re.findall(
            r"checkJepsen\(t, (\d+), (true|false)\)", test_file.read_text()
        ):
            expected[int(number)] = verdict == "true"
    started = time.perf_counter()
    disagreements = []
    unknown = 0
    for path in logs:
        number = int(path.stem.split("_")[1])
        result = check_linearizability(read_history(path, "jepsen-log"), "register", budget_s=60)
        if result.verdict is Verdict.UNKNOWN:
            unknown += 1
        elif number in expected and (result.verdict is Verdict.VALID) != expected[number]:
            disagreements.append(number)
    ours_s = time.perf_counter() - started
    porcupine_s: float | None = None
    if shutil.which("go") is not None:
        env = dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off")
        subprocess.run(
            ["go", "test", "-c", "-o", os.devnull],
            cwd=root,
            env=env,
            check=False,
            capture_output=True,
        )
        go_started = time.perf_counter()
        done = subprocess.run(
            ["go", "test", "-run", "TestEtcdJepsen", "-count=1", "."],
            cwd=root,
            env=env,
            check=False,
            capture_output=True,
            text=True,
        )
        go_total = time.perf_counter() - go_started
        reported = re.search(r"ok\s+\S+\s+([0-9.]+)s", done.stdout)
        porcupine_s = float(reported.group(1)) if reported else go_total
    return {
        "histories": len(logs),
        "ours_s": round(ours_s, 3),
        "porcupine_s": porcupine_s,
        "ratio_ours_to_porcupine": round(ours_s / porcupine_s, 2) if porcupine_s else None,
        "verdicts_checked": len(expected),
        "disagreements": disagreements,
        "unknown": unknown,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--porcupine",
        type=Path,
        metavar="DIR",
        help="a Porcupine checkout: also check its 102 Jepsen etcd logs and time Porcupine on them",
    )
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
    if args.porcupine is not None:
        report["porcupine_etcd"] = bench_porcupine(args.porcupine)
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
