"""Events I/O and timelines: Redis log lines, JSON-lines streams, merging and rendering.

- :mod:`.redislog`: write Events as Redis 7.0 log lines; parse Redis/Sentinel logs.
- :mod:`.jsonl`: the JSON-lines event stream.
- :mod:`.merge`: several sources on one relative time axis; first occurrences.
- :mod:`.render`: text tables, lanes and summary grids for a terminal.
- :mod:`.html`: the self-contained HTML report (:mod:`.report` holds its inputs,
  :mod:`.chart` its SVG).

Renderers only read a :class:`~labkit.timeline.merge.Timeline`.
"""

from __future__ import annotations

from labkit.timeline.errors import (
    EventStreamError,
    LogFormatError,
    LogParseError,
    MergeError,
    TimelineError,
)
from labkit.timeline.html import render_html, write_html
from labkit.timeline.jsonl import (
    EventStreamWriter,
    dumps_event,
    iter_events,
    loads_event,
    read_events,
    write_events,
)
from labkit.timeline.merge import (
    Anchor,
    TimedEvent,
    Timeline,
    first_occurrence,
    first_occurrences,
    merge,
)
from labkit.timeline.redislog import (
    ParsedLog,
    RedisLogWriter,
    SkippedLine,
    format_line,
    is_event,
    parse_line,
    parse_log,
    read_log,
    split_message,
)
from labkit.timeline.render import (
    format_offset,
    render_first_occurrences,
    render_lanes,
    render_summary,
    render_table,
)
from labkit.timeline.report import (
    FaultWindow,
    OpSpan,
    ReportError,
    SummaryTable,
    derive_fault_windows,
    relative_ns,
)

__all__ = [
    "Anchor",
    "EventStreamError",
    "EventStreamWriter",
    "FaultWindow",
    "LogFormatError",
    "LogParseError",
    "MergeError",
    "OpSpan",
    "ParsedLog",
    "RedisLogWriter",
    "ReportError",
    "SkippedLine",
    "SummaryTable",
    "TimedEvent",
    "Timeline",
    "TimelineError",
    "derive_fault_windows",
    "dumps_event",
    "first_occurrence",
    "first_occurrences",
    "format_line",
    "format_offset",
    "is_event",
    "iter_events",
    "loads_event",
    "merge",
    "parse_line",
    "parse_log",
    "read_events",
    "read_log",
    "relative_ns",
    "render_first_occurrences",
    "render_html",
    "render_lanes",
    "render_summary",
    "render_table",
    "split_message",
    "write_events",
    "write_html",
]
