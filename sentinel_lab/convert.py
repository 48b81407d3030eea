"""Between the config file's model (:mod:`sentinel_lab.config`) and the core's types.

The file model carries everything a ``sentinel.conf`` can say; the core knows only what
it acts on. So a snapshot from the core is *merged* into the loaded config: options the
core does not hold (``rename-command``, ``master-reboot-down-after-period``)
are kept from the file by master name, and server lines are never touched.
"""

from __future__ import annotations

from dataclasses import replace

from sentinel_lab import config as conf
from sentinel_lab import core

__all__ = ["announce_address", "core_master", "file_master", "merge_state", "to_state"]


def core_master(master: conf.MasterConfig) -> core.MasterConfig:
    """The core's view of one ``sentinel monitor`` entry and its options."""
    return core.MasterConfig(
        name=master.name,
        host=master.host,
        port=master.port,
        quorum=master.quorum,
        down_after_ms=master.down_after_ms,
        failover_timeout_ms=master.failover_timeout_ms,
        parallel_syncs=master.parallel_syncs,
        auth_pass=master.auth_pass,
        auth_user=master.auth_user,
        notification_script=master.notification_script,
        client_reconfig_script=master.client_reconfig_script,
    )


def announce_address(config: conf.SentinelConfig, listen_host: str, listen_port: int) -> str:
    """The ``ip`` our hellos carry: ``announce-ip``, else the address we listen on.

    Redis announces the local address of each link when ``announce-ip`` is unset; with
    one bound address that is the same address, and for a wildcard bind we fall back to
    the loopback address (a difference, see the README).
    """
    if config.server.announce_ip:
        return config.server.announce_ip
    if listen_host in ("", "*", "0.0.0.0", "::", "-::*"):
        return "127.0.0.1"
    return listen_host


def to_state(
    config: conf.SentinelConfig, announce_ip: str, announce_port: int
) -> core.SentinelState:
    """The core's snapshot for a loaded config (``config.myid`` must be set)."""
    if config.myid is None:
        raise ValueError("the config has no myid yet (call ensure_myid first)")
    masters = tuple(
        core.MasterRecord(
            core_master(m),
            m.config_epoch,
            m.leader_epoch,
            tuple(core.KnownReplica(r.host, r.port) for r in m.known_replicas),
            tuple(core.KnownSentinel(s.host, s.port, s.runid) for s in m.known_sentinels),
        )
        for m in config.masters
    )
    return core.SentinelState(
        config.myid, config.current_epoch, masters, announce_ip, announce_port
    )


def file_master(record: core.MasterRecord, base: conf.MasterConfig | None) -> conf.MasterConfig:
    """One snapshot record as a file entry, keeping ``base``'s file-only options."""
    c = record.config
    fields = {
        "name": c.name,
        "host": c.host,
        "port": c.port,
        "quorum": c.quorum,
        "down_after_ms": c.down_after_ms,
        "failover_timeout_ms": c.failover_timeout_ms,
        "parallel_syncs": c.parallel_syncs,
        "auth_pass": c.auth_pass,
        "auth_user": c.auth_user,
        "notification_script": c.notification_script,
        "client_reconfig_script": c.client_reconfig_script,
        "config_epoch": record.config_epoch,
        "leader_epoch": record.leader_epoch,
        "known_replicas": tuple(conf.KnownReplica(r.ip, r.port) for r in record.known_replicas),
        "known_sentinels": tuple(
            conf.KnownSentinel(s.ip, s.port, s.runid) for s in record.known_sentinels
        ),
    }
    if base is None:
        return conf.MasterConfig(**fields)  # type: ignore[arg-type]
    return replace(base, **fields)  # type: ignore[arg-type]


def merge_state(config: conf.SentinelConfig, state: core.SentinelState) -> conf.SentinelConfig:
    """``config`` updated from a core snapshot: id, epoch and masters (in snapshot order)."""
    by_name = {m.name: m for m in config.masters}
    masters = tuple(file_master(r, by_name.get(r.config.name)) for r in state.masters)
    return replace(config, myid=state.myid, current_epoch=state.current_epoch, masters=masters)
