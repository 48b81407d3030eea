"""Real Redis, started and broken on demand: servers, replicas, Sentinels and clusters."""

from labkit.realredis.binaries import RedisBinaries, find_binaries
from labkit.realredis.errors import (
    RealRedisError,
    RedisNotInstalledError,
    RedisStartError,
    TopologyError,
)
from labkit.realredis.lab import Cluster, Lab, ReplicationGroup, SentinelGroup
from labkit.realredis.process import Kind, RedisProcess
from labkit.realredis.topology import wait_until

__all__ = [
    "Cluster",
    "Kind",
    "Lab",
    "RealRedisError",
    "RedisBinaries",
    "RedisNotInstalledError",
    "RedisProcess",
    "RedisStartError",
    "ReplicationGroup",
    "SentinelGroup",
    "TopologyError",
    "find_binaries",
    "wait_until",
]
