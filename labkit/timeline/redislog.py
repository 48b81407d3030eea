"""Redis log lines: write an :class:`Event` as Redis 7.0 does, and read Redis logs back.

The line format (Redis 7.0 ``serverLogRaw`` in ``src/server.c``) is::

    <pid>:<role> <dd> <Mon> <yyyy> <hh>:<mm>:<ss>.<mmm> <level> <message>

- role: ``X`` sentinel, ``M`` master, ``S`` replica, ``C`` a forked child. Redis also
  writes ``C`` for the first few startup lines of a server, before it knows its own pid.
- level: ``.`` debug, ``-`` verbose, ``*`` notice, ``#`` warning.
- the time is the process's local time, milliseconds truncated; month names are English.
- Redis 3.0 to 4.0 wrote the same line without the year; :func:`parse_line` reads that too
  when given the year. The 2.x ``[pid]`` form is not read.
- lines written "raw" (the startup ASCII-art logo, crash reports) have no prefix.

A Sentinel event message (``sentinelEvent`` in ``src/sentinel.c``) is
``<+|-name> [<type> <name> <ip> <port>[ @ <master> <ip> <port>]][ <details>]``;
:func:`split_message` cuts it into the ``name``, ``instance`` and ``details`` of an Event.
Any other message becomes an Event whose ``name`` is the whole message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TextIO

from labkit.events import Event
from labkit.timeline.errors import LogFormatError, LogParseError

__all__ = [
    "LEVELS",
    "ROLES",
    "ParsedLog",
    "RedisLogWriter",
    "SkippedLine",
    "format_line",
    "format_time",
    "is_event",
    "parse_line",
    "parse_log",
    "parse_time",
    "read_log",
    "split_message",
]

LEVELS: dict[str, str] = {"debug": ".", "verbose": "-", "notice": "*", "warning": "#"}
"""Redis's verbosity names and the character each writes in a log line."""

ROLES: dict[str, str] = {"X": "sentinel", "M": "master", "S": "replica", "C": "child"}
"""The role characters of a log line and what each means."""

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name: number for number, name in enumerate(_MONTHS, start=1)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000

_LINE_RE = re.compile(
    r"(?P<pid>\d+):(?P<role>[XMSC]) "
    r"(?P<day>\d{1,2}) (?P<mon>[A-Za-z]{3}) (?:(?P<year>\d{4}) )?"
    r"(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})\.(?P<ms>\d{3}) "
    r"(?P<level>[.\-*#])(?: (?P<msg>.*))?"
)
_EVENT_RE = re.compile(r"(?P<name>[+-][a-z][a-z0-9-]*)(?: (?P<rest>.*))?")
_INSTANCE_RE = re.compile(r"(?:master|slave|sentinel) \S+ \S+ \d+(?: @ \S+ \S+ \d+)?(?= |$)")


@dataclass(frozen=True, slots=True)
class SkippedLine:
    """A line that :func:`parse_log` did not turn into an Event, and why."""

    line_no: int
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedLog:
    """The Events read from one log, in file order, and the lines left out."""

    events: tuple[Event, ...]
    skipped: tuple[SkippedLine, ...]


# ---------------------------------------------------------------------------- writing


def format_time(wall_ns: int, tz: tzinfo = UTC, *, with_year: bool = True) -> str:
    """``wall_ns`` as Redis writes it: ``26 Nov 2026 04:37:04.529`` (ms truncated)."""
    seconds, rest_ns = divmod(wall_ns, _NS_PER_S)
    try:
        when = (_EPOCH + timedelta(seconds=seconds)).astimezone(tz)
    except OverflowError as exc:
        raise LogFormatError(f"time out of range: {wall_ns} ns") from exc
    if not 1 <= when.year <= 9999:
        raise LogFormatError(f"time out of range: {wall_ns} ns")
    year = f" {when.year:04d}" if with_year else ""
    return (
        f"{when.day:02d} {_MONTHS[when.month - 1]}{year} "
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}.{rest_ns // _NS_PER_MS:03d}"
    )


def format_line(event: Event, *, tz: tzinfo = UTC, default_pid: int | None = None) -> str:
    """One Redis log line for ``event``, without the newline.

    An Event with ``level == ""`` (a raw line kept by :func:`parse_log`) is written raw,
    as Redis writes its logo. ``default_pid`` stands in for a missing ``event.pid``.
    """
    message = event.message
    if "\n" in message or "\r" in message:
        raise LogFormatError(f"a log line cannot hold a line break: {message[:80]!r}")
    if event.level == "":
        return message
    if len(event.level) != 1 or event.level not in ".-*#":
        raise LogFormatError(f"level must be one of '.-*#', not {event.level!r}")
    if event.role not in ROLES:
        raise LogFormatError(f"role must be one of 'XMSC', not {event.role!r}")
    pid = event.pid if event.pid is not None else default_pid
    if pid is None or pid < 0:
        raise LogFormatError(f"a log line needs a pid >= 0, not {pid!r}")
    return f"{pid}:{event.role} {format_time(event.wall_ns, tz)} {event.level} {message}"


class RedisLogWriter:
    """Writes Events to a text stream as Redis log lines, one flush per line as Redis does."""

    __slots__ = ("_pid", "_stream", "_tz")

    def __init__(self, stream: TextIO, *, tz: tzinfo = UTC, pid: int | None = None) -> None:
        self._stream = stream
        self._tz = tz
        self._pid = pid

    def write(self, event: Event) -> None:
        """Append one line for ``event``; its pid defaults to the writer's."""
        line = format_line(event, tz=self._tz, default_pid=self._pid)
        self._stream.write(line + "\n")
        self._stream.flush()


