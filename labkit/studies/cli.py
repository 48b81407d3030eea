"""``redis-lab study partition`` (lost acknowledged writes under a partition, real Redis +
Sentinel) and ``redis-lab study sentinel`` (real Sentinel and sentinel_lab side by side)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from labkit.studies import sentinel as sentinel_study
from labkit.studies import sentinel_report
from labkit.studies.partition import (
    GUARD_LABELS,
    GUARDS,
    PartitionRun,
    report_lines,
    run_partition,
)
from labkit.timeline.html import write_html
from labkit.timeline.render import render_table

__all__ = ["print_sentinel_report", "register_partition", "register_sentinel", "write_report"]


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


def _down_after(text: str) -> int:
    if not text.isdigit() or not 100 <= int(text) <= 60_000:
        raise argparse.ArgumentTypeError(f"must be 100 to 60000 ms, got {text!r}")
    return int(text)


def register_sentinel(subparsers: Any) -> None:
    """``redis-lab study sentinel``: real Sentinels and sentinel_lab, side by side."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sentinel",
        help="kill a master under 3 real Sentinels, then under 3 sentinel_lab; compare",
        description=sentinel_study.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=_runs, default=1, help="failovers per kind (default 1)")
    parser.add_argument("--html", type=Path, metavar="FILE", help="write the HTML report here")
    parser.add_argument(
        "--down-after-ms",
        type=_down_after,
        default=1000,
        help="down-after-milliseconds of every sentinel (default 1000)",
    )
    parser.add_argument(
        "--early-switch",
        action="store_true",
        help="also run sentinel_lab with --early-switch (not Redis) as a third column",
    )
    parser.add_argument("--keep", type=Path, metavar="DIR", help="copy each run's logs to DIR")
    parser.set_defaults(func=_run_sentinel)


def _run_sentinel(args: argparse.Namespace) -> int:
    started = time.monotonic()
    settings = sentinel_study.StudySettings(down_after_ms=args.down_after_ms)
    print(
        f"Sentinel study: {args.runs} failover(s) each of real Redis Sentinel and sentinel_lab"
        f"{' (and sentinel_lab with the early switch)' if args.early_switch else ''}; "
        f"1 master, 2 replicas, 3 sentinels, quorum 2, down-after {settings.down_after_ms} ms, "
        f"failover-timeout {settings.failover_timeout_ms} ms",
        flush=True,
    )
    runs = sentinel_study.run_side_by_side(
        args.runs,
        settings,
        early_switch=args.early_switch,
        keep=args.keep,
        say=lambda line: print(line, flush=True),
    )
    print_sentinel_report(runs, sys.stdout, html=args.html, settings=settings)
    print(f"\nDone in {time.monotonic() - started:.0f}s; every process it started is stopped.")
    return 0


def print_sentinel_report(
    runs: list[sentinel_study.FailoverRun],
    out: TextIO,
    *,
    html: Path | None,
    settings: sentinel_study.StudySettings,
    timelines: bool = False,
    width: int = 120,
) -> None:
    """The medians side by side, per-sentinel times of one run of each kind, and
    (``timelines``) the merged timeline of each; the HTML report if asked."""
    shown = [
        next(r for r in runs if r.kind == k)
        for k in sentinel_study.KINDS
        if any(r.kind == k for r in runs)
    ]
    print("\n" + sentinel_report.render_medians(runs), file=out)
    for run in shown:
        leader = run.leader or "none"
        print(
            f"\nOne {run.kind} run, per sentinel (seconds after the kill; leader {leader}):",
            file=out,
        )
        print(sentinel_report.per_sentinel_text(run), file=out)
        if timelines:
            print(f"\nThe merged timeline of that {run.kind} run:", file=out)
            print(render_table(run.timeline, width=width, zero_label="master killed"), file=out)
    if html is not None:
        subtitle = (
            f"1 master, 2 replicas, 3 sentinels, quorum 2, down-after-milliseconds "
            f"{settings.down_after_ms}, failover-timeout {settings.failover_timeout_ms}; "
            f"{len(runs)} failovers in all"
        )
        path = sentinel_report.write_report(html, runs, shown, subtitle)
        print(f"\nHTML report: {path}", file=out)


