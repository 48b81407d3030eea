"""The data model of the HTML report, and the pure layout work behind it.

Inputs that callers build (all frozen):

- :class:`OpSpan`: one client operation, drawn as a bar on its process's lane;
- :class:`FaultWindow`: a span of time during which a fault was active;
- :class:`SummaryTable`: a small grid shown above the chart.

Every time here is **relative ns from the timeline's zero** (``TimedEvent.rel_ns`` units);
:func:`relative_ns` converts an absolute wall or monotonic reading.

The derivations are pure and tested on their own: :func:`kind_of` (the colour class of an
event), :func:`derive_fault_windows` (windows from the fault proxy's ``nemesis`` events),
:func:`nice_ticks` (axis ticks), :func:`assign_op_lanes` and :func:`aggregate_ops`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from labkit.events import Event
from labkit.timeline.errors import TimelineError
from labkit.timeline.merge import Timeline
from labkit.timeline.redislog import is_event
from labkit.timeline.render import format_offset

__all__ = [
    "EVENT_KINDS",
    "NEMESIS_SOURCE",
    "OUTCOME_RANK",
    "EventKind",
    "FaultWindow",
    "OpBucket",
    "OpOutcome",
    "OpSpan",
    "ReportError",
    "Scale",
    "SummaryTable",
    "aggregate_ops",
    "assign_op_lanes",
    "derive_fault_windows",
    "kind_of",
    "nice_ticks",
    "relative_ns",
    "tick_label",
]

EventKind: TypeAlias = Literal["milestone", "warning", "progress", "clear", "fault", "log"]
OpOutcome: TypeAlias = Literal["ok", "fail", "info"]

EVENT_KINDS: tuple[EventKind, ...] = ("milestone", "warning", "progress", "clear", "fault", "log")
NEMESIS_SOURCE = "nemesis"
"""The source name under which :class:`~labkit.faults.proxy.ProxyHub` records faults."""

OUTCOME_RANK: dict[str, int] = {"ok": 0, "info": 1, "fail": 2, "lost": 3}
"""How bad an aggregated bucket is: the worst op in it gives its colour."""

_MILESTONES = frozenset(
    {"+elected-leader", "+promoted-slave", "+switch-master", "+failover-end", "+leader"}
)
_WARNINGS = frozenset(
    {"+sdown", "+odown", "+tilt", "+failover-end-for-timeout", "+fail", "+pfail", "-no-good-slave"}
)
_FAULT_OPENERS = {"+partition": "partition", "+delay": "delay", "+throttle": "throttle"}
_FAULTS = frozenset({*_FAULT_OPENERS, "+reset"})
_ANY = "*"


class ReportError(TimelineError, ValueError):
    """Report input that cannot be drawn (an op that ends before it starts, ...)."""


@dataclass(frozen=True, slots=True)
class OpSpan:
    """One client operation, from its invoke to its completion, in relative ns.

    ``end_ns`` is None when no completion was recorded: the bar runs to the chart's end.
    ``lost`` marks an acknowledged write that a later read did not see; ``first_violation``
    the first operation that cannot be linearized. ``label`` is the tooltip text
    (``p3 write 5 [k1] ok``).
    """

    process: int | str
    start_ns: int
    end_ns: int | None
    outcome: OpOutcome
    label: str = ""
    lost: bool = False
    first_violation: bool = False

    def __post_init__(self) -> None:
        if self.outcome not in ("ok", "fail", "info"):
            raise ReportError(f"outcome must be ok, fail or info, not {self.outcome!r}")
        if self.end_ns is not None and self.end_ns < self.start_ns:
            raise ReportError(f"op ends before it starts: {self.start_ns} > {self.end_ns}")

    @property
    def shade(self) -> str:
        """The colour class: the outcome, or ``lost``."""
        return "lost" if self.lost else self.outcome


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """A fault active from ``start_ns`` to ``end_ns`` (None: still active at the end).

    ``kind`` picks the colour: ``partition``, ``delay``, ``throttle`` or anything else.
    """

    start_ns: int
    end_ns: int | None
    label: str
    kind: str = "fault"

    def __post_init__(self) -> None:
        if self.end_ns is not None and self.end_ns < self.start_ns:
            raise ReportError(f"fault window ends before it starts: {self.label!r}")


@dataclass(frozen=True, slots=True)
class SummaryTable:
    """A grid of text cells: ``rows`` are ``(label, cells)`` with one cell per column."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]
    corner: str = ""
    caption: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "rows", tuple((str(r), tuple(c)) for r, c in self.rows))
        for label, cells in self.rows:
            if len(cells) != len(self.columns):
                raise ReportError(
                    f"row {label!r} has {len(cells)} cells for {len(self.columns)} columns"
                )

    @classmethod
    def of_first_occurrences(
        cls,
        table: Mapping[str, Mapping[str, int | None]],
        *,
        corner: str = "source",
        caption: str = "",
        missing: str = "-",
    ) -> SummaryTable:
        """A table of :func:`~labkit.timeline.merge.first_occurrences` output, in seconds."""
        columns: list[str] = []
        for row in table.values():
            columns.extend(c for c in row if c not in columns)
        rows = tuple(
            (
                source,
                tuple(
                    missing if (v := values.get(c)) is None else format_offset(v) for c in columns
                ),
            )
            for source, values in table.items()
        )
        return cls(tuple(columns), rows, corner=corner, caption=caption)


