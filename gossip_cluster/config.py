"""Timing and behaviour knobs of a cluster node, with Redis 7.0's defaults.

Every field carries its ``redis.conf`` name (or the ``cluster.h`` constant) and a one-line
reason. Defaults equal Redis's own; the simulator lowers ``node_timeout_ms`` to keep runs
short. Derived timings (handshake timeout, election timeout, ...) are properties, so
that the formulas live in one place and are table-tested.
"""

from __future__ import annotations

from dataclasses import dataclass

from gossip_cluster.errors import GossipClusterError

__all__ = ["ClusterConfig", "ConfigError"]


class ConfigError(GossipClusterError, ValueError):
    """A cluster config value is out of range."""


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """The knobs of one node; units are the last word of each name."""

    node_timeout_ms: int = 15_000
    """cluster-node-timeout: silence after which a node is PFAIL; scales every other timer."""
    replica_validity_factor: int = 10
    """cluster-replica-validity-factor: how stale a replica may be and still fail over (0: any)."""
    migration_barrier: int = 1
    """cluster-migration-barrier: replicas a master keeps before one may migrate (migration is
    not implemented; kept so that config files round-trip)."""
    repl_ping_replica_period_s: int = 10
    """repl-ping-replica-period: added to the replica data-age allowance, as Redis does."""
    require_full_coverage: bool = True
    """cluster-require-full-coverage: the cluster state is fail while any slot is unserved."""
    replica_no_failover: bool = False
    """cluster-replica-no-failover: this replica never starts an automatic failover."""
    allow_replica_migration: bool = True
    """cluster-allow-replica-migration: a master emptied by a slot move follows the slots."""
    cron_interval_ms: int = 100
    """clusterCron runs at hz 10: the driver should tick every 100 ms."""
    fail_report_validity_mult: int = 2
    """CLUSTER_FAIL_REPORT_VALIDITY_MULT: a failure report counts for 2 x node timeout."""
    fail_undo_time_mult: int = 2
    """CLUSTER_FAIL_UNDO_TIME_MULT: a reachable master keeps FAIL this long if nobody took over."""
    manual_failover_timeout_ms: int = 5_000
    """CLUSTER_MF_TIMEOUT: a manual failover that has not completed by then is aborted."""
    writable_delay_ms: int = 2_000
    """CLUSTER_WRITABLE_DELAY: a restarted master waits before declaring the cluster ok."""
    min_rejoin_delay_ms: int = 500
    """CLUSTER_MIN_REJOIN_DELAY: floor of the minority-rejoin delay."""
    max_rejoin_delay_ms: int = 5_000
    """CLUSTER_MAX_REJOIN_DELAY: cap of the minority-rejoin delay (else node timeout)."""
    handshake_timeout_floor_ms: int = 1_000
    """clusterCron: a handshake node lives max(node timeout, 1 s)."""
    auth_timeout_floor_ms: int = 2_000
    """clusterHandleSlaveFailover: an election lasts max(2 x node timeout, 2 s)."""

    def __post_init__(self) -> None:
        for name in (
            "node_timeout_ms",
            "replica_validity_factor",
            "migration_barrier",
            "repl_ping_replica_period_s",
            "cron_interval_ms",
            "fail_report_validity_mult",
            "fail_undo_time_mult",
            "manual_failover_timeout_ms",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.cron_interval_ms == 0:
            raise ConfigError("cron_interval_ms must be > 0")

    @property
    def handshake_timeout_ms(self) -> int:
        """How long a node may stay in HANDSHAKE before it is dropped."""
        return max(self.node_timeout_ms, self.handshake_timeout_floor_ms)

    @property
    def fail_report_validity_ms(self) -> int:
        """How long a failure report counts toward FAIL."""
        return self.node_timeout_ms * self.fail_report_validity_mult

    @property
    def fail_undo_ms(self) -> int:
        """How long a reachable master with slots stays FAIL before it is cleared."""
        return self.node_timeout_ms * self.fail_undo_time_mult

    @property
    def auth_timeout_ms(self) -> int:
        """How long a replica waits for votes in one election."""
        return max(self.node_timeout_ms * 2, self.auth_timeout_floor_ms)

    @property
    def auth_retry_ms(self) -> int:
        """How long after the start of an election the next one may be scheduled."""
        return self.auth_timeout_ms * 2

    @property
    def vote_again_ms(self) -> int:
        """A master votes for replicas of one master at most once in this period."""
        return self.node_timeout_ms * 2

    @property
    def max_data_age_ms(self) -> int | None:
        """The largest replica data age (minus node timeout) that may fail over; None: any."""
        if self.replica_validity_factor == 0:
            return None
        return (
            self.repl_ping_replica_period_s * 1000
            + self.node_timeout_ms * self.replica_validity_factor
        )

    @property
    def rejoin_delay_ms(self) -> int:
        """How long a master that was in the minority waits before declaring the state ok."""
        return min(max(self.node_timeout_ms, self.min_rejoin_delay_ms), self.max_rejoin_delay_ms)
