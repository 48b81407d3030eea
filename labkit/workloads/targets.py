"""Where a workload sends its operations: a plain server, or whatever Sentinel names master.

A target hands out a fresh redis-py client per client process, with short timeouts and
no retries inside redis-py, so that every error reaches the history as it happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

__all__ = ["DirectTarget", "SentinelTarget", "Target"]


def _client_options(timeout_s: float, password: str | None) -> dict[str, Any]:
    return {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "retry": Retry(NoBackoff(), 0),
        "password": password,
        "decode_responses": True,
    }


class Target(Protocol):
    """Something a workload can connect to."""

    @property
    def name(self) -> str: ...

    def connect(self) -> redis.Redis:
        """A new client, for one client process."""
        ...


@dataclass(frozen=True, slots=True)
class DirectTarget:
    """One server at ``host:port`` (a plain Redis, a proxy in front of one, a Raft node)."""

    host: str
    port: int
    password: str | None = None
    timeout_s: float = 0.5

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"

    def connect(self) -> redis.Redis:
        return redis.Redis(
            host=self.host, port=self.port, **_client_options(self.timeout_s, self.password)
        )


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """The master that the Sentinels name for ``master_name``, found anew on each connection.

    This is what an application does with redis-py's ``Sentinel(...).master_for(...)``.
    """

    sentinels: Sequence[tuple[str, int]]
    master_name: str = "mymaster"
    password: str | None = None
    timeout_s: float = 0.5

    @property
    def name(self) -> str:
        return f"sentinel:{self.master_name}"

    def connect(self) -> redis.Redis:
        options = _client_options(self.timeout_s, None)
        options.pop("decode_responses")
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(self.sentinels),
            sentinel_kwargs=options,
            **_client_options(self.timeout_s, self.password),
        )
        client: redis.Redis = sentinel.master_for(self.master_name)  # type: ignore[no-untyped-call]
        return client
