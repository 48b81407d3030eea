"""The trace of one simulation run: what was delivered, done and emitted, and when.

Every entry feeds a running BLAKE2b hash over ``time|kind|node|repr(payload)``, so
two runs of one seed give byte-identical hashes. Payload reprs must be deterministic
(frozen dataclasses, tuples, dicts built in a fixed order; no sets).
``to_events`` turns the trace into :class:`labkit.events.Event` records on a virtual
wall clock, for the timeline tools.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from labkit.actions import Emit
from labkit.events import Event

__all__ = ["DEFAULT_ANCHOR_WALL_NS", "FAULT_KINDS", "Trace", "TraceEntry"]

DEFAULT_ANCHOR_WALL_NS = 1_704_067_200 * 1_000_000_000
"""Virtual time 0 on the wall clock: 2024-01-01T00:00:00Z (fixed, so replays match)."""

FAULT_KINDS = frozenset({"crash", "restart", "partition", "cut", "heal", "heal-link", "network"})
"""Trace kinds that record faults; they become ``sim`` events in ``to_events``."""

_NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One thing that happened at virtual ``time_ms`` on ``node`` (``""`` for the world)."""

    time_ms: int
    kind: str
    node: str
    payload: object

    def line(self) -> str:
        """The entry as hashed: ``time|kind|node|repr(payload)``."""
        return f"{self.time_ms}|{self.kind}|{self.node}|{self.payload!r}"


class Trace:
    """An append-only trace with a running hash; entries are kept only if asked."""

    def __init__(self, *, keep: bool = True) -> None:
        self._hash = hashlib.blake2b(digest_size=16)
        self._entries: list[TraceEntry] = []
        self._keep = keep
        self.count = 0

    def record(self, time_ms: int, kind: str, node: str, payload: object) -> None:
        """Add one entry."""
        entry = TraceEntry(time_ms, kind, node, payload)
        self._hash.update(entry.line().encode())
        self._hash.update(b"\n")
        self.count += 1
        if self._keep:
            self._entries.append(entry)

    @property
    def entries(self) -> list[TraceEntry]:
        """The kept entries (empty when the trace was built with ``keep=False``)."""
        return self._entries

    def __iter__(self) -> Iterator[TraceEntry]:
        return iter(self._entries)

    def hexdigest(self) -> str:
        """The hash of every entry so far."""
        return self._hash.hexdigest()

    def of_kind(self, kind: str) -> list[TraceEntry]:
        """Kept entries of one kind."""
        return [entry for entry in self._entries if entry.kind == kind]

    def to_events(
        self, *, anchor_wall_ns: int = DEFAULT_ANCHOR_WALL_NS, include_messages: bool = False
    ) -> list[Event]:
        """Emitted events and faults as timeline records, stamped with virtual time.

        ``wall_ns`` is ``anchor_wall_ns`` plus virtual time; ``mono_ns`` is virtual time.
        An emitted event keeps its fields except the timestamps, and gets the node as
        ``source`` if it had none. Faults come from ``source="sim"`` as ``+crash``,
        ``+partition``, ... With ``include_messages`` each delivery is an event too.
        """
        events: list[Event] = []
        for entry in self._entries:
            mono_ns = entry.time_ms * _NS_PER_MS
            wall_ns = anchor_wall_ns + mono_ns
            payload = entry.payload
            if isinstance(payload, Emit):
                payload = payload.event
            if entry.kind == "emit" and isinstance(payload, Event):
                event = payload
                events.append(
                    dataclasses.replace(
                        event,
                        wall_ns=wall_ns,
                        mono_ns=mono_ns,
                        source=event.source or entry.node,
                    )
                )
            elif entry.kind in FAULT_KINDS:
                events.append(
                    Event(
                        source="sim",
                        name=f"+{entry.kind}",
                        wall_ns=wall_ns,
                        mono_ns=mono_ns,
                        instance=entry.node,
                        details=_describe(entry.payload),
                    )
                )
            elif include_messages and entry.kind == "deliver":
                events.append(
                    Event(
                        source=entry.node,
                        name="deliver",
                        wall_ns=wall_ns,
                        mono_ns=mono_ns,
                        details=_describe(entry.payload),
                        level="-",
                    )
                )
        return events


def _describe(payload: object) -> str:
    if payload is None:
        return ""
    return payload if isinstance(payload, str) else repr(payload)
