"""Faults and seeded fault schedules, with swarm testing.

A run has a safety phase, ``[0, safety_ms)``, with faults at random times, then a
liveness phase that starts with everything healed: partitions removed, crashed nodes
restarted, the network calm. Swarm testing (``swarm_profile``) draws the fault rates
of each run from its seed, and switches whole fault kinds off at random, so that the
fixed seed list covers quiet runs, crash-only runs, partition-only runs and storms.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from labkit.sim.network import LinkConfig

__all__ = [
    "CALM_LINK",
    "CRASH_STORM",
    "STORMY_LINK",
    "Crash",
    "Cut",
    "Fault",
    "FaultProfile",
    "Heal",
    "Partition",
    "Restart",
    "RestartAll",
    "ScheduledFault",
    "SetNetwork",
    "plan_faults",
    "swarm_profile",
]

CALM_LINK = LinkConfig(delay_ms_min=1, delay_ms_max=10)
"""The network of the liveness phase: short delays, no loss, duplication or reordering."""

STORMY_LINK = LinkConfig(
    delay_ms_min=1,
    delay_ms_max=20,
    loss_probability=0.02,
    duplicate_probability=0.02,
    reorder_probability=0.05,
)
"""The default network of the safety phase: some loss, duplication and reordering."""


@dataclass(frozen=True, slots=True)
class Crash:
    """Crash ``node``. With ``mid_step`` it dies inside its next step, after a random
    prefix of that step's actions (a persist that was under way may be torn)."""

    node: str
    mid_step: bool = False


@dataclass(frozen=True, slots=True)
class Restart:
    """Restart ``node`` (a new core restored from its storage); no-op if it is up."""

    node: str


@dataclass(frozen=True, slots=True)
class RestartAll:
    """Restart every node that is down."""


@dataclass(frozen=True, slots=True)
class Partition:
    """Cut every link between members of different groups, both ways."""

    groups: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Cut:
    """Cut one way: no node in ``srcs`` can reach a node in ``dsts`` (replies still can)."""

    srcs: tuple[str, ...]
    dsts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Heal:
    """Restore every link."""


@dataclass(frozen=True, slots=True)
class SetNetwork:
    """Make ``link`` the configuration of every link without its own."""

    link: LinkConfig


Fault = Crash | Restart | RestartAll | Partition | Cut | Heal | SetNetwork


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    """``fault`` happens at virtual time ``at_ms``."""

    at_ms: int
    fault: Fault


@dataclass(frozen=True, slots=True)
class FaultProfile:
    """Fault rates for the safety phase of one run."""

    partition_per_s: float = 0.5
    """Mean partitions started per second."""
    one_way_share: float = 0.3
    """Share of partitions that cut one direction only."""
    partition_ms_max: int = 2000
    """Longest partition; each lasts a uniform time up to this."""
    crash_per_s: float = 0.3
    """Mean crashes per second."""
    mid_step_share: float = 0.5
    """Share of crashes that happen inside a step (between its actions)."""
    down_ms_max: int = 1500
    """Longest downtime after a crash; each is uniform up to this."""
    link: LinkConfig = field(default_factory=lambda: STORMY_LINK)
    """The network during the safety phase."""


CRASH_STORM = FaultProfile(
    partition_per_s=0.0,
    crash_per_s=15.0,
    mid_step_share=1.0,
    down_ms_max=20,
    link=LinkConfig(delay_ms_min=1, delay_ms_max=100),
)
"""Frequent short crashes, all inside steps: hunts persist-before-send mistakes."""


def swarm_profile(rng: random.Random) -> FaultProfile:
    """A random profile: each fault kind is on with probability 1/2, at a random rate."""

    def maybe(high: float) -> float:
        return rng.uniform(0.0, high) if rng.random() < 0.5 else 0.0

    delay_ms_max = rng.choice((5, 20, 50, 150))
    return FaultProfile(
        partition_per_s=maybe(1.5),
        one_way_share=rng.random(),
        partition_ms_max=rng.choice((200, 1000, 3000)),
        crash_per_s=maybe(1.0),
        mid_step_share=rng.random(),
        down_ms_max=rng.choice((100, 1000, 3000)),
        link=LinkConfig(
            delay_ms_min=1,
            delay_ms_max=delay_ms_max,
            loss_probability=maybe(0.2),
            duplicate_probability=maybe(0.1),
            reorder_probability=maybe(0.3),
            reorder_window_ms=rng.choice((10, 50, 200)),
        ),
    )


def plan_faults(
    rng: random.Random, nodes: Sequence[str], profile: FaultProfile, *, safety_ms: int
) -> list[ScheduledFault]:
    """The schedule of one run: faults in ``[0, safety_ms)``, then heal everything.

    ``nodes`` are the endpoints that may crash and be partitioned, in a fixed order.
    """
    names = list(nodes)
    plan: list[ScheduledFault] = [ScheduledFault(0, SetNetwork(profile.link))]
    down: dict[str, int] = {}  # node -> restart time planned
    rate = profile.partition_per_s + profile.crash_per_s
    t = 0.0
    while rate > 0 and names:
        t += rng.expovariate(rate / 1000.0)
        at = int(t)
        if at >= safety_ms:
            break
        for name in [n for n, back in down.items() if back <= at]:
            del down[name]
        if rng.random() < profile.crash_per_s / rate:
            up = [n for n in names if n not in down]
            if not up:
                continue
            node = rng.choice(up)
            plan.append(ScheduledFault(at, Crash(node, rng.random() < profile.mid_step_share)))
            back = at + rng.randint(1, max(1, profile.down_ms_max))
            down[node] = back
            if back < safety_ms:
                plan.append(ScheduledFault(back, Restart(node)))
        elif len(names) >= 2:
            shuffled = names[:]
            rng.shuffle(shuffled)
            split = rng.randint(1, len(shuffled) - 1)
            left, right = tuple(sorted(shuffled[:split])), tuple(sorted(shuffled[split:]))
            fault: Fault = (
                Cut(left, right)
                if rng.random() < profile.one_way_share
                else Partition((left, right))
            )
            plan.append(ScheduledFault(at, fault))
            heal_at = at + rng.randint(1, max(1, profile.partition_ms_max))
            if heal_at < safety_ms:
                plan.append(ScheduledFault(heal_at, Heal()))
    plan.append(ScheduledFault(safety_ms, Heal()))
    plan.append(ScheduledFault(safety_ms, RestartAll()))
    plan.append(ScheduledFault(safety_ms, SetNetwork(CALM_LINK)))
    plan.sort(key=lambda item: item.at_ms)  # stable: same-time faults keep plan order
    return plan
