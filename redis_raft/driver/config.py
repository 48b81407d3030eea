"""``CONFIG GET``/``CONFIG SET`` of a node: the write guard and the ``raft.*`` settings.

Settable: ``min-replicas-to-write``, ``min-replicas-max-lag`` (Redis's names, local to
the node as in Redis), ``raft.election-timeout``, ``raft.heartbeat``,
``raft.request-timeout``, ``raft.snapshot-every``, ``raft.follower-mode`` and
``raft.fsync``. Read-only: ``raft.id``, ``raft.cluster-id``, ``raft.peers``,
``raft.dir``, ``raft.data-server``. Every other parameter is refused with an error that
says so; nothing is passed to the backing server.
"""

from __future__ import annotations

import dataclasses
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from redis_raft.driver.options import FOLLOWER_MODES
from redis_raft.errors import RaftConfigError, RaftError
from redis_raft.storage import FSYNC_POLICIES

if TYPE_CHECKING:
    from redis_raft.driver.node import RaftNode

__all__ = ["ConfigError", "RaftSettings"]

_WRITABLE = (
    "min-replicas-to-write",
    "min-replicas-max-lag",
    "raft.election-timeout",
    "raft.heartbeat",
    "raft.request-timeout",
    "raft.snapshot-every",
    "raft.follower-mode",
    "raft.fsync",
)
_READ_ONLY = ("raft.id", "raft.cluster-id", "raft.peers", "raft.dir", "raft.data-server")
_HINT = "only min-replicas-to-write, min-replicas-max-lag and raft.* are handled"


class ConfigError(RaftError):
    """A refused CONFIG GET/SET; the text is the error reply."""


class RaftSettings:
    """The settings of one node, read and changed at run time."""

    def __init__(self, node: RaftNode) -> None:
        self.node = node
        self.follower_mode = node.options.follower_mode

    def _value(self, name: str) -> str:
        node = self.node
        core = node.core
        options = node.options
        values = {
            "min-replicas-to-write": core.min_replicas_to_write,
            "min-replicas-max-lag": core.min_replicas_max_lag_s,
            "raft.election-timeout": core.settings.election_timeout_ms,
            "raft.heartbeat": core.settings.heartbeat_ms,
            "raft.request-timeout": node.request_timeout_ms,
            "raft.snapshot-every": node.snapshot_every,
            "raft.follower-mode": self.follower_mode,
            "raft.fsync": node.wal.fsync_policy,
            "raft.id": options.node_id,
            "raft.cluster-id": options.cluster_id,
            "raft.peers": ",".join(f"{n}={options.address_of(n)}" for n in sorted(options.peers)),
            "raft.dir": str(options.dir),
            "raft.data-server": options.data_server,
        }
        return str(values[name])

    def get(self, patterns: list[str]) -> list[tuple[str, str]]:
        """``(name, value)`` for every parameter matching one of ``patterns``."""
        found: dict[str, str] = {}
        for pattern in patterns:
            lowered = pattern.lower()
            names = [n for n in (*_WRITABLE, *_READ_ONLY) if fnmatchcase(n, lowered)]
            if not names and not any(ch in pattern for ch in "*?["):
                raise ConfigError(f"ERR CONFIG GET '{pattern}' is not supported ({_HINT})")
            for name in names:
                found[name] = self._value(name)
        return list(found.items())

    def set(self, pairs: list[tuple[str, str]]) -> None:
        """Check every pair first, then apply them all (as Redis 7 does)."""
        changes: list[tuple[str, str | int]] = []
        for raw_name, value in pairs:
            name = raw_name.lower()
            if name in _READ_ONLY:
                raise ConfigError(f"ERR CONFIG SET '{raw_name}' is read-only on a running node")
            if name not in _WRITABLE:
                raise ConfigError(f"ERR CONFIG SET '{raw_name}' is not supported ({_HINT})")
            changes.append((name, self._check(name, value)))
        for name, checked in changes:
            try:
                self._apply(name, checked)
            except RaftConfigError as exc:
                raise ConfigError(f"ERR CONFIG SET '{name}': {exc}") from None

    def _check(self, name: str, value: str) -> str | int:
        if name == "raft.follower-mode":
            if value not in FOLLOWER_MODES:
                raise ConfigError(f"ERR raft.follower-mode must be proxy or moved, not '{value}'")
            return value
        if name == "raft.fsync":
            if value not in FSYNC_POLICIES:
                raise ConfigError(f"ERR raft.fsync must be one of {', '.join(FSYNC_POLICIES)}")
            return value
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"ERR CONFIG SET '{name}': '{value}' is not an integer") from None
        if number < 0:
            raise ConfigError(f"ERR CONFIG SET '{name}': {number} must be >= 0")
        core = self.node.core
        try:
            if name == "raft.election-timeout":
                dataclasses.replace(core.settings, election_timeout_ms=number)
            elif name == "raft.heartbeat":
                dataclasses.replace(core.settings, heartbeat_ms=number)
        except RaftConfigError as exc:
            raise ConfigError(f"ERR CONFIG SET '{name}': {exc}") from None
        if name == "raft.request-timeout" and number < 1:
            raise ConfigError("ERR raft.request-timeout must be >= 1 ms")
        return number

    def _apply(self, name: str, value: str | int) -> None:
        node = self.node
        core = node.core
        if name == "raft.follower-mode":
            self.follower_mode = str(value)
        elif name == "raft.fsync":
            node.wal.fsync_policy = str(value)
        elif name == "min-replicas-to-write":
            core.set_write_guard(int(value), core.min_replicas_max_lag_s)
        elif name == "min-replicas-max-lag":
            core.set_write_guard(core.min_replicas_to_write, int(value))
        elif name == "raft.election-timeout":
            core.settings = dataclasses.replace(core.settings, election_timeout_ms=int(value))
        elif name == "raft.heartbeat":
            core.settings = dataclasses.replace(core.settings, heartbeat_ms=int(value))
        elif name == "raft.request-timeout":
            node.request_timeout_ms = int(value)
        elif name == "raft.snapshot-every":
            node.snapshot_every = int(value)
