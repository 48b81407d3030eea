"""Real Redis + Sentinel and redis_raft under the same workload and the same partition.

Both sides get the same client workload (``register``, ``counter`` or ``set``; unique
values, 4 client threads, 1 s client timeouts) and the same fault script: write for
``before_s``, cut the node the clients write to off from every other node for
``partition_s``, heal, wait until the system settles, read every key once more.

(a) **real Redis + Sentinel**: the topology of :mod:`labkit.studies.partition` (1 master,
    2 replicas, 3 real Sentinels, down-after 1000 ms) with ``min-replicas-to-write 1`` /
    ``min-replicas-max-lag 10`` on the master; the clients stay on the master's side.
(b) **redis_raft**: 3 nodes (fsync always; election timeout 500 ms, heartbeat 100 ms,
    request timeout 2000 ms); every peer link through its own fault proxy; the clients
    talk to the leader, which is cut off from both followers.

For each side: writes acknowledged, lost, refused (a definite error: ``-NOREPLICAS``,
``-CLUSTERDOWN``, ``-READONLY``...), unknown (timeouts, ``-TIMEOUT``), and the verdict:
the linearizability checker (budget-bounded) for register and counter, the lost-writes
check for set. "Lost" is exact for set (acknowledged adds missing from the final read),
a lower bound for counter (acknowledged increments minus the final value) and not
measured for register (a lost register write shows as a linearizability violation).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from labkit.events import Event
from labkit.faults import ProxyHub
from labkit.history.checks import check_lost_writes
from labkit.history.linearizability import check_linearizability
from labkit.history.ops import History, Operation
from labkit.history.recorder import HistoryRecorder
from labkit.realredis import Lab
from labkit.realredis.labraft import RaftCluster, start_raft_cluster
from labkit.studies.partition import (
    background_workload,
    log_events,
    op_spans,
    read_every_key,
    run_partition,
)
from labkit.timeline.html import write_html
from labkit.timeline.merge import Anchor, Timeline, merge
from labkit.timeline.report import OpSpan
from labkit.workloads import DirectTarget, get_workload

__all__ = [
    "RAFT_ARGS",
    "WORKLOADS",
    "SideRun",
    "report_table",
    "run_comparison",
    "run_raft_side",
    "run_sentinel_side",
    "write_reports",
]

WORKLOADS = ("register", "counter", "set")
RAFT_ARGS = ("--election-timeout", "500", "--heartbeat", "100", "--request-timeout", "2000")
CLIENT_TIMEOUT_S = 1.0
SENTINEL_LABEL = "real Redis + Sentinel (min-replicas 1, lag 10)"
RAFT_LABEL = "redis_raft (3 nodes, fsync always)"
_READS = frozenset({"read"})


@dataclass(frozen=True, slots=True)
class SideRun:
    """What one side of the comparison saw."""

    system: str
    workload: str
    partition_s: float
    acknowledged: int
    """Writes (write, cas, incr, add) completed ``ok``."""
    lost: int | None
    """Acknowledged writes lost (None: not measurable for this workload)."""
    refused: int
    """Writes that got a definite error (they did not happen)."""
    unknown: int
    """Writes with no known outcome (``info``)."""
    verdict: str
    """``valid``, ``invalid`` or ``unknown`` (the checker ran out of budget)."""
    detail: str
    failover_s: float | None
    """When another node took over, in seconds after the partition began."""
    history: History
    timeline: Timeline
    zero: Anchor
    ops: tuple[OpSpan, ...]


def _is_write(op: Operation) -> bool:
    return op.f not in _READS


def _refused(history: History) -> int:
    """Writes that failed with an error (a cas that found another value is not refused)."""
    return sum(1 for e in history.events if e.type == "fail" and e.f not in _READS and e.error)


def _counter_lost(ops: Sequence[Operation]) -> int:
    """Acknowledged increments above the final value, per key (a lower bound)."""
    lost = 0
    for key in {op.key for op in ops}:
        mine = [op for op in ops if op.key == key]
        acked = sum(int(str(op.value)) for op in mine if op.f == "incr" and op.outcome == "ok")
        reads = [op for op in mine if op.f == "read" and op.outcome == "ok" and op.ret is not None]
        if reads:
            final = max(reads, key=lambda op: op.ret or 0)
            value = final.output if isinstance(final.output, int) else 0
            lost += max(0, acked - value)
    return lost


def _judge(
    history: History, workload: str, budget_s: float
) -> tuple[int | None, str, str, set[int], set[int]]:
    """lost, verdict, detail, the lost operations and the first violating operations."""
    ops = history.operations()
    if workload == "set":
        result = check_lost_writes(history, "set")
        lost_ops = {op.index for op in result.lost}
        flagged = {k.final_read.index for k in result.keys if k.lost and k.final_read is not None}
        verdict = "valid" if result.valid else "invalid"
        detail = f"{len(result.lost):,} acknowledged adds missing from the final read"
        return len(result.lost), verdict, detail, lost_ops, flagged
    lin = check_linearizability(history, workload, budget_s=budget_s)
    flagged = set()
    detail = f"{lin.ops:,} operations on {lin.key_count} keys checked in {lin.elapsed_s:.1f}s"
    if lin.violation is not None:
        v = lin.violation
        stuck = v.first_return or (v.next_ops[0].op if v.next_ops else None)
        if stuck is not None:
            flagged.add(stuck.index)
            detail = f"cannot place {stuck.describe()} after {len(v.prefix)} operations"
    lost = _counter_lost(ops) if workload == "counter" else None
    return lost, str(lin.verdict), detail, set(), flagged


def _side_run(
    system: str,
    workload: str,
    partition_s: float,
    failover_s: float | None,
    history: History,
    timeline: Timeline,
    zero: Anchor,
    budget_s: float,
) -> SideRun:
    ops = history.operations()
    writes = [op for op in ops if _is_write(op)]
    lost, verdict, detail, lost_ops, flagged = _judge(history, workload, budget_s)
    assert zero.mono_ns is not None
    spans = op_spans(history, zero.mono_ns, violating=flagged)
    if lost_ops:
        spans = tuple(
            OpSpan(s.process, s.start_ns, s.end_ns, s.outcome, s.label, True, s.first_violation)
            if i in lost_ops
            else s
            for i, s in zip(
                (op.index for op in ops if op.call_time is not None), spans, strict=True
            )
        )
    return SideRun(
        system,
        workload,
        partition_s,
        acknowledged=sum(op.outcome == "ok" for op in writes),
        lost=lost,
        refused=_refused(history),
        unknown=sum(op.outcome == "info" for op in writes),
        verdict=verdict,
        detail=detail,
        failover_s=failover_s,
        history=history,
        timeline=timeline,
        zero=zero,
        ops=spans,
    )


def run_sentinel_side(
    workload: str = "register",
    *,
    partition_s: float = 10.0,
    before_s: float = 2.0,
    clients: int = 4,
    keys: int = 3,
    seed: int = 0,
    budget_s: float = 60.0,
    say: Callable[[str], None] = lambda _: None,
) -> SideRun:
    """(a): the partition study's run with ``min-replicas-to-write 1``, this workload."""
    run = run_partition(
        "min-replicas",
        partition_s=partition_s,
        before_s=before_s,
        clients=clients,
        seed=seed,
        say=say,
        workload_name=workload,
        keys=keys,
    )
    return _side_run(
        SENTINEL_LABEL,
        workload,
        partition_s,
        run.promoted_after_s,
        run.history,
        run.timeline,
        run.zero,
        budget_s,
    )


