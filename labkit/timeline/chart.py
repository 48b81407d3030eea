"""The SVG chart of the HTML report: a time axis, one lane per source, op lanes, faults.

The SVG is styled by class names (``ev k-warning``, ``op o-ok``, ``fw f-partition``) that
the page's stylesheet colours; tooltips are SVG ``<title>`` elements, so no script is
needed. Every text from the input goes through :func:`esc`. The root element carries the
axis as data attributes (``data-t0-ns``, ``data-t1-ns``, ``data-plot-x``, ``data-plot-w``)
so that tools and tests can map x back to time.
"""

from __future__ import annotations

import bisect
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from labkit.timeline.merge import TimedEvent, Timeline
from labkit.timeline.render import format_offset
from labkit.timeline.report import (
    EventKind,
    FaultWindow,
    OpSpan,
    Scale,
    aggregate_ops,
    assign_op_lanes,
    kind_of,
    nice_ticks,
    tick_label,
)

__all__ = ["Chart", "ChartOptions", "esc", "render_chart"]

_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

GUTTER = 160.0
"""Width of the lane labels on the left."""
RIGHT = 28.0
TOP = 44.0
BOTTOM = 26.0
CHAR_W = 6.6
"""Advance of one character of the 11 px monospace label font."""
LABEL_ROW_H = 12.0
LABEL_MAX_CHARS = 30
LABEL_GAP = 6.0
LANE_BASE_H = 22.0
BAR_ROW_H = 10.0
OP_LANE_H = 14.0
OP_BAR_H = 9.0
SEPARATOR_H = 20.0
BUCKET_PX = 2.0
_LABEL_PRIORITY: dict[EventKind, int] = {
    "milestone": 0,
    "warning": 1,
    "fault": 1,
    "progress": 2,
    "clear": 2,
    "log": 3,
}


def esc(text: str) -> str:
    """``text`` safe for HTML and XML text and quoted attributes.

    Characters that XML forbids, and other control characters, become U+FFFD.
    """
    return html.escape(_BAD_CHARS.sub("\ufffd", text), quote=True)


def _n(value: float) -> str:
    return f"{value:.1f}"


@dataclass(frozen=True, slots=True)
class ChartOptions:
    """How the chart is laid out; see :func:`labkit.timeline.html.render_html`."""

    lanes: tuple[str, ...]
    fault_lane: str
    zero_label: str
    width: int = 1200
    span_ns: tuple[int, int] | None = None
    kinds: Mapping[str, EventKind] | None = None
    max_op_marks: int = 4000
    max_op_lanes: int = 48
    max_label_rows: int = 4


@dataclass(frozen=True, slots=True)
class Chart:
    """The SVG markup and the notes to print under it (aggregation, hidden marks)."""

    svg: str
    notes: tuple[str, ...]
    aggregated: bool


@dataclass(slots=True)
class _Lane:
    name: str
    entries: list[TimedEvent]
    kinds: list[EventKind] = field(default_factory=list)
    label_rows: int = 0
    bar_rows: int = 0
    top: float = 0.0
    height: float = LANE_BASE_H
    placed: list[tuple[int, float, str] | None] | None = None
    bars: list[tuple[int, FaultWindow]] | None = None

    @property
    def mark_y(self) -> float:
        return self.top + LABEL_ROW_H * self.label_rows + 11.0