def register_raft_vs_sentinel(subparsers: Any) -> None:
    """``redis-lab study raft-vs-sentinel``: the same workload and partition against real
    Redis + Sentinel and against redis_raft."""
    from labkit.studies import raft_vs_sentinel as study

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "raft-vs-sentinel",
        help="one workload, one partition: real Redis + Sentinel beside redis_raft",
        description=study.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workload", choices=study.WORKLOADS, default="register")
    parser.add_argument(
        "--partition-s", type=_positive, default=10.0, help="partition length (default 10)"
    )
    parser.add_argument("--html", type=Path, metavar="FILE", help="write an HTML report per system")
    parser.set_defaults(func=_run_raft_vs_sentinel)


def _run_raft_vs_sentinel(args: argparse.Namespace) -> int:
    from labkit.studies import raft_vs_sentinel as study

    started = time.monotonic()
    print(
        f"Raft vs Sentinel: {args.workload} workload, partition {args.partition_s:g}s "
        "of the node the clients write to",
        flush=True,
    )
    runs = study.run_comparison(
        args.workload, partition_s=args.partition_s, say=lambda line: print(line, flush=True)
    )
    print()
    study.report_table(runs, sys.stdout)
    if args.html is not None:
        for path in study.write_reports(args.html, runs):
            print(f"report: {path}")
    print(f"\nDone in {time.monotonic() - started:.0f}s; every process it started is stopped.")
    return 0


def _node_timeout(text: str) -> int:
    if not text.isdigit() or not 100 <= int(text) <= 60_000:
        raise argparse.ArgumentTypeError(f"must be 100 to 60000 ms, got {text!r}")
    return int(text)


def register_gossip(subparsers: Any) -> None:
    """``redis-lab study gossip``: a real Redis Cluster and a gossip_cluster one, side by side."""
    from labkit.studies import gossip as study

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "gossip",
        help="kill a master of a real 3+3 Redis Cluster, then of a gossip_cluster one; compare",
        description=study.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=_runs, default=1, help="failovers per kind (default 1)")
    parser.add_argument(
        "--node-timeout-ms",
        type=_node_timeout,
        default=1000,
        help="cluster-node-timeout of every node (default 1000)",
    )
    parser.add_argument("--html", type=Path, metavar="FILE", help="write the HTML report here")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="copy each run's logs to DIR")
    parser.set_defaults(func=_run_gossip)


def _run_gossip(args: argparse.Namespace) -> int:
    from labkit.studies import gossip as study

    started = time.monotonic()
    settings = study.StudySettings(node_timeout_ms=args.node_timeout_ms)
    print(
        f"Cluster study: {args.runs} failover(s) each of a real Redis Cluster and a "
        f"gossip_cluster one; {settings.masters} masters, "
        f"{settings.masters * settings.replicas_per_master} replicas, cluster-node-timeout "
        f"{settings.node_timeout_ms} ms; one master SIGKILLed per run",
        flush=True,
    )
    runs = study.run_side_by_side(
        args.runs, settings, keep=args.keep, say=lambda line: print(line, flush=True)
    )
    print("\n" + study.render_medians(runs))
    shown = [next(r for r in runs if r.kind == k) for k in study.KINDS]
    for run in shown:
        print(f"\nOne {run.kind} run, per surviving node (seconds after the kill):")
        print(study.per_node_text(run))
        print(f"\nThe merged timeline of that {run.kind} run:")
        print(render_table(run.timeline, width=120, zero_label="master killed"))
    if args.html is not None:
        path = study.write_report(args.html, runs, shown, settings)
        print(f"\nHTML report: {path}")
    print(f"\nDone in {time.monotonic() - started:.0f}s; every process it started is stopped.")
    return 0
