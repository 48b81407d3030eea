"""The partition study: how many acknowledged writes real Redis + Sentinel lose.

Topology (every party on its own loopback address, the master behind a fault proxy):

* the master on 127.0.0.1, reached by its replicas (127.0.0.2-3) and the three real
  Sentinels (127.0.0.4-6) only through the proxy; the clients reach it directly, so
  they stay on the master's side of the partition;
* clients add unique elements to a set (SADD) as fast as they can.

The proxy cuts the master off for ``partition_s``. The Sentinels promote a replica;
the clients keep writing to the old master, which acknowledges. After the heal the
old master becomes a replica of the new one and drops what it accepted alone. A final
read through the Sentinels says what survived; the lost-writes check counts the loss.
The run is repeated with ``min-replicas-to-write 1`` / ``min-replicas-max-lag 10``,
which bounds the window but does not close it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from labkit.events import Event
from labkit.faults import ProxyHub
from labkit.history.checks import LostWritesResult, check_lost_writes
from labkit.history.ops import History
from labkit.history.recorder import HistoryRecorder
from labkit.realredis import Lab, RedisProcess, wait_until
from labkit.realredis.process import ConfigValue
from labkit.timeline.merge import Anchor, Timeline, merge
from labkit.timeline.redislog import read_log
from labkit.timeline.report import OpSpan
from labkit.workloads import DirectTarget, SentinelTarget, final_reads, get_workload, run_workload

__all__ = ["GUARDS", "PartitionRun", "run_partition"]

MASTER_NAME = "mymaster"
GUARDS: dict[str, list[tuple[str, ConfigValue]]] = {
    "none": [],
    "min-replicas": [("min-replicas-to-write", 1), ("min-replicas-max-lag", 10)],
}
GUARD_LABELS = {
    "none": "none (asynchronous replication)",
    "min-replicas": "min-replicas-to-write 1, max-lag 10",
}


@dataclass(frozen=True, slots=True)
class PartitionRun:
    """What one run of the study saw."""

    guard: str
    partition_s: float
    promoted_after_s: float | None
    lost: LostWritesResult
    refused: int
    """Writes the master refused with ``-NOREPLICAS`` (the guard at work)."""
    history: History
    timeline: Timeline
    zero: Anchor
    ops: tuple[OpSpan, ...]

    @property
    def acknowledged(self) -> int:
        return self.lost.acknowledged

    @property
    def lost_count(self) -> int:
        return len(self.lost.lost)


def _master_addr(sentinel: RedisProcess) -> str:
    with sentinel.client() as conn:
        host, port = conn.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
    return f"{host}:{port}"


def _role(proc: RedisProcess) -> tuple[str, str]:
    info = proc.info("replication")
    return str(info.get("role")), str(info.get("master_link_status", ""))


def _op_spans(history: History, lost: LostWritesResult, zero_mono_ns: int) -> tuple[OpSpan, ...]:
    lost_ids = {op.index for op in lost.lost}
    # With writes lost, the final read is the first operation that cannot be linearized:
    # every add fits somewhere, the read that misses acknowledged ones fits nowhere.
    violating = {k.final_read.index for k in lost.keys if k.lost and k.final_read is not None}
    spans = []
    for op in history.operations():
        if op.call_time is None:
            continue
        end = (
            None
            if op.outcome == "info" or op.return_time is None
            else op.return_time - zero_mono_ns
        )
        label = f"{op.f} {op.value if op.value is not None else ''}".strip()
        spans.append(
            OpSpan(
                process=op.process,
                start_ns=op.call_time - zero_mono_ns,
                end_ns=end,
                outcome=op.outcome,
                label=label,
                lost=op.index in lost_ids,
                first_violation=op.index in violating,
            )
        )
    return tuple(spans)


def run_partition(
    guard: str = "none",
    *,
    partition_s: float = 10.0,
    before_s: float = 2.0,
    clients: int = 4,
    seed: int = 0,
    say: Callable[[str], None] = lambda _: None,
    keep: Path | None = None,
) -> PartitionRun:
    """One run: write, cut the master off, heal, read what survived."""
    workload = get_workload("set")
    with Lab(keep=keep is not None, base_dir=keep) as lab, ProxyHub(seed=seed) as hub:
        master = lab.server("master", extra=[*GUARDS[guard], ("repl-ping-replica-period", 1)])
        proxy = hub.add("master", (master.host, master.port))
        via = proxy.listen
        replicas = [
            lab.server(
                f"replica-{i}",
                host=f"127.0.0.{i + 1}",
                extra=[("replicaof", [via[0], str(via[1])]), ("repl-timeout", 5)],
            )
            for i in (1, 2)
        ]
        sentinels = [
            lab.sentinel(
                master,
                name=f"sentinel-{i}",
                host=f"127.0.0.{i + 3}",
                master_name=MASTER_NAME,
                quorum=2,
                down_after_ms=1000,
                failover_timeout_ms=10000,
                via=via,
            )
            for i in (1, 2, 3)
        ]
        wait_until(
            lambda: all(_role(r) == ("slave", "up") for r in replicas),
            timeout_s=15,
            what="replicas in sync",
        )

        def discovered() -> bool:
            for sentinel in sentinels:
                with sentinel.client() as conn:
                    state = conn.sentinel_master(MASTER_NAME)
                if state["num-slaves"] < 2 or state["num-other-sentinels"] < 2:
                    return False
            return True

        wait_until(discovered, timeout_s=30, what="sentinels to discover replicas and each other")
        say(f"  [{guard}] topology ready; clients write to the master {master.address}")

        recorder = HistoryRecorder(keep / "history.jsonl" if keep else None, meta={"guard": guard})
        stop = threading.Event()
        target = DirectTarget(master.host, master.port, timeout_s=0.5)
        worker = threading.Thread(
            target=run_workload,
            args=(target, workload, recorder),
            kwargs={
                "clients": clients,
                "duration_s": 3600,
                "max_ops": 10_000_000,
                "seed": seed,
                "stop": stop,
            },
            name="workload",
        )
        worker.start()
        try:
            stop.wait(before_s)
            zero = Anchor(wall_ns=time.time_ns(), mono_ns=time.monotonic_ns())
            hub.partition("master")
            say(f"  [{guard}] master cut off from replicas and sentinels for {partition_s:g}s")
            old = f"{via[0]}:{via[1]}"
            promoted_after: float | None = None
            end = time.monotonic() + partition_s
            while time.monotonic() < end:
                if promoted_after is None and _master_addr(sentinels[0]) != old:
                    promoted_after = (time.monotonic_ns() - zero.mono_ns) / 1e9  # type: ignore[operator]
                    say(f"  [{guard}] sentinels promoted a replica at +{promoted_after:.2f}s")
                stop.wait(0.05)
            hub.heal()
            say(f"  [{guard}] healed; waiting for the old master to become a replica")
            wait_until(
                lambda: _role(master) == ("slave", "up"),
                timeout_s=40,
                what="the old master to rejoin",
            )
        finally:
            stop.set()
            worker.join()
        sentinel_target = SentinelTarget([(s.host, s.port) for s in sentinels], MASTER_NAME)
        final_reads(sentinel_target, workload, recorder)
        recorder.close()
        history = recorder.history()
        lost = check_lost_writes(history, "set")
        refused = sum(
            1 for e in history.events if e.type == "fail" and "NOREPLICAS" in (e.error or "")
        )
        sources: list[Sequence[Event]] = [hub.events]
        for proc in [*sentinels, master, *replicas]:
            events = read_log(proc.log_path, source=proc.name).events
            sources.append(
                [
                    e
                    for e in events
                    if e.wall_ns >= zero.wall_ns - 1_000_000_000 and e.name[:1] in "+-"
                ]
            )
        timeline = merge(sources, zero.wall_ns)
        assert zero.mono_ns is not None
        return PartitionRun(
            guard,
            partition_s,
            promoted_after,
            lost,
            refused,
            history,
            timeline,
            zero,
            _op_spans(history, lost, zero.mono_ns),
        )


def report_lines(runs: Sequence[PartitionRun], out: TextIO) -> None:
    """The one-screen summary: acknowledged, lost, refused, per guard."""
    print(
        f"{'master setting':36} {'acknowledged':>12} {'lost':>16} {'refused':>9} {'promoted at':>12}",
        file=out,
    )
    for run in runs:
        share = f"{run.lost_count:,} ({100 * run.lost_count / max(run.acknowledged, 1):.0f}%)"
        promoted = f"+{run.promoted_after_s:.2f}s" if run.promoted_after_s is not None else "-"
        print(
            f"{GUARD_LABELS[run.guard]:36} {run.acknowledged:>12,} {share:>16} {run.refused:>9,} {promoted:>12}",
            file=out,
        )
