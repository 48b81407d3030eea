"""Which top-level directives Redis 7.0.15 accepts in a config file: a fact table.

The names come from Redis 7.0.15's ``src/config.c``: the ``static_configs`` table (178
entries, TLS ones included since Debian's build links OpenSSL), the directives that
``loadServerConfigFromString`` handles itself (``include``, ``rename-command``, ``user``,
``loadmodule``, ``sentinel``, and module options, whose names contain a dot) and its
three silently accepted deprecated names. The sentinel sub-directives come from
``sentinelHandleConfiguration`` in ``src/sentinel.c``. Names only; no code was copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "ALIASES",
    "BOOL_DIRECTIVES",
    "DEPRECATED_DIRECTIVES",
    "ENUM_DIRECTIVES",
    "MULTI_ARG_DIRECTIVES",
    "NUMERIC_DIRECTIVES",
    "PRE_MONITOR_OPTIONS",
    "SENTINEL_MODE_COMMANDS",
    "SENTINEL_OPTION_ARITY",
    "SPECIAL_DIRECTIVES",
    "STANDARD_DIRECTIVES",
    "STRING_DIRECTIVES",
    "canonical_name",
]

BOOL_DIRECTIVES: Final[frozenset[str]] = frozenset(
    {
        "activedefrag",
        "activerehashing",
        "always-show-logo",
        "aof-disable-auto-gc",
        "aof-load-truncated",
        "aof-rewrite-incremental-fsync",
        "aof-timestamp-enabled",
        "aof-use-rdb-preamble",
        "appendonly",
        "cluster-allow-pubsubshard-when-down",
        "cluster-allow-reads-when-down",
        "cluster-allow-replica-migration",
        "cluster-enabled",
        "cluster-replica-no-failover",
        "cluster-require-full-coverage",
        "crash-log-enabled",
        "crash-memcheck-enabled",
        "daemonize",
        "disable-thp",
        "dynamic-hz",
        "io-threads-do-reads",
        "jemalloc-bg-thread",
        "latency-tracking",
        "lazyfree-lazy-eviction",
        "lazyfree-lazy-expire",
        "lazyfree-lazy-server-del",
        "lazyfree-lazy-user-del",
        "lazyfree-lazy-user-flush",
        "no-appendfsync-on-rewrite",
        "protected-mode",
        "rdb-del-sync-files",
        "rdb-save-incremental-fsync",
        "rdbchecksum",
        "rdbcompression",
        "repl-disable-tcp-nodelay",
        "repl-diskless-sync",
        "replica-announced",
        "replica-ignore-disk-write-errors",
        "replica-ignore-maxmemory",
        "replica-lazy-flush",
        "replica-read-only",
        "replica-serve-stale-data",
        "set-proc-title",
        "stop-writes-on-bgsave-error",
        "syslog-enabled",
        "tls-cluster",
        "tls-prefer-server-ciphers",
        "tls-replication",
        "tls-session-caching",
        "use-exit-on-panic",
    }
)
"""Primary names of the yes/no options (``createBoolConfig``)."""

ENUM_DIRECTIVES: Final[frozenset[str]] = frozenset(
    {
        "acl-pubsub-default",
        "appendfsync",
        "cluster-preferred-endpoint-type",
        "enable-debug-command",
        "enable-module-command",
        "enable-protected-configs",
        "loglevel",
        "maxmemory-policy",
        "oom-score-adj",
        "propagation-error-behavior",
        "repl-diskless-load",
        "sanitize-dump-payload",
        "shutdown-on-sigint",
        "shutdown-on-sigterm",
        "supervised",
        "syslog-facility",
        "tls-auth-clients",
    }
)
"""Primary names of the enumerated options (``createEnumConfig``)."""

NUMERIC_DIRECTIVES: Final[frozenset[str]] = frozenset(
    {
        "acllog-max-len",
        "active-defrag-cycle-max",
        "active-defrag-cycle-min",
        "active-defrag-ignore-bytes",
        "active-defrag-max-scan-fields",
        "active-defrag-threshold-lower",
        "active-defrag-threshold-upper",
        "active-expire-effort",
        "auto-aof-rewrite-min-size",
        "auto-aof-rewrite-percentage",
        "busy-reply-threshold",
        "client-query-buffer-limit",
        "cluster-announce-bus-port",
        "cluster-announce-port",
        "cluster-announce-tls-port",
        "cluster-link-sendbuf-limit",
        "cluster-migration-barrier",
        "cluster-node-timeout",
        "cluster-port",
        "cluster-replica-validity-factor",
        "databases",
        "hash-max-listpack-entries",
        "hash-max-listpack-value",
        "hll-sparse-max-bytes",
        "hz",
        "io-threads",
        "key-load-delay",
        "latency-monitor-threshold",
        "lfu-decay-time",
        "lfu-log-factor",
        "list-compress-depth",
        "list-max-listpack-size",
        "loading-process-events-interval-bytes",
        "maxclients",
        "maxmemory",
        "maxmemory-clients",
        "maxmemory-eviction-tenacity",
        "maxmemory-samples",
        "min-replicas-max-lag",
        "min-replicas-to-write",
        "port",
        "proto-max-bulk-len",
        "rdb-key-save-delay",
        "repl-backlog-size",
        "repl-backlog-ttl",
        "repl-diskless-sync-delay",
        "repl-diskless-sync-max-replicas",
        "repl-ping-replica-period",
        "repl-timeout",
        "replica-announce-port",
        "replica-priority",
        "set-max-intset-entries",
        "shutdown-timeout",
        "slowlog-log-slower-than",
        "slowlog-max-len",
        "socket-mark-id",
        "stream-node-max-bytes",
        "stream-node-max-entries",
        "tcp-backlog",
        "tcp-keepalive",
        "timeout",
        "tls-port",
        "tls-session-cache-size",
        "tls-session-cache-timeout",
        "tracking-table-max-keys",
        "unixsocketperm",
        "watchdog-period",
        "zset-max-listpack-entries",
        "zset-max-listpack-value",
    }
)
"""Primary names of the numeric options (``createIntConfig``, ``createUIntConfig``, ``createLongLongConfig`` and kin)."""

STRING_DIRECTIVES: Final[frozenset[str]] = frozenset(
    {
        "aclfile",
        "aof_rewrite_cpulist",
        "appenddirname",
        "appendfilename",
        "bgsave_cpulist",
        "bind-source-addr",
        "bio_cpulist",
        "cluster-announce-hostname",
        "cluster-announce-ip",
        "cluster-config-file",
        "dbfilename",
        "ignore-warnings",
        "logfile",
        "masterauth",
        "masteruser",
        "pidfile",
        "proc-title-template",
        "replica-announce-ip",
        "requirepass",
        "server_cpulist",
        "syslog-ident",
        "tls-ca-cert-dir",
        "tls-ca-cert-file",
        "tls-cert-file",
        "tls-ciphers",
        "tls-ciphersuites",
        "tls-client-cert-file",
        "tls-client-key-file",
        "tls-client-key-file-pass",
        "tls-dh-params-file",
        "tls-key-file",
        "tls-key-file-pass",
        "tls-protocols",
        "unixsocket",
    }
)
"""Primary names of the string options (``createStringConfig``, ``createSDSConfig``)."""

SPECIAL_DIRECTIVES: Final[frozenset[str]] = frozenset(
    {
        "bind",
        "client-output-buffer-limit",
        "dir",
        "latency-tracking-info-percentiles",
        "notify-keyspace-events",
        "oom-score-adj-values",
        "replicaof",
        "save",
    }
)
"""Primary names of the options with their own parser (``createSpecialConfig``)."""

MULTI_ARG_DIRECTIVES: Final[frozenset[str]] = frozenset(
    {
        "bind",
        "client-output-buffer-limit",
        "latency-tracking-info-percentiles",
        "oom-score-adj-values",
        "replicaof",
        "save",
        "shutdown-on-sigint",
        "shutdown-on-sigterm",
    }
)
"""Options flagged ``MULTI_ARG_CONFIG``: any number of arguments."""

ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "cluster-slave-no-failover": "cluster-replica-no-failover",
        "cluster-slave-validity-factor": "cluster-replica-validity-factor",
        "hash-max-ziplist-entries": "hash-max-listpack-entries",
        "hash-max-ziplist-value": "hash-max-listpack-value",
        "list-max-ziplist-size": "list-max-listpack-size",
        "lua-time-limit": "busy-reply-threshold",
        "min-slaves-max-lag": "min-replicas-max-lag",
        "min-slaves-to-write": "min-replicas-to-write",
        "repl-ping-slave-period": "repl-ping-replica-period",
        "slave-announce-ip": "replica-announce-ip",
        "slave-announce-port": "replica-announce-port",
        "slave-ignore-maxmemory": "replica-ignore-maxmemory",
        "slave-lazy-flush": "replica-lazy-flush",
        "slave-priority": "replica-priority",
        "slave-read-only": "replica-read-only",
        "slave-serve-stale-data": "replica-serve-stale-data",
        "slaveof": "replicaof",
        "zset-max-ziplist-entries": "zset-max-listpack-entries",
        "zset-max-ziplist-value": "zset-max-listpack-value",
    }
)
"""Old names (``slave...``, ``...-ziplist-...``) and the primary name each stands for."""

STANDARD_DIRECTIVES: Final[frozenset[str]] = (
    BOOL_DIRECTIVES
    | ENUM_DIRECTIVES
    | NUMERIC_DIRECTIVES
    | STRING_DIRECTIVES
    | SPECIAL_DIRECTIVES
    | frozenset(ALIASES)
)
"""Every name ``lookupConfig`` finds, aliases included."""

DEPRECATED_DIRECTIVES: Final[frozenset[str]] = frozenset(
    {"list-max-ziplist-entries", "list-max-ziplist-value", "lua-replicate-commands"}
)
"""Accepted with exactly one argument and otherwise ignored by Redis 7.0."""

SENTINEL_OPTION_ARITY: Final[Mapping[str, tuple[int, ...]]] = MappingProxyType(
    {
        "monitor": (4,),
        "down-after-milliseconds": (2,),
        "failover-timeout": (2,),
        "parallel-syncs": (2,),
        "notification-script": (2,),
        "client-reconfig-script": (2,),
        "auth-pass": (2,),
        "auth-user": (2,),
        "current-epoch": (1,),
        "myid": (1,),
        "config-epoch": (2,),
        "leader-epoch": (2,),
        "known-slave": (3,),
        "known-replica": (3,),
        "known-sentinel": (3, 4),
        "rename-command": (3,),
        "announce-ip": (1,),
        "announce-port": (1,),
        "deny-scripts-reconfig": (1,),
        "sentinel-user": (1,),
        "sentinel-pass": (1,),
        "resolve-hostnames": (1,),
        "announce-hostnames": (1,),
        "master-reboot-down-after-period": (2,),
    }
)
"""Every ``sentinel <option>`` Redis 7.0 accepts, with the number of arguments after it."""

PRE_MONITOR_OPTIONS: Final[frozenset[str]] = frozenset(
    {
        "announce-ip",
        "announce-port",
        "deny-scripts-reconfig",
        "sentinel-user",
        "sentinel-pass",
        "current-epoch",
        "myid",
        "resolve-hostnames",
        "announce-hostnames",
    }
)
"""Sentinel options Redis applies before every ``monitor`` (``preMonitorCfgName``)."""

SENTINEL_MODE_COMMANDS: Final[frozenset[str]] = frozenset(
    {
        "acl",
        "auth",
        "client",
        "command",
        "hello",
        "info",
        "ping",
        "psubscribe",
        "publish",
        "punsubscribe",
        "role",
        "sentinel",
        "shutdown",
        "subscribe",
        "unsubscribe",
    }
)
"""The command table in Sentinel mode; a top-level ``rename-command`` must name one."""


def canonical_name(name: str) -> str:
    """The primary name of a standard directive (``slaveof`` -> ``replicaof``)."""
    lowered = name.lower()
    return ALIASES.get(lowered, lowered)
