"""What the simulator hosts and records: nodes, client replies, emitted events, steps."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from labkit.actions import Action
from labkit.core import Core, Input
from labkit.events import Event
from labkit.sim.storage import Storage

__all__ = ["ClientReply", "ConnectionRefused", "CoreFactory", "EmitRecord", "Node", "StepRecord"]

CoreFactory = Callable[[random.Random], Core]
"""Builds a fresh core for a node from the incarnation's seeded RNG."""


@dataclass(frozen=True, slots=True)
class ConnectionRefused:
    """The value a client gets when its request reaches a node that is down."""

    node: str


@dataclass(frozen=True, slots=True)
class ClientReply:
    """A ``Reply`` (or a refusal) that reached the test's client."""

    time_ms: int
    node: str
    client: str
    value: object


@dataclass(frozen=True, slots=True)
class EmitRecord:
    """An event a node emitted at virtual ``time_ms`` (as the core built it)."""

    time_ms: int
    node: str
    event: Event


@dataclass(frozen=True, slots=True)
class StepRecord:
    """The step invariants are checked after; ``input`` is ``None`` for a tick.

    ``actions`` are those carried out: all the core returned, or, when a crash cut the
    step short, the prefix before it (``crashed`` is then True). ``Simulator.last_step``
    is ``None`` when the check follows a fault or a callback.
    """

    time_ms: int
    node: str
    input: Input | None
    actions: tuple[Action, ...]
    crashed: bool = False


@dataclass(slots=True)
class Node:
    """A host for one core: its storage outlives crashes, its core does not."""

    id: str
    factory: CoreFactory
    storage: Storage
    core: Core | None = None
    incarnation: int = 0
    crash_in_step: bool = False
    crash_by_ms: int = 0
    log_base: int = 0
    applied: list[object] = field(default_factory=list)

    @property
    def up(self) -> bool:
        """Whether the node is running."""
        return self.core is not None
