"""The instance table: masters, their replicas, the other sentinels, and their links.

These are the core's mutable working state (Redis's ``sentinelRedisInstance`` and
``instanceLink``). Times are the core's ``now_ms`` values; ``None`` means "never" (Redis uses 0,
which a monotonic clock may really read). The SDOWN/ODOWN start times keep Redis's 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum

from sentinel_lab.core.config import MasterConfig

__all__ = [
    "FailoverState",
    "Instance",
    "Link",
    "Master",
    "Peer",
    "ReconfState",
    "Replica",
    "addr_name",
]


def addr_name(host: str, port: int) -> str:
    """``host:port``: a replica's name, and the target of commands to it."""
    return f"{host}:{port}"


class FailoverState(IntEnum):
    """Redis's failover states; the order matters (comparisons like ``>= RECONF_SLAVES``)."""

    NONE = 0
    WAIT_START = 1
    SELECT_SLAVE = 2
    SEND_SLAVEOF_NOONE = 3
    WAIT_PROMOTION = 4
    RECONF_SLAVES = 5
    UPDATE_CONFIG = 6

    @property
    def label(self) -> str:
        """The name SENTINEL MASTER shows (``wait_start``, ...)."""
        return self.name.lower()


class ReconfState(Enum):
    """Where a replica is in being pointed at the promoted one."""

    NONE = "none"
    SENT = "reconf_sent"
    INPROG = "reconf_inprog"
    DONE = "reconf_done"


@dataclass(slots=True)
class Link:
    """A command link (plus a pub/sub link for masters and replicas).

    ``act_ping_ms`` is the send time of the oldest unanswered PING (None when none);
    it starts at creation time, so an instance that never answers goes SDOWN.
    """

    created_ms: int
    disconnected: bool = True
    connected_ms: int = 0
    last_reconnect_ms: int | None = None
    act_ping_ms: int | None = None
    last_ping_ms: int = 0
    last_pong_ms: int = 0
    last_avail_ms: int = 0
    pubsub_activity_ms: int = 0
    pending_commands: int = 0
    refcount: int = 1
    info_sent_ms: int | None = None

    def __post_init__(self) -> None:
        self.act_ping_ms = self.last_avail_ms = self.last_pong_ms = self.created_ms

    def close(self) -> None:
        """Drop the connection; the timer reconnects it."""
        self.disconnected = True
        self.pending_commands = 0


@dataclass(slots=True)
class Instance:
    """What masters and replicas share."""

    host: str
    port: int
    link: Link
    down_after_ms: int
    runid: str | None = None
    s_down: bool = False
    s_down_since_ms: int = 0
    o_down_since_ms: int = 0
    info_refresh_ms: int | None = None
    role_reported: str = "master"
    role_reported_ms: int = 0
    last_pub_ms: int = 0

    @property
    def addr(self) -> str:
        """``host:port``."""
        return addr_name(self.host, self.port)

    def no_down_for(self, ms: int, now_ms: int) -> bool:
        """No SDOWN/ODOWN began within the last ``ms`` (``sentinelRedisInstanceNoDownFor``)."""
        recent = max(self.s_down_since_ms, self.o_down_since_ms)
        return recent == 0 or now_ms - recent > ms


@dataclass(slots=True)
class Replica(Instance):
    """A replica of a master, found in the master's INFO (or kept from the config)."""

    role_reported: str = "slave"
    master_link_down_ms: int = 0
    slave_master_host: str | None = None
    slave_master_port: int = 0
    slave_master_link_up: bool = False
    slave_priority: int = 100
    slave_repl_offset: int = 0
    replica_announced: int = 1
    slave_conf_change_ms: int = 0
    reconf: ReconfState = ReconfState.NONE
    reconf_sent_ms: int = 0
    promoted: bool = False

    @property
    def name(self) -> str:
        """A replica's name is its address."""
        return self.addr


@dataclass(slots=True)
class Peer:
    """Another sentinel monitoring the same master, found by its hellos."""

    runid: str
    host: str
    port: int
    link: Link
    down_after_ms: int
    s_down: bool = False
    s_down_since_ms: int = 0
    last_hello_ms: int = 0
    last_pub_ms: int = 0
    master_down: bool = False
    last_master_down_reply_ms: int = 0
    leader: str | None = None
    leader_epoch: int = 0

    @property
    def addr(self) -> str:
        """``host:port``: where messages to it go."""
        return addr_name(self.host, self.port)


@dataclass(slots=True)
class Master(Instance):
    """A monitored master with its replicas, peers and failover state."""

    config: MasterConfig = field(kw_only=True)
    replicas: dict[str, Replica] = field(default_factory=dict)
    sentinels: dict[str, Peer] = field(default_factory=dict)
    o_down: bool = False
    config_epoch: int = 0
    leader: str | None = None
    leader_epoch: int = 0
    failover_epoch: int = 0
    failover_state: FailoverState = FailoverState.NONE
    failover_state_change_ms: int = 0
    failover_start_ms: int | None = None
    failover_in_progress: bool = False
    force_failover: bool = False
    promoted: Replica | None = None

    @property
    def name(self) -> str:
        """The master's name."""
        return self.config.name

    @property
    def quorum(self) -> int:
        """Sentinels that must agree it is down."""
        return self.config.quorum

    @property
    def failover_timeout_ms(self) -> int:
        """The failover-timeout option."""
        return self.config.failover_timeout_ms

    @property
    def parallel_syncs(self) -> int:
        """Replicas reconfigured at once."""
        return self.config.parallel_syncs

    def current_address(self) -> tuple[str, int]:
        """The promoted replica's address once it reported role master, else ours."""
        if (
            self.failover_in_progress
            and self.promoted is not None
            and self.failover_state >= FailoverState.RECONF_SLAVES
        ):
            return self.promoted.host, self.promoted.port
        return self.host, self.port
