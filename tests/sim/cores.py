"""Small cores for simulator tests."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from labkit.actions import Action, Apply, Emit, Persist, RedisCommand, Reply, Send
from labkit.core import ClientRequest, Input, Received, RedisPush, RedisReply
from labkit.events import Event


@dataclass(frozen=True, slots=True)
class Put:
    """Persist ``value`` (fsynced or not), then reply ``"stored"``."""

    value: str
    sync: bool = True


@dataclass(frozen=True, slots=True)
class Tell:
    """Send ``message`` to ``to``."""

    to: str
    message: str


@dataclass(frozen=True, slots=True)
class Ask:
    """Run ``args`` on the Redis server ``target``."""

    target: str
    args: tuple[str, ...]


class Recorder:
    """Does what clients ask and remembers what it received (volatile)."""

    def __init__(self, node_id: str, rng: random.Random) -> None:
        self.id = node_id
        self.rng = rng
        self.records: list[object] = []
        self.restored: tuple[object, ...] = ()
        self.received: list[tuple[str, object]] = []
        self.redis_inputs: list[RedisReply | RedisPush] = []
        self.ticks = 0

    def durable_state(self) -> tuple[object, ...]:
        return tuple(self.records)

    def restore(self, durable_state: Sequence[object]) -> None:
        self.restored = tuple(durable_state)
        self.records = list(durable_state)

    def tick(self, now_ms: int) -> list[Action]:
        self.ticks += 1
        return []

    def step(self, event: Input, now_ms: int) -> list[Action]:
        if isinstance(event, Received):
            self.received.append((event.sender, event.message))
            return [
                Emit(
                    Event(
                        source=self.id,
                        name="+got",
                        wall_ns=0,
                        details=f"{event.message} from {event.sender}",
                    )
                )
            ]
        if isinstance(event, ClientRequest):
            request = event.request
            if isinstance(request, Put):
                self.records.append(request.value)
                return [
                    Persist(request.value, sync=request.sync),
                    Apply(request.value),
                    Reply(event.client, "stored"),
                ]
            if isinstance(request, Tell):
                return [Send(request.to, request.message), Reply(event.client, "sent")]
            if isinstance(request, Ask):
                return [RedisCommand(request.target, request.args)]
            return [Reply(event.client, ("records", tuple(self.records)))]
        self.redis_inputs.append(event)
        return []
