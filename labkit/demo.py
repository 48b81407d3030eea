"""``make demo`` / ``redis-lab demo``: a real Sentinel failover, told as one timeline.

Starts 1 master, 2 replicas and 3 real Sentinels (down-after-milliseconds 1000), kills
the master with SIGKILL, finds the new master through the Sentinel API (a redis-py
``Sentinel`` over all three), writes to it, and prints what every Sentinel logged on one
axis whose zero is the kill. Everything it starts is gone when it returns.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from labkit.events import Event
from labkit.realredis import Lab, RedisProcess, TopologyError, wait_until
from labkit.timeline.html import write_html
from labkit.timeline.merge import Anchor, Timeline, first_occurrences, merge
from labkit.timeline.redislog import read_log
from labkit.timeline.render import render_first_occurrences, render_table
from labkit.timeline.report import SummaryTable

__all__ = ["DemoResult", "register", "run_demo"]

MASTER_NAME = "mymaster"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 10000
MILESTONES = (
    "+sdown",
    "+odown",
    "+vote-for-leader",
    "+elected-leader",
    "+promoted-slave",
    "+switch-master",
)
# Sentinel log lines that are not part of the story.
SENTINEL_NOISE = ("Sentinel new configuration saved on disk",)
# Replica log lines worth seeing beside the Sentinels' events.
REPLICA_LINES = (
    "Connection with master lost",
    "Error condition on socket for SYNC",
    "MASTER MODE enabled",
    "Connecting to MASTER",
    "REPLICAOF",
    "MASTER <-> REPLICA sync: Finished with success",
)


@dataclass(frozen=True, slots=True)
class DemoResult:
    old_master: str
    new_master: str
    kill: Anchor
    first_write_s: float
    failed_attempts: int
    timeline: Timeline


def _write_through_sentinels(
    sentinels: list[tuple[str, int]], old: str, deadline_s: float
) -> tuple[str, float, int]:
    """Until a write is accepted by a master other than ``old``: (address, mono seconds, failures)."""
    # No retries inside redis-py (its default retries with backoff would hide the moment
    # the new master answers): each attempt is one discovery and one SET.
    fast: dict[str, Any] = {
        "socket_timeout": 0.2,
        "socket_connect_timeout": 0.2,
        "retry": Retry(NoBackoff(), 0),
    }
    client = Sentinel(sentinels, sentinel_kwargs=fast, **fast)  # type: ignore[no-untyped-call]
    failures = 0
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            host, port = client.discover_master(MASTER_NAME)  # type: ignore[no-untyped-call]
            address = f"{host}:{port}"
            with redis.Redis(host=host, port=port, **fast) as conn:
                conn.set("demo:after-failover", address)
            if address != old:
                return address, time.monotonic(), failures
        except (redis.exceptions.RedisError, OSError):
            failures += 1
        time.sleep(0.01)
    raise TopologyError(f"no new master accepted a write within {deadline_s:.0f}s of the kill")


def _sentinel_events(proc: RedisProcess, zero: Anchor) -> list[Event]:
    parsed = read_log(proc.log_path, source=proc.name)
    return [
        event
        for event in parsed.events
        if event.wall_ns >= zero.wall_ns and not any(key in event.message for key in SENTINEL_NOISE)
    ]


def _replica_events(proc: RedisProcess, zero: Anchor) -> list[Event]:
    parsed = read_log(proc.log_path, source=proc.name)
    return [
        event
        for event in parsed.events
        if event.wall_ns >= zero.wall_ns and any(key in event.message for key in REPLICA_LINES)
    ]


def run_demo(
    out: TextIO = sys.stdout, *, keep: Path | None = None, html: Path | None = None
) -> DemoResult:
    """Run the failover once and print the story to ``out``."""
    with Lab() as lab:
        print(
            f"Redis Consensus Lab demo: a real Redis Sentinel failover (Redis {lab.binaries.version_text})",
            file=out,
        )
        print(
            "Starting 1 master, 2 replicas and 3 real Sentinels on loopback ...",
            file=out,
            flush=True,
        )
        group = lab.replication_group(2)
        quorum = lab.sentinel_group(
            group,
            3,
            quorum=2,
            master_name=MASTER_NAME,
            down_after_ms=DOWN_AFTER_MS,
            failover_timeout_ms=FAILOVER_TIMEOUT_MS,
        )
        print(
            f"  master {group.master.address}, replicas "
            f"{', '.join(r.address for r in group.replicas)}\n"
            f"  sentinels {', '.join(s.address for s in quorum.sentinels)} "
            f"(quorum 2, down-after-milliseconds {DOWN_AFTER_MS}, failover-timeout {FAILOVER_TIMEOUT_MS})",
            file=out,
        )
        old = group.master.address
        kill_mono_s = time.monotonic()
        zero = Anchor(wall_ns=time.time_ns(), mono_ns=int(kill_mono_s * 1e9))
        group.master.kill()
        print(f"\nKilled the master {old} with SIGKILL: that is t=0.", file=out, flush=True)
        new, written_at, failures = _write_through_sentinels(quorum.sentinel_addresses(), old, 30.0)
        first_write_s = written_at - kill_mono_s
        print(
            f"First write accepted by the new master {new} at +{first_write_s:.2f}s "
            f"(found through SENTINEL GET-MASTER-ADDR-BY-NAME; {failures} failed attempts before it).",
            file=out,
        )
        for sentinel in quorum.sentinels:
            wait_until(
                lambda s=sentinel: f"+switch-master {MASTER_NAME} " in s.log_text(),  # type: ignore[misc]
                timeout_s=2 * FAILOVER_TIMEOUT_MS / 1000,
                what=f"{sentinel.name} to log +switch-master",
            )
        sources: list[list[Event]] = [_sentinel_events(s, zero) for s in quorum.sentinels]
        sources += [_replica_events(r, zero) for r in group.replicas]
        timeline = merge(sources, zero.wall_ns)
        sentinel_names = [s.name for s in quorum.sentinels]
        firsts = first_occurrences(timeline, MILESTONES, after_zero=True)
        print("\nWhen each Sentinel logged each step (seconds after the kill):", file=out)
        print(
            render_first_occurrences(
                {n: firsts[n] for n in sentinel_names if n in firsts}, corner="sentinel"
            ),
            file=out,
        )
        leaders = [
            n for n in sentinel_names if firsts.get(n, {}).get("+elected-leader") is not None
        ]
        if leaders:
            print(f"The failover leader was {leaders[0]}.", file=out)
        width = shutil.get_terminal_size((120, 40)).columns
        print("\nThe merged timeline (3 Sentinels, and the replicas' own log lines):", file=out)
        print(render_table(timeline, width=width, zero_label="master killed"), file=out)
        if html is not None:
            write_html(
                html,
                timeline,
                title="A real Redis Sentinel failover: master killed",
                subtitle=f"Redis {lab.binaries.version_text}, 3 Sentinels, quorum 2, down-after-milliseconds {DOWN_AFTER_MS}",
                summary=[
                    ("old master", old),
                    ("new master", new),
                    ("first write on the new master", f"+{first_write_s:.2f} s"),
                    ("failed attempts before it", str(failures)),
                ],
                table=SummaryTable.of_first_occurrences(
                    {n: firsts[n] for n in sentinel_names if n in firsts},
                    corner="sentinel",
                    caption="first occurrence per Sentinel (seconds after the kill)",
                ),
                zero_label="master killed (SIGKILL)",
            )
            print(f"\nHTML report written to {html}", file=out)
        if keep is not None:
            shutil.copytree(lab.base_dir, keep, dirs_exist_ok=True)
            print(f"\nLogs and configs kept in {keep}", file=out)
        return DemoResult(old, new, zero, first_write_s, failures, timeline)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="kill a real master under 3 real Sentinels and print the merged timeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--keep", type=Path, metavar="DIR", help="copy the logs and configs to DIR")
    parser.add_argument(
        "--html", type=Path, metavar="FILE", help="also write the timeline as an HTML report"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    run_demo(keep=args.keep, html=args.html)
    print(
        f"\nDone in {time.monotonic() - started:.1f}s; every process it started has been stopped."
    )
    return 0
