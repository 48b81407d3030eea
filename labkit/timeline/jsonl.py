"""The JSON-lines event stream: one JSON object per line, one line per :class:`Event`.

A line holds every Event field, plus ``wall``, the same instant as ``wall_ns`` written
for people (ISO-8601, UTC, milliseconds)::

    {"wall": "2026-11-26T04:37:07.083Z", "wall_ns": 1795667827083000000, "mono_ns": null,
     "source": "sentinel-1", "name": "+odown", "instance": "master m 127.0.0.1 6379",
     "details": "#quorum 1/1", "level": "#", "pid": 4191, "role": "X"}

``wall_ns`` is the authority. A reader takes ``wall`` alone when ``wall_ns`` is missing, and
refuses a line whose ``wall`` and ``wall_ns`` name different milliseconds. Unknown keys are
ignored, so that later writers can add fields. Blank lines are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from labkit.events import Event
from labkit.timeline.errors import EventStreamError, LogFormatError

__all__ = [
    "EventStreamWriter",
    "dumps_event",
    "format_wall",
    "iter_events",
    "loads_event",
    "parse_wall",
    "read_events",
    "write_events",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_MS = 1_000_000
_NS_PER_US = 1_000


def format_wall(wall_ns: int) -> str:
    """``wall_ns`` as ISO-8601 UTC with milliseconds (truncated): ``2026-11-26T04:37:07.083Z``.

    :class:`LogFormatError` outside the years 1 to 9999.
    """
    ms = wall_ns // _NS_PER_MS
    try:
        when = _EPOCH + timedelta(milliseconds=ms)
    except OverflowError as exc:
        raise LogFormatError(f"time out of range: {wall_ns} ns") from exc
    return (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d}"
        f"T{when.hour:02d}:{when.minute:02d}:{when.second:02d}.{ms % 1000:03d}Z"
    )


def parse_wall(text: str) -> int:
    """Unix ns of an ISO-8601 time with a UTC offset (``Z`` or ``+hh:mm``).

    ``ValueError`` without an offset or if malformed; ``OverflowError`` outside years 1-9999 UTC.
    """
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"time without a UTC offset: {text!r}")
    utc = when.astimezone(UTC)  # OverflowError outside the years 1 to 9999 UTC
    return ((utc - _EPOCH) // timedelta(microseconds=1)) * _NS_PER_US


def dumps_event(event: Event) -> str:
    """One JSON line for ``event``, without the newline."""
    record = {
        "wall": format_wall(event.wall_ns),
        "wall_ns": event.wall_ns,
        "mono_ns": event.mono_ns,
        "source": event.source,
        "name": event.name,
        "instance": event.instance,
        "details": event.details,
        "level": event.level,
        "pid": event.pid,
        "role": event.role,
    }
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": "))


def loads_event(text: str, *, line_no: int = 1) -> Event:
    """The Event of one JSON line; :class:`EventStreamError` naming ``line_no`` if malformed."""
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise EventStreamError(f"not JSON ({exc})", line_no=line_no) from exc
    if not isinstance(record, dict):
        raise EventStreamError(f"not a JSON object but {type(record).__name__}", line_no=line_no)

    def text_field(key: str, default: str | None = None) -> str:
        value = record.get(key, default)
        if not isinstance(value, str):
            what = "missing" if key not in record else f"not a string: {value!r}"
            raise EventStreamError(f"{key!r} {what}", line_no=line_no)
        return value

    def int_field(key: str) -> int | None:
        value = record.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise EventStreamError(f"{key!r} not an integer: {value!r}", line_no=line_no)
        return value

    wall_ns = int_field("wall_ns")
    if "wall" in record:
        try:
            wall_from_text = parse_wall(text_field("wall"))
        except (ValueError, OverflowError) as exc:
            raise EventStreamError(f"'wall' not an ISO-8601 time ({exc})", line_no=line_no) from exc
        if wall_ns is None:
            wall_ns = wall_from_text
        elif wall_ns // _NS_PER_MS != wall_from_text // _NS_PER_MS:
            raise EventStreamError(
                f"'wall' {record['wall']!r} and 'wall_ns' {wall_ns} disagree", line_no=line_no
            )
    if wall_ns is None:
        raise EventStreamError("neither 'wall_ns' nor 'wall' given", line_no=line_no)
    return Event(
        source=text_field("source"),
        name=text_field("name"),
        wall_ns=wall_ns,
        instance=text_field("instance", ""),
        details=text_field("details", ""),
        mono_ns=int_field("mono_ns"),
        level=text_field("level", "#"),
        pid=int_field("pid"),
        role=text_field("role", "X"),
    )


def iter_events(lines: Iterable[str]) -> Iterator[Event]:
    """Events from JSON lines, in order; raises :class:`EventStreamError` at the first bad one."""
    for line_no, line in enumerate(lines, start=1):
        if line.strip():
            yield loads_event(line, line_no=line_no)


def read_events(path: str | Path) -> list[Event]:
    """Every Event of a JSON-lines file; :class:`EventStreamError` on a bad line or bad UTF-8."""
    events: list[Event] = []
    with Path(path).open("rb") as stream:
        for line_no, raw in enumerate(stream, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise EventStreamError(f"not UTF-8 ({exc.reason})", line_no=line_no) from exc
            if line.strip():
                events.append(loads_event(line, line_no=line_no))
    return events


def write_events(path: str | Path, events: Iterable[Event]) -> int:
    """Write ``events`` to a new JSON-lines file; returns how many were written."""
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="\n") as stream:
        writer = EventStreamWriter(stream, flush=False)
        for event in events:
            writer.write(event)
            count += 1
    return count


class EventStreamWriter:
    """Appends Events to a text stream as JSON lines, flushing each one unless told not to."""

    __slots__ = ("_flush", "_stream")

    def __init__(self, stream: TextIO, *, flush: bool = True) -> None:
        self._stream = stream
        self._flush = flush

    def write(self, event: Event) -> None:
        """Append one line for ``event``."""
        self._stream.write(dumps_event(event) + "\n")
        if self._flush:
            self._stream.flush()
