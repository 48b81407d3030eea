"""Events I/O and timelines: Redis log lines, JSON-lines streams, merging and rendering.

- :mod:`.redislog`: write Events as Redis 7.0 log lines; parse Redis/Sentinel logs.
- :mod:`.jsonl`: the JSON-lines event stream.
- :mod:`.merge`: several sources on one relative time axis; first occurrences.
- :mod:`.render`: text tables, lanes and summary grids for a terminal.

Renderers only read a :class:`~labkit.timeline.merge.Timeline`; a new output format
(an HTML report) is a new module beside :mod:`.render` that does the same.
"""

from __future__ import annotations

from labkit.timeline.errors import (
    EventStreamError,
    LogFormatError,
    LogParseError,
    MergeError,
    TimelineError,
)
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

__all__ = [
    "Anchor",
    "EventStreamError",
    "EventStreamWriter",
    "LogFormatError",
    "LogParseError",
    "MergeError",
    "ParsedLog",
    "RedisLogWriter",
    "SkippedLine",
    "TimedEvent",
    "Timeline",
    "TimelineError",
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
    "render_first_occurrences",
    "render_lanes",
    "render_summary",
    "render_table",
    "split_message",
    "write_events",
]
