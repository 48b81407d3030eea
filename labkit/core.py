"""The interface every sans-I/O protocol core implements, and the inputs it is stepped with.

A core is a plain object. Drivers call ``step(event, now_ms)`` for each input and
``tick(now_ms)`` at a fixed interval; both return a list of :mod:`labkit.actions`.
``now_ms`` is the only clock a core sees (virtual in the simulator, monotonic in the
asyncio driver), and randomness comes from a ``random.Random`` passed at construction.

Durability: every ``Persist(record)`` a core returns is appended to its storage. After
a crash, a new core is built and ``restore(records)`` is called with the records that
survived, in write order. ``durable_state()`` returns records that, passed to
``restore`` on a fresh core, rebuild the durable part of this one; a driver may use it
to compact the log (replace all records by it once they are synced).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from labkit.actions import Action, RedisArg

__all__ = [
    "ClientRequest",
    "Core",
    "Input",
    "Received",
    "RedisPush",
    "RedisReply",
    "TornRecord",
]


@dataclass(frozen=True, slots=True)
class Received:
    """A ``message`` from the peer ``sender`` arrived."""

    sender: str
    message: object


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """The client named ``client`` asks ``request``; answer with ``Reply(client, ...)``."""

    client: str
    request: object


@dataclass(frozen=True, slots=True)
class RedisReply:
    """The Redis server ``target`` answered ``value`` to the command ``args``."""

    target: str
    args: tuple[RedisArg, ...]
    value: object


@dataclass(frozen=True, slots=True)
class RedisPush:
    """A pub/sub ``message`` on ``channel`` arrived from the Redis server ``target``."""

    target: str
    channel: bytes
    message: bytes


@dataclass(frozen=True, slots=True)
class TornRecord:
    """The tail of a log whose last write was cut short by a crash.

    Only cores that frame their own records see this (the simulator's
    ``pass_torn_records``); otherwise storage truncates it, as a checksummed WAL would.
    """

    record: object


Input = Received | ClientRequest | RedisReply | RedisPush
"""Anything a driver passes to ``Core.step``."""


@runtime_checkable
class Core(Protocol):
    """A sans-I/O protocol core: inputs and time in, actions out."""

    def step(self, event: Input, now_ms: int) -> list[Action]:
        """Handle one input at time ``now_ms``."""
        ...

    def tick(self, now_ms: int) -> list[Action]:
        """Let time pass: timeouts, heartbeats, retries."""
        ...

    def durable_state(self) -> Sequence[object]:
        """Records that rebuild this core's durable part through ``restore``."""
        ...

    def restore(self, durable_state: Sequence[object]) -> None:
        """Rebuild the durable part from records that survived a crash (a fresh core)."""
        ...
