"""The durable state: what Redis writes to sentinel.conf when it rewrites it.

The core returns ``Persist(SentinelState(...))``, a full snapshot, on Redis's
triggers (a new replica or sentinel, an epoch change, a vote before its reply, a
promotion, a switch, SET/MONITOR/REMOVE). ``restore`` takes the last one. ``config.py``
renders a snapshot as ``sentinel ...`` lines and reads them back:

* ``sentinel myid <myid>``, ``sentinel current-epoch <n>``
* ``sentinel monitor <name> <ip> <port> <quorum>`` and non-default options
  (``down-after-milliseconds``, ``failover-timeout``, ``parallel-syncs``, ``auth-pass``,
  ``auth-user``) from :class:`MasterRecord.config`
* ``sentinel config-epoch <name> <n>``, ``sentinel leader-epoch <name> <n>``
* ``sentinel known-replica <name> <ip> <port>``
* ``sentinel known-sentinel <name> <ip> <port> <runid>``
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel_lab.core.config import MasterConfig

__all__ = ["KnownReplica", "KnownSentinel", "MasterRecord", "SentinelState"]


@dataclass(frozen=True, slots=True)
class KnownReplica:
    """``sentinel known-replica <master> <ip> <port>``."""

    ip: str
    port: int


@dataclass(frozen=True, slots=True)
class KnownSentinel:
    """``sentinel known-sentinel <master> <ip> <port> <runid>``."""

    ip: str
    port: int
    runid: str


@dataclass(frozen=True, slots=True)
class MasterRecord:
    """One monitored master as written to the config (``config.host/port`` is the
    current master address, the promoted replica's once it reported role master)."""

    config: MasterConfig
    config_epoch: int = 0
    leader_epoch: int = 0
    known_replicas: tuple[KnownReplica, ...] = ()
    known_sentinels: tuple[KnownSentinel, ...] = ()


@dataclass(frozen=True, slots=True)
class SentinelState:
    """A full snapshot of the sentinel's durable state."""

    myid: str
    current_epoch: int
    masters: tuple[MasterRecord, ...]
    announce_ip: str | None = None
    announce_port: int | None = None
