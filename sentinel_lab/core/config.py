"""What the core is configured with: the sentinel's identity, each monitored master,
and every timing constant.

``config.py`` (sentinel.conf reading) converts a file into these plain values; the core
never reads files. Defaults equal Redis 7.0's (``src/sentinel.c``); units come last in
names. A field that is not a Redis constant says where it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel_lab.core.errors import InvalidCoreConfigError

__all__ = [
    "DEFAULT_DOWN_AFTER_MS",
    "DEFAULT_FAILOVER_TIMEOUT_MS",
    "DEFAULT_PARALLEL_SYNCS",
    "HELLO_CHANNEL",
    "MasterConfig",
    "SentinelIdentity",
    "Timing",
]

HELLO_CHANNEL = "__sentinel__:hello"
"""The pub/sub channel sentinels announce themselves on (``SENTINEL_HELLO_CHANNEL``)."""

DEFAULT_DOWN_AFTER_MS = 30_000
DEFAULT_FAILOVER_TIMEOUT_MS = 180_000
DEFAULT_PARALLEL_SYNCS = 1


@dataclass(frozen=True, slots=True)
class Timing:
    """Every period and timeout of the Sentinel timer, in ms; defaults are Redis 7.0's."""

    ping_period_ms: int = 1000
    """PING an instance this often at most; the period is min(down-after, this)."""
    info_period_ms: int = 10_000
    """INFO to masters and replicas when nothing is going on."""
    info_period_fast_ms: int = 1000
    """INFO to replicas of an ODOWN or failing-over master, or with their master link down."""
    info_resend_ms: int = 1000
    """Ours, not Redis's: resend an unanswered INFO after this (Redis resends every timer
    run, ~100 ms, up to 100 pending commands)."""
    publish_period_ms: int = 2000
    """Hello messages to every instance and sentinel."""
    ask_period_ms: int = 1000
    """SENTINEL IS-MASTER-DOWN-BY-ADDR to each other sentinel while the master is SDOWN."""
    master_down_validity_ms: int = 5000
    """An is-master-down answer (and the vote in it) expires after this (ask period x 5)."""
    tilt_trigger_ms: int = 2000
    """A timer gap above this (or below 0) enters TILT."""
    tilt_period_ms: int = 30_000
    """TILT lasts this long after the last trigger (ping period x 30)."""
    slave_reconf_timeout_ms: int = 10_000
    """A replica stuck in RECONF_SENT this long counts as reconfigured."""
    min_link_reconnect_period_ms: int = 15_000
    """A link must be this old before a stalled one is closed and reopened."""
    election_timeout_ms: int = 10_000
    """Abort an unwon election after min(this, failover-timeout)."""
    max_desync_ms: int = 1000
    """The failover start time gets a random 0..this-1 ms added (SENTINEL_MAX_DESYNC)."""
    reconnect_period_ms: int = 1000
    """Try a disconnected link again this often (the PING period in Redis)."""
    pubsub_idle_factor: int = 3
    """Reopen a pub/sub link silent for this many publish periods."""
    convert_to_slave_factor: int = 4
    """A returning old master is converted after this many publish periods (8 s)."""
    default_down_after_ms: int = DEFAULT_DOWN_AFTER_MS
    """down-after-milliseconds of a master added by SENTINEL MONITOR."""
    default_failover_timeout_ms: int = DEFAULT_FAILOVER_TIMEOUT_MS
    """failover-timeout of a master added by SENTINEL MONITOR."""

    @property
    def convert_to_slave_wait_ms(self) -> int:
        """How long a replica that reports role master waits before +convert-to-slave."""
        return self.publish_period_ms * self.convert_to_slave_factor

    @property
    def replica_ping_validity_ms(self) -> int:
        """Replica selection drops replicas with no valid PING reply for this (5 s)."""
        return self.ping_period_ms * 5

    @property
    def replica_info_validity_sdown_ms(self) -> int:
        """Replica selection drops replicas with INFO older than this if the master is SDOWN."""
        return self.ping_period_ms * 5

    @property
    def replica_info_validity_ms(self) -> int:
        """... and older than this otherwise (3 INFO periods)."""
        return self.info_period_ms * 3

    def ping_period_for(self, down_after_ms: int) -> int:
        """The PING period of an instance: min(down-after, ping period)."""
        return min(down_after_ms, self.ping_period_ms)


@dataclass(frozen=True, slots=True)
class MasterConfig:
    """One ``sentinel monitor`` entry and its per-master options.

    ``host``/``port`` is the address the sentinel currently believes is the master.
    """

    name: str
    host: str
    port: int
    quorum: int
    down_after_ms: int = DEFAULT_DOWN_AFTER_MS
    failover_timeout_ms: int = DEFAULT_FAILOVER_TIMEOUT_MS
    parallel_syncs: int = DEFAULT_PARALLEL_SYNCS
    auth_pass: str | None = None
    auth_user: str | None = None
    notification_script: str | None = None
    """Run with ``<event-type> <event-description>`` for every warning-level event."""
    client_reconfig_script: str | None = None
    """Run with ``<master-name> <role> <state> <from-ip> <from-port> <to-ip> <to-port>``
    when this sentinel switches the master's address."""

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in " ,\r\n"):
            raise InvalidCoreConfigError(f"bad master name {self.name!r}")
        if not 0 <= self.port < 65536:
            raise InvalidCoreConfigError(f"bad port {self.port} for master {self.name!r}")
        if self.quorum <= 0:
            raise InvalidCoreConfigError("Quorum must be 1 or greater.")
        if self.down_after_ms <= 0 or self.failover_timeout_ms <= 0:
            raise InvalidCoreConfigError("down-after and failover-timeout must be > 0")
        if self.parallel_syncs <= 0:
            raise InvalidCoreConfigError("parallel-syncs must be > 0")


@dataclass(frozen=True, slots=True)
class SentinelIdentity:
    """Who this sentinel is: its 40-hex ``myid`` and the address it announces in hellos.

    Redis announces the local address of each link when ``announce-ip`` is unset; the
    core has no sockets, so the driver always supplies the address to announce.
    ``myid=None`` makes the core draw a fresh id from its RNG (a first start).
    """

    announce_ip: str
    announce_port: int
    myid: str | None = None
    current_epoch: int = 0

    def __post_init__(self) -> None:
        if self.myid is not None and (
            len(self.myid) != 40 or any(c not in "0123456789abcdef" for c in self.myid)
        ):
            raise InvalidCoreConfigError(f"myid must be 40 lowercase hex digits, not {self.myid!r}")
        if self.current_epoch < 0:
            raise InvalidCoreConfigError("current-epoch must be >= 0")