def _other_leader(cluster: RaftCluster, isolated: str) -> bool:
    for node in cluster.nodes:
        if node.node_id != isolated and node.raft_info(timeout_s=1.0)["role"] == "leader":
            return True
    return False


def run_raft_side(
    workload: str = "register",
    *,
    partition_s: float = 10.0,
    before_s: float = 2.0,
    clients: int = 4,
    keys: int = 3,
    seed: int = 0,
    budget_s: float = 60.0,
    say: Callable[[str], None] = lambda _: None,
) -> SideRun:
    """(b): 3 redis_raft nodes; the clients' node (the leader) is cut off from the others."""
    spec = get_workload(workload)
    with Lab() as lab, ProxyHub(seed=seed) as hub:
        cluster = start_raft_cluster(lab, 3, hub=hub, extra_args=RAFT_ARGS)
        leader = cluster.node(cluster.leader())
        say(f"  [redis_raft] cluster ready; clients write to the leader {leader.address}")
        recorder = HistoryRecorder(meta={"workload": workload, "system": "redis_raft"})
        target = DirectTarget(leader.host, leader.port, timeout_s=CLIENT_TIMEOUT_S)
        with background_workload(
            target, spec, recorder, clients=clients, seed=seed, keys=keys
        ) as stop:
            stop.wait(before_s)
            zero = Anchor(wall_ns=time.time_ns(), mono_ns=time.monotonic_ns())
            cluster.isolate(leader.node_id)
            say(
                f"  [redis_raft] leader {leader.node_id} cut off from its peers for {partition_s:g}s"
            )
            failover: float | None = None
            end = time.monotonic() + partition_s
            while time.monotonic() < end:
                if failover is None and _other_leader(cluster, leader.node_id):
                    failover = (time.monotonic_ns() - zero.mono_ns) / 1e9  # type: ignore[operator]
                    say(f"  [redis_raft] a new leader was elected at +{failover:.2f}s")
                stop.wait(0.05)
            cluster.heal()
            say("  [redis_raft] healed; waiting for one leader and every node caught up")
            cluster.leader(timeout_s=20)
            stop.wait(1.0)
        cluster.wait_caught_up(timeout_s=30)
        now_leader = cluster.node(cluster.leader())
        final = DirectTarget(now_leader.host, now_leader.port, timeout_s=3.0)
        read_every_key(final, spec, recorder, keys=keys)
        recorder.close()
        sources: list[Sequence[Event]] = [hub.events, *log_events(cluster.nodes, zero.wall_ns)]
        timeline = merge(sources, zero.wall_ns)
        cluster.close()
    return _side_run(
        RAFT_LABEL,
        workload,
        partition_s,
        failover,
        recorder.history(),
        timeline,
        zero,
        budget_s,
    )


