"""A seeded message network: per-link delay, loss, duplication, reordering, partitions.

Links are directed (``src -> dst``). By default each link is FIFO, like a TCP stream:
a message never overtakes an earlier one on the same link. A message picked for
reordering is held back by up to ``reorder_window_ms`` outside that FIFO order, so
later messages may overtake it. A message gets through only if its link is up both
when it is sent and when it arrives (the simulator checks the second).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from labkit.sim.errors import SimError

__all__ = ["LinkConfig", "Network", "NetworkStats"]


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """How one directed link behaves. Delays are uniform in ``[delay_ms_min, delay_ms_max]``."""

    delay_ms_min: int = 1
    delay_ms_max: int = 10
    loss_probability: float = 0.0
    duplicate_probability: float = 0.0
    reorder_probability: float = 0.0
    reorder_window_ms: int = 50

    def __post_init__(self) -> None:
        if not 0 <= self.delay_ms_min <= self.delay_ms_max:
            raise SimError(f"bad delay range {self.delay_ms_min}..{self.delay_ms_max} ms")
        for name in ("loss_probability", "duplicate_probability", "reorder_probability"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SimError(f"{name} must be in [0, 1], got {value}")
        if self.reorder_window_ms < 0:
            raise SimError(f"reorder_window_ms must be >= 0, got {self.reorder_window_ms}")


@dataclass(slots=True)
class NetworkStats:
    """Counts of what the network did to messages (copies, not sends, for drops)."""

    sent: int = 0
    lost: int = 0
    blocked: int = 0
    duplicated: int = 0
    reordered: int = 0
    delivered: int = 0
    blocked_in_flight: int = 0
    per_link_sent: dict[tuple[str, str], int] = field(default_factory=dict)


class Network:
    """Routes messages between named endpoints with seeded faults."""

    def __init__(self, rng: random.Random, default: LinkConfig | None = None) -> None:
        self._rng = rng
        self._default = default if default is not None else LinkConfig()
        self._links: dict[tuple[str, str], LinkConfig] = {}
        self._blocked: set[tuple[str, str]] = set()
        self._fifo_until: dict[tuple[str, str], int] = {}
        self.stats = NetworkStats()

    # -- configuration -----------------------------------------------------------
    @property
    def default(self) -> LinkConfig:
        """The configuration of every link without its own."""
        return self._default

    def set_default(self, config: LinkConfig) -> None:
        """Change the configuration of every link without its own."""
        self._default = config

    def set_link(self, src: str, dst: str, config: LinkConfig | None) -> None:
        """Give ``src -> dst`` its own configuration (``None`` returns it to the default)."""
        if config is None:
            self._links.pop((src, dst), None)
        else:
            self._links[(src, dst)] = config

    def link(self, src: str, dst: str) -> LinkConfig:
        """The configuration of ``src -> dst``."""
        return self._links.get((src, dst), self._default)

    # -- partitions --------------------------------------------------------------
    def blocked(self, src: str, dst: str) -> bool:
        """Whether ``src -> dst`` is cut."""
        return (src, dst) in self._blocked

    def cut(self, src: str, dst: str) -> None:
        """Cut one direction: ``src`` can no longer reach ``dst``."""
        if src != dst:
            self._blocked.add((src, dst))

    def cut_both(self, a: str, b: str) -> None:
        """Cut both directions between ``a`` and ``b``."""
        self.cut(a, b)
        self.cut(b, a)

    def partition(self, groups: Sequence[Iterable[str]]) -> None:
        """Cut every link between members of different groups (both ways)."""
        members = [sorted(group) for group in groups]
        for i, left in enumerate(members):
            for right in members[i + 1 :]:
                for a in left:
                    for b in right:
                        self.cut_both(a, b)

    def heal_link(self, src: str, dst: str) -> None:
        """Restore one direction."""
        self._blocked.discard((src, dst))

    def heal(self) -> None:
        """Restore every link."""
        self._blocked.clear()

    def cut_links(self) -> list[tuple[str, str]]:
        """The cut directed links, sorted."""
        return sorted(self._blocked)

    # -- routing -----------------------------------------------------------------
    def delay_ms(self, src: str, dst: str) -> int:
        """One delay sample for ``src -> dst`` (no loss, no FIFO bookkeeping)."""
        config = self.link(src, dst)
        return self._rng.randint(config.delay_ms_min, config.delay_ms_max)

    def route(self, src: str, dst: str, now_ms: int) -> list[int]:
        """Arrival times of the copies of one message sent now: none, one or two."""
        self.stats.sent += 1
        key = (src, dst)
        self.stats.per_link_sent[key] = self.stats.per_link_sent.get(key, 0) + 1
        if key in self._blocked:
            self.stats.blocked += 1
            return []
        config = self.link(src, dst)
        rng = self._rng
        if config.loss_probability and rng.random() < config.loss_probability:
            self.stats.lost += 1
            return []
        copies = 1
        if config.duplicate_probability and rng.random() < config.duplicate_probability:
            self.stats.duplicated += 1
            copies = 2
        times: list[int] = []
        for _ in range(copies):
            at = now_ms + rng.randint(config.delay_ms_min, config.delay_ms_max)
            if config.reorder_probability and rng.random() < config.reorder_probability:
                self.stats.reordered += 1
                at += rng.randint(0, config.reorder_window_ms)
            else:
                at = max(at, self._fifo_until.get(key, 0))
                self._fifo_until[key] = at
            times.append(at)
        return times
