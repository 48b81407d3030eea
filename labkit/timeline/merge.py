"""Several event sources on one relative time axis.

A :class:`Timeline` is the merge of event lists around a zero point, an :class:`Anchor`
(for example the moment a master was SIGKILLed). Times are kept in integer ns relative to
the zero, so nothing is lost to float rounding; ``rel_ms`` is for display.

Which clock: ``wall`` works for every source (parsed Redis logs carry only wall time,
at ms precision). ``mono`` is exact and immune to clock steps, but needs ``mono_ns`` on the
anchor and on every event; that holds for our own processes on one host, where
CLOCK_MONOTONIC is shared. ``auto`` takes ``mono`` when it can and ``wall`` otherwise.

Equal times keep a stable order: the position of the source list, then the position of
the event inside its list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from labkit.events import Event
from labkit.timeline.errors import MergeError

__all__ = [
    "Anchor",
    "Clock",
    "KilledRun",
    "TimedEvent",
    "Timeline",
    "first_occurrence",
    "first_occurrences",
    "merge",
    "side_by_side",
]

Clock = Literal["wall", "mono"]


@dataclass(frozen=True, slots=True)
class Anchor:
    """One instant read on the wall clock (UTC ns) and, where available, the monotonic one."""

    wall_ns: int
    mono_ns: int | None = None


@dataclass(frozen=True, slots=True)
class TimedEvent:
    """An Event placed on a timeline: ``rel_ns`` after the zero (negative before it)."""

    rel_ns: int
    event: Event
    source_index: int
    """Position of the event's list in the ``merge`` call."""
    index: int
    """Position of the event inside its list."""

    @property
    def rel_ms(self) -> float:
        """``rel_ns`` in milliseconds."""
        return self.rel_ns / 1_000_000

    @property
    def source(self) -> str:
        """The event's source name."""
        return self.event.source


@dataclass(frozen=True, slots=True)
class Timeline:
    """Merged, sorted events with the zero and clock they were placed by."""

    entries: tuple[TimedEvent, ...]
    sources: tuple[str, ...]
    """Every source name, in the order the sources were given (first appearance)."""
    zero: Anchor
    clock: Clock

    def __iter__(self) -> Iterator[TimedEvent]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def select(self, keep: Callable[[TimedEvent], bool]) -> Timeline:
        """The same timeline with only the entries ``keep`` accepts (sources are kept)."""
        return Timeline(
            tuple(e for e in self.entries if keep(e)), self.sources, self.zero, self.clock
        )


def merge(
    sources: Sequence[Sequence[Event]],
    zero: Anchor | int,
    *,
    clock: Clock | Literal["auto"] = "auto",
) -> Timeline:
    """Merge event lists onto one axis around ``zero`` (an Anchor, or a wall time in ns).

    :class:`MergeError` if ``clock="mono"`` and the anchor or an event has no ``mono_ns``.
    """
    anchor = zero if isinstance(zero, Anchor) else Anchor(wall_ns=zero)
    everything_mono = anchor.mono_ns is not None and all(
        event.mono_ns is not None for events in sources for event in events
    )
    if clock == "mono" and not everything_mono:
        raise MergeError(_missing_mono(sources, anchor))
    chosen: Clock = "mono" if clock == "mono" or (clock == "auto" and everything_mono) else "wall"

    entries: list[TimedEvent] = []
    names: dict[str, None] = {}
    for source_index, events in enumerate(sources):
        for index, event in enumerate(events):
            names.setdefault(event.source)
            if chosen == "mono":
                assert event.mono_ns is not None and anchor.mono_ns is not None
                rel_ns = event.mono_ns - anchor.mono_ns
            else:
                rel_ns = event.wall_ns - anchor.wall_ns
            entries.append(TimedEvent(rel_ns, event, source_index, index))
    entries.sort(key=lambda e: (e.rel_ns, e.source_index, e.index))
    return Timeline(tuple(entries), tuple(names), anchor, chosen)


def first_occurrence(
    timeline: Timeline,
    name: str,
    *,
    where: Callable[[Event], bool] | None = None,
    after_zero: bool = False,
) -> dict[str, TimedEvent]:
    """Per source, the first entry named ``name`` (and accepted by ``where``).

    Sources where it never happens are absent. ``after_zero`` ignores entries before zero.
    """
    found: dict[str, TimedEvent] = {}
    for entry in timeline.entries:
        event = entry.event
        if event.name != name or event.source in found:
            continue
        if after_zero and entry.rel_ns < 0:
            continue
        if where is None or where(event):
            found[event.source] = entry
    return found


def first_occurrences(
    timeline: Timeline,
    names: Sequence[str],
    *,
    where: Callable[[Event], bool] | None = None,
    after_zero: bool = False,
) -> dict[str, dict[str, int | None]]:
    """``{source: {name: rel_ns of its first occurrence, or None}}`` for every source.

    Rows follow ``timeline.sources`` and columns follow ``names``: the shape that
    :func:`labkit.timeline.render.render_summary` draws.
    """
    table: dict[str, dict[str, int | None]] = {s: dict.fromkeys(names) for s in timeline.sources}
    for name in names:
        for source, entry in first_occurrence(
            timeline, name, where=where, after_zero=after_zero
        ).items():
            table[source][name] = entry.rel_ns
    return table


def _missing_mono(sources: Sequence[Sequence[Event]], anchor: Anchor) -> str:
    if anchor.mono_ns is None:
        return "clock='mono' needs an anchor with mono_ns"
    for events in sources:
        for event in events:
            if event.mono_ns is None:
                return f"clock='mono' but an event of {event.source!r} has no mono_ns: {event.name}"
    return "clock='mono' is not possible"  # pragma: no cover - unreachable by the caller's check


class KilledRun(Protocol):
    """One run of a side-by-side study: its kind (``real``, ``ours``), the moment of its
    fault, and its timeline."""

    @property
    def kind(self) -> str: ...
    @property
    def zero(self) -> Anchor: ...
    @property
    def timeline(self) -> Timeline: ...


def side_by_side(runs: Sequence[KilledRun]) -> Timeline:
    """Several runs on one axis, each shifted so that its fault is the zero; every
    source is labelled with its run's kind (``real node-1``, ``ours node-1``)."""
    base = min(r.zero.wall_ns for r in runs)
    sources: list[list[Event]] = []
    for run in runs:
        per_source: dict[str, list[Event]] = {}
        for entry in run.timeline:
            event = entry.event
            label = f"{run.kind} {event.source}"
            moved = replace(event, source=label, wall_ns=base + entry.rel_ns, mono_ns=None)
            per_source.setdefault(label, []).append(moved)
        sources.extend(per_source.values())
    return merge(sources, Anchor(wall_ns=base))
