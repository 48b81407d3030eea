"""Time from a master's crash to FAIL known everywhere, in virtual ms (printed, not asserted).

A later benchmark runs this at 100/300/1000 nodes; here: 6, 21 and 100 nodes, one seed each.
"""

from __future__ import annotations

import pytest

from gossip_cluster.sim_scenario import run_gossip
from labkit.sim.faults import FaultProfile

CALM = FaultProfile(partition_per_s=0.0, crash_per_s=0.0)


def fail_time_ms(seed: int, masters: int, replicas: int, node_timeout_ms: int) -> int:
    result = run_gossip(
        seed,
        masters=masters,
        replicas=replicas,
        profile=CALM,
        node_timeout_ms=node_timeout_ms,
        safety_ms=2_000,
        liveness_ms=6 * node_timeout_ms,
        transient_faults=False,
        victims=1,
        until_fail=True,
        keep_trace=False,
    )
    assert result.ok, result.failure
    fail_ms = result.details["fail_ms"]
    assert isinstance(fail_ms, dict) and len(fail_ms) == 1
    value = next(iter(fail_ms.values()))
    assert isinstance(value, int)
    nodes = masters * (1 + replicas)
    print(f"crash -> FAIL everywhere: {nodes} nodes, node timeout {node_timeout_ms} ms: {value} ms")
    return value


@pytest.mark.parametrize(("masters", "replicas"), [(3, 1), (7, 2)])
def test_time_to_fail_small_clusters(masters: int, replicas: int) -> None:
    for node_timeout_ms in (1_000, 15_000):
        assert fail_time_ms(1, masters, replicas, node_timeout_ms) > node_timeout_ms


@pytest.mark.slow
def test_time_to_fail_at_100_nodes() -> None:
    assert fail_time_ms(1, 50, 1, 5_000) > 5_000
