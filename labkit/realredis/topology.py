"""What the process and container backends share: waiting, Sentinel config, sync checks."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import redis

from labkit.realredis.errors import RealRedisError, TopologyError
from labkit.realredis.process import ConfigValue

__all__ = [
    "HasClient",
    "HasInfo",
    "Waiter",
    "await_sentinel_discovery",
    "replicas_synced",
    "sentinel_directives",
    "sentinel_discovered",
    "start_replication_group",
    "wait_until",
]


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.05,
    ignore: tuple[type[BaseException], ...] = (),
    error: type[RealRedisError] = TopologyError,
) -> None:
    """Poll ``condition`` until it holds, or raise ``error`` naming ``what``.

    Redis and socket errors inside ``condition`` (and those in ``ignore``) count as "not yet".
    """
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(redis.exceptions.RedisError, OSError, *ignore):
            if condition():
                return
        if time.monotonic() >= deadline:
            raise error(f"timed out after {timeout_s:.1f}s waiting for {what}")
        time.sleep(interval_s)


def sentinel_directives(
    master_name: str,
    host: str,
    port: int,
    *,
    quorum: int,
    down_after_ms: int,
    failover_timeout_ms: int,
    parallel_syncs: int,
    auth_pass: str | None,
) -> list[tuple[str, ConfigValue]]:
    """The ``sentinel ...`` lines that make a real Sentinel monitor ``host:port``."""
    directives: list[tuple[str, ConfigValue]] = [
        ("sentinel monitor", [master_name, host, str(port), str(quorum)]),
        ("sentinel down-after-milliseconds", [master_name, str(down_after_ms)]),
        ("sentinel failover-timeout", [master_name, str(failover_timeout_ms)]),
        ("sentinel parallel-syncs", [master_name, str(parallel_syncs)]),
    ]
    if auth_pass is not None:
        directives.append(("sentinel auth-pass", [master_name, auth_pass]))
    return directives


class HasInfo(Protocol):
    def info(self, section: str | None = None) -> Mapping[str, Any]: ...


def replicas_synced(master: HasInfo, replicas: Sequence[HasInfo]) -> bool:
    """Whether ``master`` counts every replica and each one reports its link up."""
    if int(master.info("replication").get("connected_slaves", 0)) < len(replicas):
        return False
    return all(r.info("replication").get("master_link_status") == "up" for r in replicas)


class HasClient(Protocol):
    def client(self, **kwargs: Any) -> redis.Redis: ...


def sentinel_discovered(sentinel: HasClient, master_name: str, replicas: int, peers: int) -> bool:
    """Whether ``sentinel`` knows at least ``replicas`` replicas of ``master_name`` and
    ``peers`` other sentinels (``SENTINEL MASTER``, in RESP2 or RESP3 form)."""
    with sentinel.client() as conn:
        reply = conn.execute_command("SENTINEL", "MASTER", master_name)
    fields = dict(zip(reply[::2], reply[1::2], strict=False)) if isinstance(reply, list) else reply
    return int(fields["num-slaves"]) >= replicas and int(fields["num-other-sentinels"]) >= peers


class Waiter(Protocol):
    """:func:`wait_until`, or a backend's own flavour of it (the containers' ``wait_for``)."""

    def __call__(self, condition: Callable[[], bool], *, timeout_s: float, what: str) -> None: ...


_Node = TypeVar("_Node", bound=HasInfo)


def start_replication_group(
    make: Callable[[str, _Node | None], _Node],
    replicas: int,
    *,
    timeout_s: float,
    wait: Waiter = wait_until,
) -> tuple[_Node, list[_Node]]:
    """A master and ``replicas`` replicas made by ``make(name, replica_of)``, waited on
    until every replica's link is up. Shared by the process, container and netns labs."""
    master = make("master", None)
    nodes = [make(f"replica-{i + 1}", master) for i in range(replicas)]
    wait(
        lambda: replicas_synced(master, nodes),
        timeout_s=timeout_s,
        what=f"{replicas} replicas of the master to sync",
    )
    return master, nodes


def await_sentinel_discovery(
    sentinels: Sequence[HasClient],
    master_name: str,
    replicas: int,
    *,
    timeout_s: float,
    wait: Waiter = wait_until,
) -> None:
    """Wait until every sentinel knows ``replicas`` replicas and every other sentinel."""
    peers = len(sentinels) - 1
    wait(
        lambda: all(sentinel_discovered(s, master_name, replicas, peers) for s in sentinels),
        timeout_s=timeout_s,
        what=f"{len(sentinels)} sentinels to discover each other",
    )