def relative_ns(
    timeline: Timeline, *, wall_ns: int | None = None, mono_ns: int | None = None
) -> int:
    """An absolute reading as ns after the timeline's zero.

    The monotonic reading is used when the timeline was merged on ``mono`` (or when it is
    the only one given and the zero has one), the wall reading otherwise.
    """
    zero = timeline.zero
    use_mono = mono_ns is not None and zero.mono_ns is not None
    if use_mono and (timeline.clock == "mono" or wall_ns is None):
        assert mono_ns is not None and zero.mono_ns is not None
        return mono_ns - zero.mono_ns
    if wall_ns is not None:
        return wall_ns - zero.wall_ns
    raise ReportError("need wall_ns, or mono_ns with a zero that has mono_ns")


def kind_of(event: Event, overrides: Mapping[str, EventKind] | None = None) -> EventKind:
    """The colour class of an event; ``overrides`` maps event names to kinds first."""
    name = event.name
    if overrides and name in overrides:
        return overrides[name]
    if not is_event(event):
        return "log"
    if name in _FAULTS:
        return "fault"
    if name in _MILESTONES:
        return "milestone"
    if name in _WARNINGS or name.startswith(("-failover-abort", "+failover-abort")):
        return "warning"
    return "clear" if name.startswith("-") else "progress"


# ----------------------------------------------------------------------------- faults


@dataclass(slots=True)
class _Open:
    link: str
    source: str
    direction: str
    start_ns: int
    kind: str


def derive_fault_windows(
    timeline: Timeline, *, source: str = NEMESIS_SOURCE
) -> tuple[FaultWindow, ...]:
    """Fault windows from the fault proxy's events, ordered by start.

    ``+partition``/``+delay``/``+throttle`` open a window on ``(link, source, direction)``;
    a later opener on the same link and source with an overlapping direction replaces it.
    ``-fault`` closes the windows of its link (``*``: every link) and its source
    (``*``: every source). A window still open at the end has ``end_ns=None``.
    """
    opened: list[_Open] = []
    windows: list[tuple[_Open, int | None]] = []
    for entry in timeline.entries:
        event = entry.event
        if event.source != source:
            continue
        link = event.instance.removeprefix("link ").strip() or _ANY
        fields = _fields(event.details)
        fsource = fields.get("source", _ANY)
        if event.name in _FAULT_OPENERS:
            direction = fields.get("direction", "both")
            replaced = [
                w
                for w in opened
                if w.link == link
                and w.source == fsource
                and ("both" in (w.direction, direction) or w.direction == direction)
            ]
            new = _Open(link, fsource, direction, entry.rel_ns, _FAULT_OPENERS[event.name])
        elif event.name == "-fault":
            replaced = [w for w in opened if link in (_ANY, w.link) and fsource in (_ANY, w.source)]
            new = None
        else:
            continue
        for w in replaced:
            opened.remove(w)
            windows.append((w, entry.rel_ns))
        if new is not None:
            opened.append(new)
    windows.extend((w, None) for w in opened)
    windows.sort(key=lambda item: (item[0].start_ns, item[0].link, item[0].source))
    return tuple(FaultWindow(w.start_ns, end, _fault_label(w), w.kind) for w, end in windows)


