"""The pure cluster-bus core: node table, gossip, failure detection, epochs, failover.

No I/O, no clock, no global randomness: ``ClusterCore(rng, ...)`` is stepped with
``step(input, now_ms)`` and ``tick(now_ms)`` and returns :mod:`labkit.actions`.
"""

from __future__ import annotations

from gossip_cluster.core.cluster import ClusterCore, CoreInput
from gossip_cluster.core.context import FailEvidence, Policy
from gossip_cluster.core.inputs import (
    AddSlots,
    BumpEpoch,
    CloseLink,
    ClusterCommand,
    CommandError,
    DelSlots,
    Failover,
    FlushSlots,
    Forget,
    LinkDown,
    Meet,
    Nodes,
    Replicate,
    ReplicationInfo,
    Reset,
    SetConfigEpoch,
    SetSlot,
    Status,
    WritesPaused,
    inbound_link,
    is_inbound,
    link_ips,
    outbound_link,
)
from gossip_cluster.core.quorum import gossip_wanted, needed_quorum
from gossip_cluster.core.table import ClusterNode, NodeTable

__all__ = [
    "AddSlots",
    "BumpEpoch",
    "CloseLink",
    "ClusterCommand",
    "ClusterCore",
    "ClusterNode",
    "CommandError",
    "CoreInput",
    "DelSlots",
    "FailEvidence",
    "Failover",
    "FlushSlots",
    "Forget",
    "LinkDown",
    "Meet",
    "NodeTable",
    "Nodes",
    "Policy",
    "Replicate",
    "ReplicationInfo",
    "Reset",
    "SetConfigEpoch",
    "SetSlot",
    "Status",
    "WritesPaused",
    "gossip_wanted",
    "inbound_link",
    "is_inbound",
    "link_ips",
    "needed_quorum",
    "outbound_link",
]
