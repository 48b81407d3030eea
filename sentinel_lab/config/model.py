"""The typed model of a parsed ``sentinel.conf``: plain frozen values, no I/O.

One :class:`SentinelConfig` is both what the parser returns and what the rewriter writes
back (the state a running sentinel wants persisted). Defaults equal Redis 7.0.15's,
except where a field says otherwise. These types are this package's own; the Sentinel
core has its own, and a driver converts between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_BIND",
    "DEFAULT_DOWN_AFTER_MS",
    "DEFAULT_FAILOVER_TIMEOUT_MS",
    "DEFAULT_PARALLEL_SYNCS",
    "DEFAULT_SENTINEL_PORT",
    "IgnoredDirective",
    "KnownReplica",
    "KnownSentinel",
    "LoadedConfig",
    "MasterConfig",
    "SentinelConfig",
    "ServerSettings",
]

DEFAULT_SENTINEL_PORT = 26379
"""``REDIS_SENTINEL_PORT``: Sentinel mode's port when the file names none."""
DEFAULT_BIND: tuple[str, ...] = ("127.0.0.1",)
"""Ours, not Redis's: Redis binds ``* -::*`` (every interface) when no ``bind`` is given."""
DEFAULT_DOWN_AFTER_MS = 30_000
DEFAULT_FAILOVER_TIMEOUT_MS = 180_000
DEFAULT_PARALLEL_SYNCS = 1


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The server-level settings sentinel_lab uses, and the sentinel-wide options."""

    port: int = DEFAULT_SENTINEL_PORT
    bind: tuple[str, ...] = DEFAULT_BIND
    """An empty tuple (``bind ""``) means: listen on no TCP address."""
    dir: str | None = None
    """None: the working directory the process was started in."""
    logfile: str = ""
    """Empty: log to standard output, as Redis does."""
    requirepass: str | None = None
    loglevel: str = "notice"
    syslog_enabled: bool = False
    syslog_ident: str = "redis"
    syslog_facility: str = "local0"
    renamed_commands: tuple[tuple[str, str], ...] = ()
    """Top-level ``rename-command`` pairs (old, new); new is empty for a removed command."""
    announce_ip: str | None = None
    announce_port: int = 0
    """0: announce the port the sentinel listens on."""
    resolve_hostnames: bool = False
    announce_hostnames: bool = False
    deny_scripts_reconfig: bool = True
    sentinel_user: str | None = None
    sentinel_pass: str | None = None


@dataclass(frozen=True, slots=True)
class KnownReplica:
    """A ``sentinel known-replica`` line: a replica seen before the restart."""

    host: str
    port: int


@dataclass(frozen=True, slots=True)
class KnownSentinel:
    """A ``sentinel known-sentinel`` line: another sentinel, by address and run id."""

    host: str
    port: int
    runid: str


@dataclass(frozen=True, slots=True)
class MasterConfig:
    """One monitored master: its ``sentinel monitor`` line and every option about it."""

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
    client_reconfig_script: str | None = None
    master_reboot_down_after_period_ms: int = 0
    config_epoch: int = 0
    leader_epoch: int = 0
    known_replicas: tuple[KnownReplica, ...] = ()
    known_sentinels: tuple[KnownSentinel, ...] = ()
    renamed_commands: tuple[tuple[str, str], ...] = ()
    """``sentinel rename-command`` pairs (command, name to send it as on this master)."""


@dataclass(frozen=True, slots=True)
class SentinelConfig:
    """A whole sentinel.conf: server settings, masters in file order, identity, epoch."""

    server: ServerSettings = field(default_factory=ServerSettings)
    masters: tuple[MasterConfig, ...] = ()
    myid: str | None = None
    """40 characters once set; None until a first start picks one (see ``ensure_myid``)."""
    current_epoch: int = 0

    def master(self, name: str) -> MasterConfig:
        """The master called ``name`` (case-sensitive, as in Redis); KeyError if none."""
        for master in self.masters:
            if master.name == name:
                return master
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class IgnoredDirective:
    """A valid Redis directive sentinel_lab does not act on, for an "ignored" log line."""

    line_no: int
    directive: str
    path: str


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """What :func:`load_config` returns."""

    config: SentinelConfig
    ignored: tuple[IgnoredDirective, ...]
    path: str
    needs_rewrite: bool
    """True when the file has no ``sentinel myid``: Redis picks one and rewrites at start."""
