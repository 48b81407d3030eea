"""Real Sentinels and sentinel_lab side by side in containers, in one group on one master.

Every sentinel is asked inside the lab network (``docker exec <sentinel> redis-cli -p 26379
SENTINEL GET-MASTER-ADDR-BY-NAME``), where the addresses they hand out are reachable.
"""

from __future__ import annotations

import pytest

from labkit.realredis.containers import (
    ContainerLab,
    ContainerReplicationGroup,
    ContainerSentinelGroup,
    LabSentinelContainer,
    RedisContainer,
    wait_for,
)

pytestmark = [pytest.mark.containers, pytest.mark.slow]

FAST_REPLICATION = [("repl-timeout", 2), ("repl-ping-replica-period", 1)]


def _state(sentinel: RedisContainer, master_name: str = "mymaster") -> dict[str, str]:
    # One element a line (an empty value is an empty line).
    out = sentinel.cli("SENTINEL", "MASTER", master_name).split("\n")
    return dict(zip(out[::2], out[1::2], strict=False))


def _mixed(lab: ContainerLab) -> tuple[ContainerReplicationGroup, ContainerSentinelGroup]:
    group = lab.replication_group(2, extra=FAST_REPLICATION)
    sentinels = lab.sentinel_group(
        group, 2, lab_sentinels=1, quorum=2, down_after_ms=1000, failover_timeout_ms=5000
    )
    ours = [s for s in sentinels.sentinels if isinstance(s, LabSentinelContainer)]
    assert len(ours) == 1 and len(sentinels.sentinels) == 3
    assert {sentinels.master_address(s) for s in sentinels.sentinels} == {group.master.address}
    return group, sentinels


def _agreed(sentinels: ContainerSentinelGroup, among: list[RedisContainer], on: set[str]) -> bool:
    """Whether every sentinel in ``among`` names the same master, one of ``on``."""
    named = {sentinels.master_address(s) for s in among}
    return len(named) == 1 and named <= on


def test_real_and_lab_sentinels_fail_over_a_killed_master(
    container_lab: ContainerLab, python_image: str
) -> None:
    group, sentinels = _mixed(container_lab)
    old = group.master
    replicas = {r.address for r in group.replicas}

    old.kill()  # docker kill: SIGKILL
    wait_for(
        lambda: _agreed(sentinels, sentinels.sentinels, replicas),
        timeout_s=45,
        what="every sentinel, real and ours, to name the same new master",
    )
    new = group.by_address(str(sentinels.master_address()))
    epochs = {_state(s)["config-epoch"] for s in sentinels.sentinels}
    assert len(epochs) == 1 and epochs != {"0"}, f"config epochs differ: {epochs}"

    # The host reaches the new master through its published 127.0.0.1 port only.
    wait_for(lambda: new.info("replication")["role"] == "master", timeout_s=15, what="promotion")
    with new.client() as conn:
        assert conn.set("after-mixed-failover", "1") is True
    other = next(r for r in group.replicas if r is not new)
    wait_for(
        lambda: other.info("replication").get("master_host") == new.ip,
        timeout_s=30,
        what="the other replica to follow the new master",
    )


def test_cut_off_lab_sentinel_learns_the_new_master_when_healed(
    container_lab: ContainerLab, python_image: str
) -> None:
    group, sentinels = _mixed(container_lab)
    ours = next(s for s in sentinels.sentinels if isinstance(s, LabSentinelContainer))
    real = [s for s in sentinels.sentinels if s is not ours]
    replicas = {r.address for r in group.replicas}

    ours.disconnect()  # docker network disconnect: ours sees nothing, and nobody sees it
    group.master.kill()
    wait_for(
        lambda: _agreed(sentinels, real, replicas),
        timeout_s=45,
        what="the two real Sentinels to fail over without ours",
    )
    assert sentinels.master_address(ours) == group.master.address  # it could not take part

    ours.connect()
    wait_for(
        lambda: _agreed(sentinels, sentinels.sentinels, replicas),
        timeout_s=30,
        what="our sentinel to take the new configuration from the real ones' hellos",
    )
    assert "+config-update-from" in ours.logs()