# ---------------------------------------------------------------------------- reading


def is_event(event: Event) -> bool:
    """True for a Sentinel-style event (``+sdown``, ``-odown``), False for plain messages."""
    return _EVENT_RE.fullmatch(event.name) is not None


def split_message(message: str) -> tuple[str, str, str]:
    """Cut a log message into ``(name, instance, details)`` as ``sentinelEvent`` builds it.

    >>> split_message("+odown master m 127.0.0.1 6379 #quorum 2/2")
    ('+odown', 'master m 127.0.0.1 6379', '#quorum 2/2')
    >>> split_message("Ready to accept connections")
    ('Ready to accept connections', '', '')
    """
    event = _EVENT_RE.fullmatch(message)
    if event is None:
        return message, "", ""
    name = event["name"]
    rest = (event["rest"] or "").rstrip(" ")
    instance = _INSTANCE_RE.match(rest)
    if instance is None:
        return name, "", rest
    return name, instance.group(), rest[instance.end() + 1 :]


def parse_time(
    day: int, month: str, year: int, hms_ms: tuple[int, int, int, int], tz: tzinfo = UTC
) -> int:
    """Unix ns of a log timestamp read in time zone ``tz``; ``ValueError`` if impossible."""
    number = _MONTH_NUMBER.get(month)
    if number is None:
        raise ValueError(f"unknown month {month!r}")
    hour, minute, second, ms = hms_ms
    local = datetime(year, number, day, hour, minute, second, tzinfo=tz)
    whole_s = (local - _EPOCH) // timedelta(seconds=1)
    return whole_s * _NS_PER_S + ms * _NS_PER_MS


def parse_line(
    line: str,
    *,
    source: str = "",
    tz: tzinfo = UTC,
    year: int | None = None,
    line_no: int | None = None,
) -> Event:
    """The Event of one prefixed log line; :class:`LogParseError` if it has no prefix.

    ``year`` is needed only for the year-less lines of Redis 3.0 to 4.0.
    """
    text = line.rstrip("\r\n")
    match = _LINE_RE.fullmatch(text)
    if match is None:
        raise LogParseError("not a Redis log line", line_no=line_no, line=text)
    if match["year"] is not None:
        line_year = int(match["year"])
    elif year is not None:
        line_year = year
    else:
        raise LogParseError("year-less log line and no year given", line_no=line_no, line=text)
    hms_ms = (int(match["h"]), int(match["m"]), int(match["s"]), int(match["ms"]))
    try:
        wall_ns = parse_time(int(match["day"]), match["mon"], line_year, hms_ms, tz)
    except (ValueError, OverflowError) as exc:
        raise LogParseError(f"bad timestamp ({exc})", line_no=line_no, line=text) from exc
    name, instance, details = split_message(match["msg"] or "")
    return Event(
        source=source,
        name=name,
        wall_ns=wall_ns,
        instance=instance,
        details=details,
        level=match["level"],
        pid=int(match["pid"]),
        role=match["role"],
    )


def parse_log(
    lines: Iterable[str],
    *,
    source: str,
    tz: tzinfo = UTC,
    year: int | None = None,
    strict: bool = False,
    keep_raw: bool = False,
) -> ParsedLog:
    """Read a whole log; never raises unless ``strict``.

    Blank lines are skipped. Other lines without a prefix (the logo, crash reports,
    garbage) are skipped and listed in ``skipped``; with ``strict`` the first one raises
    :class:`LogParseError` instead. With ``keep_raw`` they become Events with
    ``level == role == ""``, ``pid=None``, the whole text as ``name`` and the time of the
    prefixed line before them (or, at the top of the file, after them).
    """
    events: list[Event] = []
    skipped: list[SkippedLine] = []
    waiting: list[tuple[int, str]] = []  # raw lines seen before the first prefixed line
    last_ns: int | None = None
    for line_no, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if not text.strip():
            skipped.append(SkippedLine(line_no, text, "blank line"))
            continue
        try:
            event = parse_line(text, source=source, tz=tz, year=year, line_no=line_no)
        except LogParseError as exc:
            if strict:
                raise
            if not keep_raw:
                skipped.append(SkippedLine(line_no, text, exc.reason))
            elif last_ns is None:
                waiting.append((line_no, text))
            else:
                events.append(_raw_event(source, text, last_ns))
            continue
        if last_ns is None:
            events.extend(_raw_event(source, raw, event.wall_ns) for _, raw in waiting)
            waiting.clear()
        last_ns = event.wall_ns
        events.append(event)
    skipped.extend(
        SkippedLine(n, raw, "raw line and no timestamp in the log") for n, raw in waiting
    )
    skipped.sort(key=lambda s: s.line_no)
    return ParsedLog(events=tuple(events), skipped=tuple(skipped))


def read_log(
    path: str | Path,
    *,
    source: str | None = None,
    tz: tzinfo = UTC,
    year: int | None = None,
    strict: bool = False,
    keep_raw: bool = False,
) -> ParsedLog:
    """:func:`parse_log` on a file; ``source`` defaults to the file name without suffix.

    Bytes that are not UTF-8 are replaced, never fatal.
    """
    file = Path(path)
    with file.open(encoding="utf-8", errors="replace", newline="\n") as stream:
        return parse_log(
            stream,
            source=file.stem if source is None else source,
            tz=tz,
            year=year,
            strict=strict,
            keep_raw=keep_raw,
        )


def _raw_event(source: str, text: str, wall_ns: int) -> Event:
    return Event(source=source, name=text, wall_ns=wall_ns, level="", role="", pid=None)
