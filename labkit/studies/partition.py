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

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import redis

from labkit.events import Event
from labkit.faults import ProxyHub
from labkit.history.checks import LostWritesResult, check_lost_writes
from labkit.history.ops import History
from labkit.history.recorder import HistoryRecorder
from labkit.realredis import Lab, RedisProcess, wait_until
from labkit.realredis.process import ConfigValue
from labkit.realredis.topology import sentinel_discovered
from labkit.timeline.merge import Anchor, Timeline, merge
from labkit.timeline.redislog import read_log
from labkit.timeline.report import OpSpan
from labkit.workloads import (
    DirectTarget,
    OpSpec,
    SentinelTarget,
    Target,
    Workload,
    final_reads,
    get_workload,
    run_workload,
)

__all__ = [
    "GUARDS",
    "PartitionRun",
    "SentinelTopology",
    "background_workload",
    "log_events",
    "op_spans",
    "read_every_key",
    "run_partition",
    "start_sentinel_topology",
]

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
    workload: str = "set"

    @property
    def acknowledged(self) -> int:
        return self.lost.acknowledged

    @property
    def lost_count(self) -> int:
        return len(self.lost.lost)


@dataclass(slots=True)
class SentinelTopology:
    """1 master behind a fault proxy (named ``"master"``), 2 replicas and 3 real Sentinels
    that reach it only through the proxy; clients reach the master directly."""

    master: RedisProcess
    via: tuple[str, int]
    """The proxy's address: what the replicas and Sentinels know as the master."""
    replicas: list[RedisProcess]
    sentinels: list[RedisProcess]

    @property
    def old_address(self) -> str:
        return f"{self.via[0]}:{self.via[1]}"

    def master_addr(self) -> str:
        """The master's address as the first Sentinel names it."""
        return _master_addr(self.sentinels[0])

    def wait_rejoined(self, timeout_s: float = 40.0) -> None:
        """Wait until the old master is a replica with its link up."""
        wait_until(
            lambda: _role(self.master) == ("slave", "up"),
            timeout_s=timeout_s,
            what="the old master to rejoin",
        )

    def sentinel_target(self) -> SentinelTarget:
        return SentinelTarget([(s.host, s.port) for s in self.sentinels], MASTER_NAME)

    @property
    def processes(self) -> list[RedisProcess]:
        return [*self.sentinels, self.master, *self.replicas]


def start_sentinel_topology(lab: Lab, hub: ProxyHub, guard: str = "none") -> SentinelTopology:
    """Start the study's topology with the master setting ``guard`` (a key of
    :data:`GUARDS`) and wait until the replicas are in sync and the Sentinels know
    every replica and each other."""
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

    wait_until(
        lambda: all(sentinel_discovered(s, MASTER_NAME, 2, 2) for s in sentinels),
        timeout_s=30,
        what="sentinels to discover replicas and each other",
    )
    return SentinelTopology(master, via, replicas, sentinels)


@contextlib.contextmanager
def background_workload(
    target: Target,
    workload: Workload,
    recorder: HistoryRecorder,
    *,
    clients: int,
    seed: int,
    keys: int = 1,
) -> Iterator[threading.Event]:
    """Run ``workload`` in a thread until the block ends (or the yielded event is set)."""
    stop = threading.Event()
    worker = threading.Thread(
        target=run_workload,
        args=(target, workload, recorder),
        kwargs={
            "clients": clients,
            "keys": keys,
            "duration_s": 3600,
            "max_ops": 10_000_000,
            "seed": seed,
            "stop": stop,
        },
        name="workload",
    )
    worker.start()
    try:
        yield stop
    finally:
        stop.set()
        worker.join()


def log_events(procs: Sequence[RedisProcess], since_wall_ns: int) -> list[Sequence[Event]]:
    """The ``+``/``-`` events each process logged from 1 s before ``since_wall_ns``."""
    sources: list[Sequence[Event]] = []
    for proc in procs:
        events = read_log(proc.log_path, source=proc.name).events
        sources.append(
            [e for e in events if e.wall_ns >= since_wall_ns - 1_000_000_000 and e.name[:1] in "+-"]
        )
    return sources