def run_comparison(
    workload: str = "register",
    *,
    partition_s: float = 10.0,
    before_s: float = 2.0,
    clients: int = 4,
    keys: int = 3,
    seed: int = 0,
    budget_s: float = 60.0,
    say: Callable[[str], None] = lambda _: None,
) -> list[SideRun]:
    """Both sides, one after the other, with the same workload and fault script."""
    kwargs = {
        "partition_s": partition_s,
        "before_s": before_s,
        "clients": clients,
        "keys": keys,
        "seed": seed,
        "budget_s": budget_s,
    }
    return [
        run_sentinel_side(workload, say=say, **kwargs),  # type: ignore[arg-type]
        run_raft_side(workload, say=say, **kwargs),  # type: ignore[arg-type]
    ]


def _share(part: int | None, whole: int) -> str:
    if part is None:
        return "n/a"
    return f"{part:,} ({100 * part / max(whole, 1):.0f}%)"


def report_table(runs: Sequence[SideRun], out: TextIO) -> None:
    """One screen: a column per system."""
    rows: list[tuple[str, list[str]]] = [
        ("writes acknowledged", [f"{r.acknowledged:,}" for r in runs]),
        ("acknowledged and lost", [_share(r.lost, r.acknowledged) for r in runs]),
        ("refused (definite error)", [f"{r.refused:,}" for r in runs]),
        ("unknown (timeout)", [f"{r.unknown:,}" for r in runs]),
        (
            "new leader/master at",
            [f"+{r.failover_s:.2f}s" if r.failover_s is not None else "-" for r in runs],
        ),
        (
            "checker" if runs and runs[0].workload == "set" else "linearizable",
            [r.verdict for r in runs],
        ),
    ]
    width = max(46, *(len(r.system) + 2 for r in runs))
    print(f"{'':26}" + "".join(f"{r.system:>{width}}" for r in runs), file=out)
    for name, cells in rows:
        print(f"{name:26}" + "".join(f"{c:>{width}}" for c in cells), file=out)
    for r in runs:
        print(f"  {r.system}: {r.detail}", file=out)


def _slug(system: str) -> str:
    return "sentinel" if system == SENTINEL_LABEL else "raft"


def write_reports(base: Path, runs: Sequence[SideRun]) -> list[Path]:
    """One HTML report per side: ``<stem>-sentinel.html`` and ``<stem>-raft.html``."""
    paths = []
    for run in runs:
        path = base.with_name(f"{base.stem}-{_slug(run.system)}{base.suffix or '.html'}")
        write_html(
            path,
            run.timeline,
            title=f"{run.system}: {run.workload} workload, {run.partition_s:g}s partition",
            subtitle="the node the clients write to is cut off from every other node",
            summary=[
                ("system", run.system),
                ("writes acknowledged", f"{run.acknowledged:,}"),
                ("acknowledged and lost", _share(run.lost, run.acknowledged)),
                ("refused", f"{run.refused:,}"),
                ("unknown", f"{run.unknown:,}"),
                ("verdict", f"{run.verdict}: {run.detail}"),
            ],
            ops=run.ops,
            zero_label="partition starts",
        )
        paths.append(path)
    return paths