def _fields(details: str) -> dict[str, str]:
    pairs = (word.partition("=") for word in details.split())
    return {key: value for key, sep, value in pairs if sep}


def _fault_label(window: _Open) -> str:
    text = f"{window.kind} {window.link}"
    if window.source != _ANY:
        text += f" from {window.source}"
    if window.direction != "both":
        text += f" ({window.direction})"
    return text


# ----------------------------------------------------------------------------- axis


@dataclass(frozen=True, slots=True)
class Scale:
    """Maps relative ns in ``[t0_ns, t1_ns]`` to x pixels in ``[x0, x0 + width]``."""

    t0_ns: int
    t1_ns: int
    x0: float
    width: float

    def __post_init__(self) -> None:
        if self.t1_ns <= self.t0_ns or self.width <= 0:
            raise ReportError(f"empty scale: {self.t0_ns}..{self.t1_ns} over {self.width}px")

    def x(self, t_ns: int) -> float:
        """The x of ``t_ns`` (outside the range it is outside the plot)."""
        return self.x0 + (t_ns - self.t0_ns) * self.width / (self.t1_ns - self.t0_ns)

    def clamp(self, t_ns: int) -> float:
        """The x of ``t_ns`` held inside the plot."""
        return min(max(self.x(t_ns), self.x0), self.x0 + self.width)

    def contains(self, t_ns: int) -> bool:
        """Whether ``t_ns`` is on the axis."""
        return self.t0_ns <= t_ns <= self.t1_ns


