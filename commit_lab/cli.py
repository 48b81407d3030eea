"""``redis-lab commit ...``: demonstrations, the comparison table, simulator sweeps, benchmark.

* ``commit demo PROTOCOL FAULT [--sim] [--html FILE]``: one scripted fault, on real
  redis-server shards (default) or in the simulator; prints the timeline and verdict.
* ``commit compare``: every protocol under every scripted fault (simulator), a table.
* ``commit sweep PROTOCOL --kind KIND --seeds N``: random fault runs, violations counted.
* ``commit bench``: committed transfers/s and latency for 2PC, 3PC and the consensus variant.
* ``commit agent --id NAME --protocol P --shard|--log|--raft ... --listen ... --peers ...``:
  one agent as its own process (:mod:`commit_lab.agent`); the demos start these.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from commit_lab.scripts import FAULTS
from commit_lab.sim_scenario import FAULT_KINDS, PROTOCOLS
from labkit.errors import UsageError

__all__ = ["build_parser", "main", "register"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def register(subparsers: Any) -> None:
    """Add ``commit`` and its subcommands."""
    commit: argparse.ArgumentParser = subparsers.add_parser(
        "commit",
        help="1PC, 2PC, 3PC and consensus-kept commit across Redis shards",
        description="Atomic commit across three Redis shards: where each protocol breaks.",
    )
    sub = commit.add_subparsers(dest="commit_command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="one protocol under one scripted fault, with its verdict")
    demo.add_argument("protocol", choices=PROTOCOLS)
    demo.add_argument("fault", choices=FAULTS)
    demo.add_argument("--sim", action="store_true", help="run in the simulator, not on real Redis")
    demo.add_argument("--down-ms", type=_positive, default=2000, help="fault duration (ms)")
    demo.add_argument("--html", type=Path, metavar="FILE", help="also write an HTML timeline")
    demo.add_argument(
        "--in-process",
        action="store_true",
        help="run the agents inside this process over an in-memory bus (default with real "
        "Redis: each agent its own process, links through fault proxies)",
    )
    demo.set_defaults(func=_demo)

    compare = sub.add_parser("compare", help="the comparison table (simulator)")
    compare.add_argument("--protocol", action="append", choices=PROTOCOLS)
    compare.set_defaults(func=_compare)

    sweep = sub.add_parser("sweep", help="many seeded random-fault runs in the simulator")
    sweep.add_argument("protocol", choices=PROTOCOLS)
    sweep.add_argument("--kind", choices=FAULT_KINDS, action="append")
    sweep.add_argument("--seeds", type=_positive, default=200)
    sweep.add_argument("--start", type=_positive, default=1)
    sweep.set_defaults(func=_sweep)

    bench = sub.add_parser("bench", help="transfers/s and latency on 3 real shards")
    bench.add_argument("--transfers", type=_positive, default=300)
    bench.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    bench.set_defaults(func=_bench)
    agent = sub.add_parser("agent", help="one coordinator, participant or gateway as a process")
    agent.add_argument("--id", required=True, help="this agent's name (p1, c, g1, ...)")
    agent.add_argument("--protocol", required=True, help=f"one of {', '.join(PROTOCOLS)}")
    agent.add_argument("--shard", metavar="HOST:PORT", help="participant: its redis-server")
    agent.add_argument("--log", metavar="FILE", help="coordinator: its write-ahead log")
    agent.add_argument("--raft", metavar="HOST:PORT", help="decision gateway: a redis_raft node")
    agent.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT")
    agent.add_argument("--peers", default="", metavar="NAME=HOST:PORT,...")
    agent.add_argument("--control", metavar="HOST:PORT", help="report steps to a world there")
    agent.add_argument("--timing", default="demo", help="default, demo or sim timeouts")
    agent.add_argument("--tick-ms", type=_positive, default=10)
    agent.set_defaults(func=_agent)
    commit.set_defaults(func=lambda args: _usage(commit))


def _usage(parser: argparse.ArgumentParser) -> int:
    raise UsageError(f"give a command: {parser.format_usage().strip()}")


def _demo(args: argparse.Namespace) -> int:
    from commit_lab.demos import expected_atomic, run_real, run_sim, write_report

    if args.sim:
        result, events = run_sim(args.protocol, args.fault, down_ms=args.down_ms)
    else:
        result, events = run_real(
            args.protocol, args.fault, down_ms=args.down_ms, processes=not args.in_process
        )
    width = shutil.get_terminal_size((120, 40)).columns
    print(write_report(result, events, html=args.html, width=width))
    print(result.line())
    for problem in result.problems:
        print(f"  checker: {problem}")
    expected = expected_atomic(args.protocol, args.fault)
    print(
        f"as expected: {'yes' if result.atomic == expected else 'NO'} "
        f"({'atomic' if expected else 'not atomic'} expected; {result.elapsed_ms} ms)"
    )
    if args.html is not None:
        print(f"wrote {args.html}")
    return 0 if result.atomic == expected else 1


def _agent(args: argparse.Namespace) -> int:
    from commit_lab.agent import AgentSpec, run_agent

    return run_agent(AgentSpec.from_args(args))


def _compare(args: argparse.Namespace) -> int:
    from commit_lab.demos import comparison, render_comparison

    print(render_comparison(comparison(args.protocol or PROTOCOLS)))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from commit_lab.sim_scenario import run_commit

    for kind in args.kind or FAULT_KINDS:
        violating: list[int] = []
        stuck: list[int] = []
        for seed in range(args.start, args.start + args.seeds):
            result = run_commit(
                seed, protocol=args.protocol, faults=kind, keep_trace=False, stop_on_violation=False
            )
            if result.details["violations"] or result.details["audit"]:
                violating.append(seed)
            elif not result.ok:
                stuck.append(seed)
        share = 100.0 * len(violating) / args.seeds
        print(
            f"{args.protocol} {kind}: {len(violating)}/{args.seeds} seeds violate atomicity "
            f"({share:.1f}%), {len(stuck)} did not settle"
            + (f"; first: {violating[:5]}" if violating else "")
        )
    return 0


def _bench(args: argparse.Namespace) -> int:
    from commit_lab.bench import bench, render_bench, write_json

    results = [bench(p, transfers=args.transfers) for p in ("2pc", "3pc", "2pc-consensus")]
    print(render_bench(results))
    if args.json is not None:
        write_json(results, args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m commit_lab`` (the ``commit`` subcommand on its own)."""
    parser = argparse.ArgumentParser(prog="python -m commit_lab")
    subparsers = parser.add_subparsers(dest="command")
    register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m commit_lab demo 2pc coordinator-crash`` and the like."""
    from labkit.errors import LabError

    parser = build_parser()
    args = parser.parse_args(["commit", *(sys.argv[1:] if argv is None else argv)])
    try:
        status: int = args.func(args)
    except UsageError as exc:
        print(f"commit_lab: {exc}", file=sys.stderr)
        return 2
    except LabError as exc:
        print(f"commit_lab: {exc}", file=sys.stderr)
        return 1
    return status
