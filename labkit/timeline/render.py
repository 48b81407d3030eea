"""Plain-text rendering of timelines and summary tables for a terminal.

Three views, all pure functions returning one string (lines joined by ``\\n``):

- :func:`render_table`: one row per event: relative time, source, event name, instance
  and details. A rule marks the zero.
- :func:`render_lanes`: one column ("lane") per source, so the reader's eye follows one
  process down the page and compares processes across it.
- :func:`render_summary`: a generic grid (rows, columns, values), for example the time of
  the first ``+sdown`` / ``+odown`` / ``+switch-master`` per sentinel
  (:func:`render_first_occurrences`).

``width`` counts terminal cells (East Asian wide characters count two); text that does not
fit is cut with an ellipsis. Control characters in log text (an escape sequence in a
hostile log line) are shown as ``?`` and never reach the terminal.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from labkit.events import Event
from labkit.timeline.merge import TimedEvent, Timeline
from labkit.timeline.redislog import is_event

__all__ = [
    "display_width",
    "fit",
    "format_offset",
    "render_first_occurrences",
    "render_lanes",
    "render_summary",
    "render_table",
    "short_instance",
]

T = TypeVar("T")

_NS_PER_MS = 1_000_000
_NAME_WIDTH_MAX = 30
_SOURCE_WIDTH_MAX = 24
_LANE_WIDTH_MAX = 36
_LANE_WIDTH_MIN = 8


# ----------------------------------------------------------------------------- text cells


def format_offset(rel_ns: int) -> str:
    """A relative time in seconds with ms, sign always shown: ``+1.234s``, ``-0.120s``.

    Milliseconds are truncated toward zero, so ``-0.4 ms`` shows as ``+0.000s``.
    """
    ms = abs(rel_ns) // _NS_PER_MS
    sign = "-" if rel_ns < 0 and ms else "+"
    return f"{sign}{ms // 1000}.{ms % 1000:03d}s"


def display_width(text: str) -> int:
    """How many terminal cells ``text`` takes (wide characters 2, combining marks 0)."""
    return sum(_char_width(char) for char in text)


def fit(text: str, width: int, *, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``width`` cells, ending in ``ellipsis`` when cut."""
    if display_width(text) <= width:
        return text
    room = width - display_width(ellipsis)
    if room < 0:
        return ellipsis[: max(width, 0)]
    kept: list[str] = []
    used = 0
    for char in text:
        cells = _char_width(char)
        if used + cells > room:
            break
        kept.append(char)
        used += cells
    return "".join(kept) + ellipsis


def short_instance(instance: str) -> str:
    """The type and name of a Sentinel instance part: ``master m 127.0.0.1 6379`` → ``master m``."""
    words = instance.split(" ")
    if len(words) >= 4 and words[0] in ("master", "slave", "sentinel"):
        return f"{words[0]} {words[1]}"
    return instance


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _clean(text: str) -> str:
    return "".join("?" if unicodedata.category(char) == "Cc" else char for char in text)


def _pad(text: str, width: int, *, right: bool = False) -> str:
    gap = " " * max(width - display_width(text), 0)
    return gap + text if right else text + gap


def _cell(text: str, width: int, ellipsis: str, *, right: bool = False) -> str:
    return _pad(fit(text, width, ellipsis=ellipsis), width, right=right)


def _join(lines: list[str]) -> str:
    return "\n".join(line.rstrip() for line in lines)


# ----------------------------------------------------------------------------- timelines


def _rest(event: Event, *, short: bool) -> str:
    instance = short_instance(event.instance) if short else event.instance
    return " ".join(part for part in (instance, event.details) if part)


