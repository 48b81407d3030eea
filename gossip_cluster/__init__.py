"""A Python node for the Redis Cluster bus, wire-compatible with Redis 7.0.

``gossip_cluster.wire`` is the sans-I/O codec of the bus (``clusterMsg``); the pure core
(node table, gossip, failure detection, epochs, failover) and the asyncio driver build
on it.
"""

from __future__ import annotations

from gossip_cluster.errors import (
    BusEncodeError,
    BusProtocolError,
    GossipClusterError,
    ProtocolErrorReason,
)

__all__ = ["BusEncodeError", "BusProtocolError", "GossipClusterError", "ProtocolErrorReason"]
