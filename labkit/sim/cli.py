"""``redis-lab replay`` and ``redis-lab soak``: rerun one simulation seed, or thousands."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from labkit.errors import UsageError
from labkit.sim.result import RunResult
from labkit.sim.scenarios import (
    UnknownScenarioError,
    get_scenario,
    load_plugins,
    run_seed,
    scenario_names,
)
from labkit.timeline.jsonl import write_events
from labkit.timeline.merge import merge
from labkit.timeline.render import render_table

__all__ = ["register"]


def _seed(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must not be negative, got {text!r}")
    return value


def _count(text: str) -> int:
    value = _seed(text)
    if value == 0:
        raise argparse.ArgumentTypeError("the number of seeds must be at least 1")
    return value


def register(subparsers: Any) -> None:
    replay: argparse.ArgumentParser = subparsers.add_parser(
        "replay",
        help="rerun one simulation seed and print its timeline",
        description="Rerun one seed of a simulation scenario (the seed a failing test printed) "
        "and print its timeline: faults and the events the cores emitted, in virtual time.",
    )
    replay.add_argument("seed", type=_seed, nargs="?", help="the seed to replay")
    replay.add_argument("--scenario", help="scenario name (default: the only one, if just one)")
    replay.add_argument(
        "--jsonl", type=Path, metavar="FILE", help="also write the events as JSON lines"
    )
    replay.add_argument("--list", action="store_true", help="list the scenarios and exit")
    replay.set_defaults(func=_replay)

    soak: argparse.ArgumentParser = subparsers.add_parser(
        "soak",
        help="run many simulation seeds and report the failing ones",
        description="Run seeds START .. START+SEEDS-1 of a scenario (or of all) and print every failure.",
    )
    soak.add_argument(
        "--scenario", action="append", help="scenario name (repeatable; default: all)"
    )
    soak.add_argument("--seeds", type=_count, default=2000, help="how many seeds (default 2000)")
    soak.add_argument("--start", type=_seed, default=1_000_000, help="first seed (default 1000000)")
    soak.set_defaults(func=_soak)


def _pick_scenario(name: str | None) -> str:
    for problem in load_plugins():
        print(f"redis-lab: {problem}", file=sys.stderr)
    names = scenario_names()
    if name is not None:
        _known(name)
        return name
    if len(names) == 1:
        return names[0]
    raise UsageError(f"several scenarios exist; pick one with --scenario ({', '.join(names)})")


def _known(name: str) -> None:
    try:
        get_scenario(name)
    except UnknownScenarioError as exc:
        raise UsageError(str(exc)) from None


def _describe(result: RunResult) -> str:
    verdict = "ok" if result.ok else f"FAILED\n{result.failure}"
    return (
        f"scenario {result.scenario}, seed {result.seed}: {verdict}\n"
        f"  {result.steps} steps, {result.end_ms} ms of virtual time, trace hash {result.trace_hash[:16]}"
    )


def _replay(args: argparse.Namespace) -> int:
    if args.list:
        load_plugins()
        for name in scenario_names():
            print(f"{name:16} {get_scenario(name).description}")
        return 0
    if args.seed is None:
        raise UsageError("give the seed to replay (or --list to see the scenarios)")
    name = _pick_scenario(args.scenario)
    result = run_seed(name, args.seed)
    print(_describe(result))
    if result.events:
        first = min(e.wall_ns for e in result.events)
        timeline = merge([list(result.events)], first)
        width = shutil.get_terminal_size((120, 40)).columns
        print(render_table(timeline, width=width, zero_label="start of the run"))
    if args.jsonl is not None:
        count = write_events(args.jsonl, result.events)
        print(f"wrote {count} events to {args.jsonl}")
    return 0 if result.ok else 1


def _soak(args: argparse.Namespace) -> int:
    for problem in load_plugins():
        print(f"redis-lab: {problem}", file=sys.stderr)
    names = args.scenario or scenario_names()
    for name in names:
        _known(name)
    failures = 0
    for name in names:
        started = time.monotonic()
        failed = []
        for seed in range(args.start, args.start + args.seeds):
            result = run_seed(name, seed)
            if not result.ok:
                failed.append(result)
                print(_describe(result))
        failures += len(failed)
        print(
            f"{name}: {args.seeds - len(failed)}/{args.seeds} seeds ok "
            f"({args.start}..{args.start + args.seeds - 1}) in {time.monotonic() - started:.1f}s"
        )
    return 1 if failures else 0
