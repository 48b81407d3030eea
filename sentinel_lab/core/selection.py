"""Choosing the replica to promote (``sentinelSelectSlave``), as a pure function."""

from __future__ import annotations

from collections.abc import Iterable

from sentinel_lab.core.config import Timing
from sentinel_lab.core.instances import Master, Replica

__all__ = ["eligible", "promotion_key", "select_replica"]


def eligible(replica: Replica, master: Master, now_ms: int, timing: Timing) -> bool:
    """Whether ``replica`` may be promoted now.

    Excluded: SDOWN; a disconnected link; no valid PING reply for 5 s; priority 0;
    INFO older than 5 s (master SDOWN) or 30 s (otherwise); a master link down for
    longer than the master has been SDOWN plus 10 x down-after.
    """
    if replica.s_down or replica.link.disconnected:
        return False
    if now_ms - replica.link.last_avail_ms > timing.replica_ping_validity_ms:
        return False
    if replica.slave_priority == 0:
        return False
    validity = (
        timing.replica_info_validity_sdown_ms if master.s_down else timing.replica_info_validity_ms
    )
    if replica.info_refresh_ms is None or now_ms - replica.info_refresh_ms > validity:
        return False
    max_master_down_ms = master.config.down_after_ms * 10
    if master.s_down:
        max_master_down_ms += now_ms - master.s_down_since_ms
    return replica.master_link_down_ms <= max_master_down_ms


def promotion_key(replica: Replica) -> tuple[int, int, int, str]:
    """Better first: lower priority, higher offset, smaller runid (case-insensitive;
    an unknown runid sorts last)."""
    runid = replica.runid
    return (
        replica.slave_priority,
        -replica.slave_repl_offset,
        1 if runid is None else 0,
        "" if runid is None else runid.lower(),
    )


def select_replica(master: Master, now_ms: int, timing: Timing) -> Replica | None:
    """The best eligible replica of ``master``, or None."""
    return best(r for r in master.replicas.values() if eligible(r, master, now_ms, timing))


def best(replicas: Iterable[Replica]) -> Replica | None:
    """The first of ``replicas`` in promotion order."""
    ordered = sorted(replicas, key=promotion_key)
    return ordered[0] if ordered else None
