"""(f) Checker-backed runs: client workloads on every node of a real cluster while the
leader is killed and later cut off by the fault proxy.

The register history must be linearizable, and the set history must lose no
acknowledged write.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import redis

from labkit.faults import ProxyHub
from labkit.history.checks import check_lost_writes, check_stale_reads
from labkit.history.linearizability import check_linearizability
from labkit.history.recorder import HistoryRecorder
from labkit.realredis import Lab
from labkit.realredis.labraft import RaftCluster, start_raft_cluster
from labkit.workloads import DirectTarget, final_reads, get_workload, run_workload

pytestmark = [pytest.mark.realredis, pytest.mark.slow]

FAST = ["--election-timeout", "500", "--heartbeat", "100", "--request-timeout", "2000"]


@dataclass
class EveryNode:
    """A target that hands out clients of each node in turn."""

    targets: list[DirectTarget]
    _next: Iterator[int] = field(default_factory=itertools.count)

    @property
    def name(self) -> str:
        return "raft:" + ",".join(t.name for t in self.targets)

    def connect(self) -> redis.Redis:
        return self.targets[next(self._next) % len(self.targets)].connect()


def nemesis(cluster: RaftCluster, stop: threading.Event, log: list[str]) -> None:
    """Kill the leader, restart it, then isolate the (new) leader and heal."""
    try:
        stop.wait(1.5)
        victim = cluster.node(cluster.leader())
        victim.kill()
        log.append(f"killed {victim.node_id}")
        stop.wait(1.5)
        victim.start()
        log.append(f"restarted {victim.node_id}")
        stop.wait(1.0)
        isolated = cluster.leader()
        cluster.isolate(isolated)
        log.append(f"isolated {isolated}")
        stop.wait(2.0)
        cluster.heal()
        log.append("healed")
    except Exception as exc:  # reported by the test
        log.append(f"nemesis failed: {exc!r}")


@pytest.fixture
def cluster(redis_lab: Lab) -> Iterator[RaftCluster]:
    with ProxyHub(seed=3) as hub:
        raft = start_raft_cluster(redis_lab, 3, hub=hub, extra_args=FAST)
        try:
            raft.leader()
            yield raft
        finally:
            raft.close()


def run_under_faults(cluster: RaftCluster, workload_name: str, keys: int) -> HistoryRecorder:
    target = EveryNode([DirectTarget(n.host, n.port, timeout_s=3.0) for n in cluster.nodes])
    workload = get_workload(workload_name)
    recorder = HistoryRecorder(meta={"workload": workload_name, "system": "redis_raft"})
    stop = threading.Event()
    log: list[str] = []
    thread = threading.Thread(target=nemesis, args=(cluster, stop, log))
    thread.start()
    started = time.monotonic()
    try:
        stats = run_workload(target, workload, recorder, clients=6, keys=keys, duration_s=8.0)
    finally:
        stop.set()
        thread.join()
        cluster.heal()
    assert not any("failed" in line for line in log), log
    cluster.wait_caught_up(timeout_s=30)
    assert final_reads(target, workload, recorder, keys=keys, timeout_s=20)
    print(
        f"{workload_name}: {stats.total('ok')} ok, {stats.total('fail')} fail, "
        f"{stats.total('info')} info in {time.monotonic() - started:.1f}s; nemesis: {log}"
    )
    assert stats.total("ok") > 50
    return recorder


def test_register_is_linearizable_under_kill_and_partition(cluster: RaftCluster) -> None:
    recorder = run_under_faults(cluster, "register", keys=3)
    history = recorder.history()
    result = check_linearizability(history, "register", budget_s=60)
    assert result.valid, result
    assert check_stale_reads(history).valid


def test_set_loses_no_acknowledged_write(cluster: RaftCluster) -> None:
    recorder = run_under_faults(cluster, "set", keys=2)
    lost = check_lost_writes(recorder.history(), "set")
    assert lost.valid, lost.lost
    assert lost.acknowledged > 50