def render_table(
    timeline: Timeline,
    *,
    width: int | None = None,
    zero_label: str | None = "zero",
    short: bool = False,
    ascii_only: bool = False,
) -> str:
    """One row per event: ``time  source  event  instance/details``.

    Event names are aligned in a column as wide as the longest Sentinel-style name (at
    most 30 cells); plain log messages run on past it. ``width`` cuts every line to that
    many cells. ``zero_label`` names the rule drawn at time zero (``None``: no rule).
    ``short`` writes instances as ``type name`` only.
    """
    ellipsis = "..." if ascii_only else "…"
    rule_char = "-" if ascii_only else "─"
    times = [format_offset(entry.rel_ns) for entry in timeline.entries]
    time_w = max([len("time"), *(len(t) for t in times)])
    source_w = min(
        max([len("source"), *(display_width(_clean(s)) for s in timeline.sources)]),
        _SOURCE_WIDTH_MAX,
    )
    event_names = [_clean(e.event.name) for e in timeline.entries if is_event(e.event)]
    name_w = min(max([len("event"), *(display_width(n) for n in event_names)]), _NAME_WIDTH_MAX)
    if width is not None:  # leave at least as much room for the instance as for the name
        name_w = min(name_w, max((width - time_w - source_w - 4) // 2, len("event")))

    def line(time: str, source: str, name: str, rest: str) -> str:
        head = f"{_pad(time, time_w, right=True)}  {_cell(source, source_w, ellipsis)}  "
        body = f"{_pad(name, name_w)} {rest}" if rest else name
        text = head + body
        return fit(text, width, ellipsis=ellipsis) if width is not None else text

    lines = [line("time", "source", "event", "instance / details")]
    lines.append(rule_char * display_width(lines[0].rstrip()))
    zero_done = zero_label is None
    for time, entry in zip(times, timeline.entries, strict=True):
        if not zero_done and entry.rel_ns >= 0:
            lines.append(_zero_rule(zero_label or "", time_w, width, rule_char, ellipsis))
            zero_done = True
        event = entry.event
        lines.append(
            line(time, _clean(event.source), _clean(event.name), _clean(_rest(event, short=short)))
        )
    if not zero_done:
        lines.append(_zero_rule(zero_label or "", time_w, width, rule_char, ellipsis))
    return _join(lines)


def _zero_rule(label: str, time_w: int, width: int | None, rule: str, ellipsis: str) -> str:
    text = f"{_pad(format_offset(0), time_w, right=True)}  {rule * 3} {_clean(label)} {rule * 3}"
    return fit(text, width, ellipsis=ellipsis) if width is not None else text


def render_lanes(
    timeline: Timeline,
    *,
    width: int | None = None,
    sources: Sequence[str] | None = None,
    ascii_only: bool = False,
) -> str:
    """One lane (column) per source, one row per event, time on the left.

    Cells show the event name, the instance's type and name, and the details. Lanes share
    ``width`` equally; without it each lane is as wide as its text, at most 36 cells.
    ``sources`` picks and orders the lanes (default: every source of the timeline).
    """
    ellipsis = "..." if ascii_only else "…"
    bar = " | " if ascii_only else " │ "
    lanes = list(timeline.sources if sources is None else sources)
    if not lanes:
        return ""
    column = {source: i for i, source in enumerate(lanes)}
    rows: list[tuple[str, int, str]] = []
    for entry in timeline.entries:
        lane = column.get(entry.event.source)
        if lane is not None:
            rows.append((format_offset(entry.rel_ns), lane, _lane_text(entry)))
    time_w = max([len("time"), *(len(t) for t, _, _ in rows)])
    if width is not None:
        room = width - time_w - len(bar) * len(lanes)
        lane_ws = [max(room // len(lanes), _LANE_WIDTH_MIN)] * len(lanes)
    else:
        lane_ws = [display_width(_clean(s)) for s in lanes]
        for _, lane, text in rows:
            lane_ws[lane] = max(lane_ws[lane], display_width(text))
        lane_ws = [min(w, _LANE_WIDTH_MAX) for w in lane_ws]

    def line(time: str, cells: Sequence[str]) -> str:
        parts = [_pad(time, time_w, right=True)]
        parts.extend(_cell(c, w, ellipsis) for c, w in zip(cells, lane_ws, strict=True))
        text = bar.join(parts)
        return fit(text, width, ellipsis=ellipsis) if width is not None else text

    lines = [line("time", [_clean(s) for s in lanes])]
    lines.append(("-" if ascii_only else "─") * display_width(lines[0].rstrip()))
    for time, lane, text in rows:
        cells = [""] * len(lanes)
        cells[lane] = text
        lines.append(line(time, cells))
    return _join(lines)


def _lane_text(entry: TimedEvent) -> str:
    return _clean(" ".join(p for p in (entry.event.name, _rest(entry.event, short=True)) if p))


# ----------------------------------------------------------------------------- summaries


def render_summary(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Mapping[str, Mapping[str, T | None]],
    *,
    fmt: Callable[[T], str] = str,
    corner: str = "",
    missing: str = "-",
    width: int | None = None,
    ascii_only: bool = False,
) -> str:
    """A grid: one line per row label, one right-aligned column per column label.

    ``values[row][column]`` is formatted with ``fmt``; absent or ``None`` shows ``missing``.
    When the grid is wider than ``width``, column headers are cut down to their values'
    width, then row labels to 12 cells, then lines are cut.
    """
    ellipsis = "..." if ascii_only else "…"
    cells = [
        [
            _clean(fmt(v)) if (v := values.get(row, {}).get(col)) is not None else missing
            for col in columns
        ]
        for row in rows
    ]
    heads = [_clean(c) for c in columns]
    labels = [_clean(r) for r in rows]
    label_w = max([display_width(_clean(corner)), *(display_width(r) for r in labels)], default=0)
    value_ws = [max([1, *(display_width(row[i]) for row in cells)]) for i in range(len(columns))]
    col_ws = [max(display_width(h), v) for h, v in zip(heads, value_ws, strict=True)]

    def total() -> int:
        return label_w + sum(w + 2 for w in col_ws)

    if width is not None and total() > width:
        col_ws = [max(v, min(w, 6)) for w, v in zip(col_ws, value_ws, strict=True)]
        if total() > width:
            label_w = min(label_w, 12)

    def line(label: str, items: Sequence[str]) -> str:
        parts = [_cell(label, label_w, ellipsis)]
        parts.extend(
            _cell(item, w, ellipsis, right=True) for item, w in zip(items, col_ws, strict=True)
        )
        text = "  ".join(parts)
        return fit(text, width, ellipsis=ellipsis) if width is not None else text

    lines = [line(_clean(corner), heads)]
    lines.append(("-" if ascii_only else "─") * display_width(lines[0].rstrip()))
    lines.extend(line(label, row) for label, row in zip(labels, cells, strict=True))
    return _join(lines)


def render_first_occurrences(
    table: Mapping[str, Mapping[str, int | None]],
    *,
    corner: str = "source",
    width: int | None = None,
    ascii_only: bool = False,
) -> str:
    """:func:`render_summary` of :func:`~labkit.timeline.merge.first_occurrences` output."""
    columns: list[str] = []
    for row in table.values():
        columns.extend(c for c in row if c not in columns)
    return render_summary(
        list(table),
        columns,
        table,
        fmt=format_offset,
        corner=corner,
        width=width,
        ascii_only=ascii_only,
    )
