"""What a sans-I/O core asks its driver to do.

A core's ``step`` and ``tick`` return a list of these. The driver (asyncio or the
simulator) carries them out in list order, so an action that depends on a
``Persist`` comes after it: persist, then send. Payloads are ``object`` because each
protocol has its own message and record types; every payload should be an immutable
value with a deterministic ``repr`` (no sets), so that simulator traces are stable.
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit.events import Event

__all__ = [
    "Action",
    "Apply",
    "Emit",
    "Persist",
    "RedisArg",
    "RedisCommand",
    "Reply",
    "Send",
]

RedisArg = str | bytes | int | float
"""One argument of a Redis command; drivers encode it as a RESP bulk string."""


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``message`` to the peer named ``to`` (a node id)."""

    to: str
    message: object


@dataclass(frozen=True, slots=True)
class Persist:
    """Append ``record`` to durable storage; with ``sync`` the driver fsyncs before going on.

    An fsync makes every earlier record durable too. Records written with
    ``sync=False`` are lost if the node crashes before a later synced write.
    """

    record: object
    sync: bool = True


@dataclass(frozen=True, slots=True)
class Apply:
    """Apply a committed ``command`` to the node's state machine."""

    command: object


@dataclass(frozen=True, slots=True)
class RedisCommand:
    """Run ``args`` on the Redis server named ``target``; the reply comes back as an input."""

    target: str
    args: tuple[RedisArg, ...]


@dataclass(frozen=True, slots=True)
class Emit:
    """Report ``event`` to the event stream (log line, JSON lines, timeline)."""

    event: Event


@dataclass(frozen=True, slots=True)
class Reply:
    """Answer the client named ``client`` with ``value``."""

    client: str
    value: object


Action = Send | Persist | Apply | RedisCommand | Emit | Reply
"""Any action a core can return."""
