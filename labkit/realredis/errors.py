"""Errors raised while starting or driving real Redis processes."""

from __future__ import annotations

from labkit.errors import LabError


class RealRedisError(LabError):
    """Root of every error that ``labkit.realredis`` raises."""


class RedisNotInstalledError(RealRedisError):
    """The Redis binaries were not found; the message says what to install."""


class RedisStartError(RealRedisError):
    """A process exited or did not answer in time; the message carries its log tail."""


class TopologyError(RealRedisError):
    """A topology (replication group, sentinels, cluster) did not converge in time."""