def nice_ticks(t0_ns: int, t1_ns: int, *, target: int = 10) -> tuple[int, tuple[int, ...]]:
    """``(step, ticks)``: about ``target`` round ticks (1, 2 or 5 times 10^k ns) in the range."""
    raw = max((t1_ns - t0_ns) / max(target, 1), 1.0)
    step = 1
    for exponent in range(0, 19):
        candidates = [m * 10**exponent for m in (1, 2, 5)]
        fitting = [c for c in candidates if c >= raw]
        if fitting:
            step = fitting[0]
            break
    first = -(-t0_ns // step) * step
    return step, tuple(range(first, t1_ns + 1, step))


def tick_label(t_ns: int, step_ns: int) -> str:
    """``t_ns`` in seconds with as many decimals as ``step_ns`` needs: ``+1.5 s``, ``0 s``."""
    decimals = 0
    while decimals < 9 and step_ns % 10 ** (9 - decimals):
        decimals += 1
    if t_ns == 0:
        return "0 s"
    sign = "+" if t_ns > 0 else "-"
    whole, frac = divmod(abs(t_ns), 1_000_000_000)
    text = str(whole)
    if decimals:
        text += "." + f"{frac:09d}"[:decimals]
    return f"{sign}{text} s"


# ----------------------------------------------------------------------------- operations


def _process_key(process: int | str) -> tuple[int, int, str]:
    return (0, process, "") if isinstance(process, int) else (1, 0, process)


def _process_name(process: int | str) -> str:
    return f"p{process}" if isinstance(process, int) else process


def assign_op_lanes(
    ops: Sequence[OpSpan], *, end_ns: int, max_lanes: int
) -> tuple[tuple[str, ...], dict[int | str, int]]:
    """``(lane labels, lane of each process)``: one lane per process up to ``max_lanes``.

    With more processes than that, processes whose spans (first invoke to last completion;
    a missing completion runs to ``end_ns``) do not overlap share a lane, as a client that
    reconnects under a new process id would; what still does not fit is folded onto the
    lane that frees up first.
    """
    spans: dict[int | str, list[int]] = {}
    for op in ops:
        end = end_ns if op.end_ns is None else op.end_ns
        span = spans.get(op.process)
        if span is None:
            spans[op.process] = [op.start_ns, end]
        else:
            span[0] = min(span[0], op.start_ns)
            span[1] = max(span[1], end)
    processes = sorted(spans, key=_process_key)
    if len(processes) <= max_lanes:
        return tuple(_process_name(p) for p in processes), {p: i for i, p in enumerate(processes)}
    lane_of: dict[int | str, int] = {}
    lane_end: list[int] = []
    members: list[list[int | str]] = []
    for process in sorted(processes, key=lambda p: (spans[p][0], _process_key(p))):
        start, end = spans[process]
        free = [i for i, e in enumerate(lane_end) if e <= start]
        if free:
            lane = free[0]
        elif len(lane_end) < max_lanes:
            lane = len(lane_end)
            lane_end.append(end)
            members.append([])
        else:
            lane = min(range(len(lane_end)), key=lambda i: (lane_end[i], i))
        lane_end[lane] = max(lane_end[lane], end)
        members[lane].append(process)
        lane_of[process] = lane
    labels = tuple(_process_name(m[0]) + (f" +{len(m) - 1}" if len(m) > 1 else "") for m in members)
    return labels, lane_of


@dataclass(frozen=True, slots=True)
class OpBucket:
    """A run of pixel columns on one op lane, coloured by the worst op overlapping it.

    ``counts`` holds the ops that *started* in the run, by shade (ok, fail, info, lost).
    """

    lane: int
    x0: float
    x1: float
    start_ns: int
    end_ns: int
    worst: str
    counts: tuple[tuple[str, int], ...]


def aggregate_ops(
    ops: Iterable[OpSpan],
    lane_of: Mapping[int | str, int],
    scale: Scale,
    *,
    bucket_px: float = 2.0,
) -> tuple[OpBucket, ...]:
    """Ops summarised as per-lane buckets of ``bucket_px`` pixels; adjacent buckets of the
    same worst shade are joined. Ops entirely off the axis are left out."""
    n = max(math.ceil(scale.width / bucket_px), 1)
    worst: dict[int, list[int]] = {}
    started: dict[int, list[list[int]]] = {}
    shades = tuple(OUTCOME_RANK)
    for op in ops:
        end = scale.t1_ns if op.end_ns is None else op.end_ns
        if end < scale.t0_ns or op.start_ns > scale.t1_ns:
            continue
        lane = lane_of[op.process]
        if lane not in worst:
            worst[lane] = [-1] * n
            started[lane] = [[0] * len(shades) for _ in range(n)]
        first = _bucket(scale, op.start_ns, bucket_px, n)
        last = _bucket(scale, end, bucket_px, n)
        rank = OUTCOME_RANK[op.shade]
        row = worst[lane]
        for i in range(first, last + 1):
            row[i] = max(row[i], rank)
        started[lane][first][rank] += 1
    step_ns = (scale.t1_ns - scale.t0_ns) * bucket_px / scale.width
    buckets: list[OpBucket] = []
    for lane in sorted(worst):
        row = worst[lane]
        i = 0
        while i < n:
            if row[i] < 0:
                i += 1
                continue
            j = i
            totals = [0] * len(shades)
            while j < n and row[j] == row[i]:
                totals = [a + b for a, b in zip(totals, started[lane][j], strict=True)]
                j += 1
            buckets.append(
                OpBucket(
                    lane=lane,
                    x0=scale.x0 + i * bucket_px,
                    x1=min(scale.x0 + j * bucket_px, scale.x0 + scale.width),
                    start_ns=scale.t0_ns + round(i * step_ns),
                    end_ns=min(scale.t0_ns + round(j * step_ns), scale.t1_ns),
                    worst=shades[row[i]],
                    counts=tuple((s, c) for s, c in zip(shades, totals, strict=True) if c),
                )
            )
            i = j
    return tuple(buckets)


def _bucket(scale: Scale, t_ns: int, bucket_px: float, n: int) -> int:
    return min(max(int((scale.x(t_ns) - scale.x0) / bucket_px), 0), n - 1)