def read_every_key(
    target: Target,
    workload: Workload,
    recorder: HistoryRecorder,
    *,
    keys: int = 1,
    timeout_s: float = 30.0,
) -> bool:
    """The workload's final reads; for workloads without one (register, counter) a plain
    read of every key, retried until it is ``ok`` (within ``timeout_s``)."""
    if workload.final_read("k0") is not None:
        return final_reads(target, workload, recorder, keys=keys, timeout_s=timeout_s)
    deadline = time.monotonic() + timeout_s
    for key in (f"k{i}" for i in range(keys)):
        while True:
            handle = recorder.invoke(recorder.new_process(), "read", key=key)
            client = target.connect()
            outcome: str
            try:
                outcome, value = workload.execute(client, OpSpec("read", key))
                recorder.complete(handle, outcome, value)
            except (redis.exceptions.RedisError, OSError) as exc:
                outcome = recorder.error(handle, exc)
            finally:
                client.close()
            if outcome == "ok":
                break
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
    return True


def _master_addr(sentinel: RedisProcess) -> str:
    with sentinel.client() as conn:
        host, port = conn.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
    return f"{host}:{port}"


def _role(proc: RedisProcess) -> tuple[str, str]:
    info = proc.info("replication")
    return str(info.get("role")), str(info.get("master_link_status", ""))


def op_spans(
    history: History,
    zero_mono_ns: int,
    *,
    lost: LostWritesResult | None = None,
    violating: Iterable[int] = (),
) -> tuple[OpSpan, ...]:
    """The history's operations as report bars, relative to ``zero_mono_ns``; the ``lost``
    writes marked, and the first operation that cannot be linearized (the ``violating``
    indexes, or for lost writes the final read that misses them)."""
    lost_ids = {op.index for op in lost.lost} if lost is not None else set()
    # With writes lost, the final read is the first operation that cannot be linearized:
    # every add fits somewhere, the read that misses acknowledged ones fits nowhere.
    flagged = set(violating)
    if lost is not None:
        flagged |= {k.final_read.index for k in lost.keys if k.lost and k.final_read is not None}
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
                first_violation=op.index in flagged,
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
    workload_name: str = "set",
    keys: int = 1,
) -> PartitionRun:
    """One run: write, cut the master off, heal, read what survived.

    ``lost`` is judged for the set and list workloads only (for the others it is empty:
    check the history with the linearizability checker)."""
    workload = get_workload(workload_name)
    with Lab(keep=keep is not None, base_dir=keep) as lab, ProxyHub(seed=seed) as hub:
        topo = start_sentinel_topology(lab, hub, guard)
        master = topo.master
        say(f"  [{guard}] topology ready; clients write to the master {master.address}")

        recorder = HistoryRecorder(keep / "history.jsonl" if keep else None, meta={"guard": guard})
        target = DirectTarget(master.host, master.port, timeout_s=0.5)
        with background_workload(
            target, workload, recorder, clients=clients, seed=seed, keys=keys
        ) as stop:
            stop.wait(before_s)
            zero = Anchor(wall_ns=time.time_ns(), mono_ns=time.monotonic_ns())
            hub.partition("master")
            say(f"  [{guard}] master cut off from replicas and sentinels for {partition_s:g}s")
            old = topo.old_address
            promoted_after: float | None = None
            end = time.monotonic() + partition_s
            while time.monotonic() < end:
                if promoted_after is None and topo.master_addr() != old:
                    promoted_after = (time.monotonic_ns() - zero.mono_ns) / 1e9  # type: ignore[operator]
                    say(f"  [{guard}] sentinels promoted a replica at +{promoted_after:.2f}s")
                stop.wait(0.05)
            hub.heal()
            say(f"  [{guard}] healed; waiting for the old master to become a replica")
            topo.wait_rejoined()
        read_every_key(topo.sentinel_target(), workload, recorder, keys=keys)
        recorder.close()
        history = recorder.history()
        lost = (
            check_lost_writes(history, workload.model)
            if workload.model in ("set", "list")
            else LostWritesResult(())
        )
        refused = sum(
            1 for e in history.events if e.type == "fail" and "NOREPLICAS" in (e.error or "")
        )
        sources: list[Sequence[Event]] = [
            hub.events,
            *log_events(topo.processes, zero.wall_ns),
        ]
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
            op_spans(history, zero.mono_ns, lost=lost),
            workload_name,
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
