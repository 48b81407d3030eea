"""The namespace backend's fault book: which faults are on, what they cut, which events to log.

Pure bookkeeping, no I/O. A fault is keyed (``("partition", "a", "b")``, ``("isolate",
"a")``, ...); adding a fault with a key already on replaces it. Partitions and isolations
become directed *cuts* ``(from, to)``; the driver turns the union of cuts into iptables
DROP rules. Every change yields the events to record, with the fault proxy's names
(``+partition``, ``+throttle``, ``-fault``) so that the timeline shades the windows. When
one of several faults on the same instance (``host a``) ends, ``-fault`` closes that
instance and the faults still on are opened again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CONTROL",
    "ActiveFault",
    "CutDirection",
    "FaultBook",
    "LimitDirection",
    "TbfLimit",
    "isolate_fault",
    "limit_fault",
    "link_fault",
    "partition_fault",
]

CONTROL = "control"  # the root namespace, where the test process runs
CutDirection = Literal["both", "a_to_b", "b_to_a"]
LimitDirection = Literal["both", "egress", "ingress"]
Cut = tuple[str, str]
EventSpec = tuple[str, str, str]  # (name, instance, details)


@dataclass(frozen=True, slots=True)
class TbfLimit:
    """A tbf rate limit: ``rate`` in tc syntax, on traffic leaving and/or reaching a host."""

    rate: str
    burst_bytes: int
    latency_ms: float
    direction: LimitDirection


@dataclass(frozen=True, slots=True)
class ActiveFault:
    """One fault that is on: what opened it, which hosts it touches, what it cuts."""

    key: tuple[str, ...]
    opener: str
    instance: str
    details: str
    hosts: frozenset[str]
    cuts: frozenset[Cut] = frozenset()
    limit: TbfLimit | None = None


def partition_fault(a: str, b: str, direction: CutDirection = "both") -> ActiveFault:
    """Cut ``a`` from ``b``: both ways, or only packets from a to b (``a_to_b``) or back."""
    if a == b:
        raise ValueError(f"cannot partition {a!r} from itself")
    if direction not in ("both", "a_to_b", "b_to_a"):
        raise ValueError(f"direction must be both, a_to_b or b_to_a, not {direction!r}")
    cuts = set()
    if direction in ("both", "a_to_b"):
        cuts.add((a, b))
    if direction in ("both", "b_to_a"):
        cuts.add((b, a))
    first, second = sorted((a, b))
    shown = "both" if direction == "both" else "{}->{}".format(*next(iter(cuts)))
    return ActiveFault(
        key=("partition", first, second),
        opener="+partition",
        instance=f"link {first}-{second}",
        details=f"direction={shown} backend=netns",
        hosts=frozenset((a, b)),
        cuts=frozenset(cuts),
    )


def isolate_fault(a: str, others: Iterable[str]) -> ActiveFault:
    """Cut ``a`` from every one of ``others`` (hosts, and ``control`` if listed), both ways."""
    peers = sorted(set(others) - {a})
    cuts = {(a, peer) for peer in peers} | {(peer, a) for peer in peers}
    return ActiveFault(
        key=("isolate", a),
        opener="+partition",
        instance=f"host {a}",
        details=f"kind=isolate peers={','.join(peers) or '-'} backend=netns",
        hosts=frozenset((a,)),
        cuts=frozenset(cuts),
    )


def link_fault(a: str) -> ActiveFault:
    """``a``'s veth is down: no cut rules, the link itself carries nothing."""
    return ActiveFault(
        key=("link", a),
        opener="+partition",
        instance=f"host {a}",
        details="kind=link-down backend=netns",
        hosts=frozenset((a,)),
    )


def limit_fault(a: str, limit: TbfLimit) -> ActiveFault:
    """A tbf rate limit on ``a``'s traffic (``egress``: leaving a; ``ingress``: reaching a)."""
    if limit.direction not in ("both", "egress", "ingress"):
        raise ValueError(f"direction must be both, egress or ingress, not {limit.direction!r}")
    return ActiveFault(
        key=("limit", a),
        opener="+throttle",
        instance=f"host {a}",
        details=(
            f"rate={limit.rate} direction={limit.direction} burst={limit.burst_bytes}B "
            f"latency={limit.latency_ms:g}ms backend=netns"
        ),
        hosts=frozenset((a,)),
        limit=limit,
    )


@dataclass(slots=True)
class FaultBook:
    """The faults that are on, keyed; every change returns the events to record."""

    active: dict[tuple[str, ...], ActiveFault] = field(default_factory=dict)

    def add(self, fault: ActiveFault) -> list[EventSpec]:
        """Turn ``fault`` on (replacing one with the same key)."""
        events = self.remove([fault.key]) if fault.key in self.active else []
        self.active[fault.key] = fault
        events.append((fault.opener, fault.instance, fault.details))
        return events

    def remove(self, keys: Iterable[tuple[str, ...]]) -> list[EventSpec]:
        """Turn faults off; ``-fault`` per instance, then reopen faults still on there."""
        removed = [self.active.pop(key) for key in list(keys) if key in self.active]
        events: list[EventSpec] = []
        for instance in dict.fromkeys(fault.instance for fault in removed):
            events.append(("-fault", instance, "backend=netns"))
            events += [
                (other.opener, other.instance, other.details)
                for other in self.active.values()
                if other.instance == instance
            ]
        return events

    def keys(self, predicate: Callable[[ActiveFault], bool]) -> list[tuple[str, ...]]:
        return [key for key, fault in self.active.items() if predicate(fault)]

    def keys_for(self, a: str | None = None, b: str | None = None) -> list[tuple[str, ...]]:
        """Faults that ``heal(a, b)`` ends: all; those touching ``a``; those between a and b."""
        if a is None:
            return list(self.active)
        if b is None:
            return self.keys(lambda fault: a in fault.hosts)
        return self.keys(lambda fault: fault.hosts == {a, b})

    def cuts(self) -> set[Cut]:
        """The union of every fault's directed cuts."""
        return {cut for fault in self.active.values() for cut in fault.cuts}

    def down_links(self) -> set[str]:
        """Hosts whose veth is down."""
        return {key[1] for key in self.active if key[0] == "link"}

    def limits(self) -> dict[str, TbfLimit]:
        """Host -> its rate limit."""
        return {
            key[1]: fault.limit
            for key, fault in self.active.items()
            if key[0] == "limit" and fault.limit is not None
        }