def _axis_range(
    timeline: Timeline,
    lanes: Sequence[str],
    ops: Sequence[OpSpan],
    faults: Sequence[FaultWindow],
) -> tuple[int, int]:
    shown = set(lanes)
    times = [0]
    times.extend(e.rel_ns for e in timeline.entries if e.source in shown)
    for op in ops:
        times.append(op.start_ns)
        if op.end_ns is not None:
            times.append(op.end_ns)
    for window in faults:
        times.append(window.start_ns)
        if window.end_ns is not None:
            times.append(window.end_ns)
    t0, t1 = min(times), max(times)
    if t1 == t0:
        return t0 - 1_000_000_000, t1 + 1_000_000_000
    pad = max((t1 - t0) // 40, 1)
    return t0 - pad, t1 + pad


def _place_labels(
    items: Sequence[tuple[float, str, int]], right: float, max_rows: int
) -> list[tuple[int, float, str] | None]:
    """Rows for labels: ``(row, x, text)`` per ``(x, text, priority)``, None where none fits.

    Lower priorities are placed first, each in the lowest row where it overlaps nothing.
    """
    rows: list[tuple[list[float], list[float]]] = [([], []) for _ in range(max_rows)]
    placed: list[tuple[int, float, str] | None] = [None] * len(items)
    for i in sorted(range(len(items)), key=lambda i: (items[i][2], i)):
        x, name, _ = items[i]
        text = name if len(name) <= LABEL_MAX_CHARS else name[: LABEL_MAX_CHARS - 1] + "…"
        start = min(x - 3.0, right - len(text) * CHAR_W)
        end = start + len(text) * CHAR_W
        for row, (starts, ends) in enumerate(rows):
            at = bisect.bisect_left(starts, start)
            if (at == 0 or ends[at - 1] + LABEL_GAP <= start) and (
                at == len(starts) or end + LABEL_GAP <= starts[at]
            ):
                starts.insert(at, start)
                ends.insert(at, end)
                placed[i] = (row, start, text)
                break
    return placed


def _pack_rows(windows: Sequence[FaultWindow], scale: Scale) -> list[tuple[int, FaultWindow]]:
    ends: list[float] = []
    rows: list[tuple[int, FaultWindow]] = []
    for window in windows:
        x0 = scale.clamp(window.start_ns)
        x1 = scale.clamp(scale.t1_ns if window.end_ns is None else window.end_ns)
        row = next((i for i, end in enumerate(ends) if end <= x0), len(ends))
        if row == len(ends):
            ends.append(x1)
        ends[row] = max(x1 + 1.0, ends[row])
        rows.append((row, window))
    return rows


def render_chart(
    timeline: Timeline,
    ops: Sequence[OpSpan],
    faults: Sequence[FaultWindow],
    options: ChartOptions,
) -> Chart:
    """The SVG chart of ``timeline`` with ``ops`` and ``faults`` (all in relative ns)."""
    notes: list[str] = []
    t0, t1 = options.span_ns or _axis_range(timeline, options.lanes, ops, faults)
    plot_w = max(float(options.width) - GUTTER - RIGHT, 100.0)
    scale = Scale(t0, t1, GUTTER, plot_w)
    faults = [w for w in faults if w.start_ns <= t1 and (w.end_ns is None or w.end_ns >= t0)]
    right = GUTTER + plot_w

    lanes = [_Lane(name, []) for name in options.lanes]
    by_name = {lane.name: lane for lane in lanes}
    hidden = 0
    for entry in timeline.entries:
        lane = by_name.get(entry.source)
        if lane is None:
            continue
        if scale.contains(entry.rel_ns):
            lane.entries.append(entry)
        else:
            hidden += 1
    if hidden:
        notes.append(f"{hidden:,} events outside the time range shown are only in the table.")

    y = TOP
    for lane in lanes:
        lane.kinds = [kind_of(e.event, options.kinds) for e in lane.entries]
        labelled = [
            (scale.x(e.rel_ns), e.event.name, _LABEL_PRIORITY[kind])
            for e, kind in zip(lane.entries, lane.kinds, strict=True)
            if kind != "log"
        ]
        placed = _place_labels(labelled, right, options.max_label_rows)
        lane.placed = placed
        lane.label_rows = 1 + max((p[0] for p in placed if p is not None), default=-1)
        if lane.name == options.fault_lane and faults:
            lane.bars = _pack_rows(faults, scale)
            lane.bar_rows = 1 + max(row for row, _ in lane.bars)
        lane.top = y
        lane.height = LANE_BASE_H + LABEL_ROW_H * lane.label_rows + BAR_ROW_H * lane.bar_rows
        y += lane.height

    op_labels, lane_of = assign_op_lanes(ops, end_ns=t1, max_lanes=options.max_op_lanes)
    if len(op_labels) < len(lane_of):
        notes.append(
            f"{len(lane_of):,} client processes share {len(op_labels)} lanes: processes that "
            "never overlap in time are drawn on one lane (the label shows the first of them)."
        )
    ops_top = y + SEPARATOR_H if ops else y
    height = ops_top + OP_LANE_H * len(op_labels) + BOTTOM
    aggregated = len(ops) > options.max_op_marks

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{options.width}" '
        f'height="{_n(height)}" viewBox="0 0 {options.width} {_n(height)}" '
        f'data-t0-ns="{t0}" data-t1-ns="{t1}" data-plot-x="{_n(GUTTER)}" '
        f'data-plot-w="{_n(plot_w)}" data-ops="{"aggregated" if aggregated else "detail"}" '
        'role="img" aria-label="timeline">'
    ]
    # lane backgrounds
    for i, lane in enumerate(lanes):
        out.append(
            f'<rect class="lane-bg{" alt" if i % 2 else ""}" x="0" y="{_n(lane.top)}" '
            f'width="{options.width}" height="{_n(lane.height)}"/>'
        )
    for i in range(len(op_labels)):
        out.append(
            f'<rect class="lane-bg{" alt" if i % 2 else ""}" x="0" '
            f'y="{_n(ops_top + i * OP_LANE_H)}" width="{options.width}" height="{_n(OP_LANE_H)}"/>'
        )
    # grid and axis labels
    step, ticks = nice_ticks(t0, t1, target=max(int(plot_w // 110), 2))
    grid_bottom = height - BOTTOM
    out.append('<g class="axis">')
    for tick in ticks:
        x = _n(scale.x(tick))
        label = esc(tick_label(tick, step))
        out.append(
            f'<line class="grid" x1="{x}" y1="{_n(TOP - 4)}" x2="{x}" y2="{_n(grid_bottom)}"/>'
            f'<text class="tick" x="{x}" y="{_n(TOP - 8)}">{label}</text>'
            f'<text class="tick" x="{x}" y="{_n(grid_bottom + 16)}">{label}</text>'
        )
    out.append("</g>")
    # fault shading across every lane
    out.append('<g class="faults">')
    for window in faults:
        out.append(_fault_rect(window, scale, "fw", TOP, grid_bottom - TOP))
    out.append("</g>")
    # the zero line
    if scale.contains(0):
        x = _n(scale.x(0))
        half = len(options.zero_label) * 3.5
        anchor = "start" if scale.x(0) < half else "middle"
        anchor = "end" if scale.x(0) + half > options.width else anchor
        out.append(
            f'<line class="zero" x1="{x}" y1="{_n(TOP - 24)}" x2="{x}" y2="{_n(grid_bottom)}"/>'
            f'<text class="zero-lbl" x="{x}" y="{_n(TOP - 27)}" text-anchor="{anchor}">'
            f"{esc(options.zero_label)}</text>"
        )
    for lane in lanes:
        out.extend(_event_lane(lane, scale, options))
    if ops:
        out.append(
            f'<text class="sep" x="8" y="{_n(y + SEPARATOR_H - 6)}">client operations</text>'
            f'<line class="sep-line" x1="0" y1="{_n(y + 2)}" x2="{options.width}" '
            f'y2="{_n(y + 2)}"/>'
        )
        out.extend(_op_lanes(ops, op_labels, lane_of, scale, ops_top, aggregated))
    out.append("</svg>")
    if aggregated:
        notes.append(
            f"{len(ops):,} operations (more than {options.max_op_marks:,}): each op lane is "
            f"drawn in {BUCKET_PX:g}-pixel buckets coloured by the worst outcome overlapping "
            "them (lost > fail > info > ok); hover a bucket for how many ops started in it."
        )
    return Chart("".join(out), tuple(notes), aggregated)


def _fault_rect(window: FaultWindow, scale: Scale, cls: str, y: float, h: float) -> str:
    end = scale.t1_ns if window.end_ns is None else window.end_ns
    x0 = scale.clamp(window.start_ns)
    x1 = scale.clamp(end)
    until = "still active at the end" if window.end_ns is None else format_offset(window.end_ns)
    tip = f"{window.label}: {format_offset(window.start_ns)} → {until}"
    end_attr = "open" if window.end_ns is None else str(window.end_ns)
    kind = re.sub(r"[^a-z0-9-]", "", window.kind.lower()) or "fault"
    return (
        f'<rect class="{cls} f-{kind}" x="{_n(x0)}" y="{_n(y)}" width="{_n(max(x1 - x0, 1.0))}" '
        f'height="{_n(h)}" data-start-ns="{window.start_ns}" data-end-ns="{end_attr}">'
        f"<title>{esc(tip)}</title></rect>"
    )


def _event_lane(lane: _Lane, scale: Scale, options: ChartOptions) -> list[str]:
    name = lane.name
    shown = name if len(name) <= 22 else name[:21] + "…"
    mid = lane.mark_y
    out = [
        f'<g class="lane" data-lane="{esc(name)}">'
        f'<text class="lane-lbl" x="{_n(GUTTER - 10)}" y="{_n(mid + 4)}">{esc(shown)}'
        f"<title>{esc(name)}</title></text>"
    ]
    for row, window in lane.bars or []:
        bar_y = mid + 9 + row * BAR_ROW_H
        out.append(_fault_rect(window, scale, "fbar", bar_y, BAR_ROW_H - 2))
    leads: list[str] = []
    marks: list[str] = []
    labels: list[str] = []
    spots = iter(lane.placed or [])
    for entry, kind in zip(lane.entries, lane.kinds, strict=True):
        event = entry.event
        x = scale.x(entry.rel_ns)
        tip = f"{format_offset(entry.rel_ns)}  {event.source}\n{event.message}"
        radius = 2.5 if kind == "log" else 4.0
        marks.append(
            f'<circle class="ev k-{kind}" cx="{_n(x)}" cy="{_n(mid)}" r="{radius:g}" '
            f'data-t="{entry.rel_ns}"><title>{esc(tip)}</title></circle>'
        )
        spot = None if kind == "log" else next(spots)
        if spot is None:
            continue
        row, start, text = spot
        base = mid - 7.0 - LABEL_ROW_H * row
        if row:
            leads.append(
                f'<line class="lead" x1="{_n(x)}" y1="{_n(mid - 4)}" x2="{_n(x)}" '
                f'y2="{_n(base + 2)}"/>'
            )
        labels.append(
            f'<text class="lbl k-{kind}" x="{_n(start)}" y="{_n(base)}">{esc(text)}</text>'
        )
    out.extend(leads)
    out.extend(marks)
    out.extend(labels)
    out.append("</g>")
    return out


def _op_title(op: OpSpan) -> str:
    end = "no completion" if op.end_ns is None else format_offset(op.end_ns)
    text = op.label or (f"p{op.process}" if isinstance(op.process, int) else op.process)
    extra = ", acknowledged write lost" if op.lost else ""
    extra += ", first op that cannot be linearized" if op.first_violation else ""
    return f"{text}\n{op.outcome}{extra}: {format_offset(op.start_ns)} → {end}"


def _op_lanes(
    ops: Sequence[OpSpan],
    labels: Sequence[str],
    lane_of: Mapping[int | str, int],
    scale: Scale,
    top: float,
    aggregated: bool,
) -> list[str]:
    out: list[str] = []
    groups: list[list[str]] = [[] for _ in labels]
    if aggregated:
        for bucket in aggregate_ops(ops, lane_of, scale, bucket_px=BUCKET_PX):
            y = top + bucket.lane * OP_LANE_H + (OP_LANE_H - OP_BAR_H) / 2
            started = sum(c for _, c in bucket.counts)
            parts = ", ".join(f"{c:,} {shade}" for shade, c in bucket.counts) or "none"
            tip = (
                f"{format_offset(bucket.start_ns)} … {format_offset(bucket.end_ns)}: "
                f"worst {bucket.worst}; {started:,} ops started here ({parts})"
            )
            groups[bucket.lane].append(
                f'<rect class="agg o-{bucket.worst}" x="{_n(bucket.x0)}" y="{_n(y)}" '
                f'width="{_n(max(bucket.x1 - bucket.x0, 1.0))}" height="{_n(OP_BAR_H)}">'
                f"<title>{esc(tip)}</title></rect>"
            )
    highlight: list[str] = []
    for op in ops:
        if aggregated and not op.first_violation:
            continue
        end = scale.t1_ns if op.end_ns is None else op.end_ns
        if end < scale.t0_ns or op.start_ns > scale.t1_ns:
            continue
        lane = lane_of[op.process]
        x0 = scale.clamp(op.start_ns)
        w = max(scale.clamp(end) - x0, 1.0)
        y = top + lane * OP_LANE_H + (OP_LANE_H - OP_BAR_H) / 2
        cls = f"op o-{op.shade}" + (" open" if op.end_ns is None else "")
        groups[lane].append(
            f'<rect class="{cls}" x="{_n(x0)}" y="{_n(y)}" width="{_n(w)}" '
            f'height="{_n(OP_BAR_H)}" data-t="{op.start_ns}"><title>{esc(_op_title(op))}'
            "</title></rect>"
        )
        if op.first_violation:
            highlight.append(_violation(op, x0, w, y, scale))
    for i, label in enumerate(labels):
        lane_y = top + i * OP_LANE_H
        out.append(
            f'<g class="oplane" data-lane="{esc(label)}">'
            f'<text class="lane-lbl op-lbl" x="{_n(GUTTER - 10)}" y="{_n(lane_y + 10.5)}">'
            f"{esc(label)}</text>"
        )
        out.extend(groups[i])
        out.append("</g>")
    out.extend(highlight)
    return out


def _violation(op: OpSpan, x0: float, w: float, y: float, scale: Scale) -> str:
    text = "first non-linearizable op"
    right = scale.x0 + scale.width
    if x0 + w + 8 + len(text) * 6.4 <= right:
        tx, anchor = x0 + w + 8, "start"
    else:
        tx, anchor = x0 - 8, "end"
    return (
        f'<g class="violation"><rect class="viol" x="{_n(x0 - 2.5)}" y="{_n(y - 2.5)}" '
        f'width="{_n(w + 5)}" height="{_n(OP_BAR_H + 5)}"><title>{esc(_op_title(op))}</title>'
        f'</rect><text class="viol-lbl" x="{_n(tx)}" y="{_n(y + OP_BAR_H - 1)}" '
        f'text-anchor="{anchor}">{esc(text)}</text></g>'
    )
