"""The history file format: JSON lines, one event per line, in real-time order.

An event line::

    {"process": 3, "type": "invoke", "f": "cas", "value": [1, 2], "key": "k1", "time": 1234567}

- ``process`` (int or string), ``type`` (``invoke``, ``ok``, ``fail``, ``info``) and ``f``
  (a string) are required;
- ``value`` defaults to null. A cas value is ``[from, to]``; a read's completion carries
  the value read (null for nil);
- ``key`` is optional: absent means the history has one single object;
- ``time`` is optional: monotonic nanoseconds;
- ``error`` is optional: the error text behind a ``fail`` or ``info``;
- other fields are ignored, so that later writers can add some.

**The wall-clock anchor.** A recorded history starts with one header line (contracts,
"Time": a history records its wall-clock anchor at start)::

    {"kind": "labkit-history", "version": 1, "wall_ns": 1795667827083456789,
     "wall": "2026-11-26T04:37:07.083Z", "mono_ns": 5123456789, "meta": {"workload": "..."}}

``wall_ns`` (UTC ns) and ``mono_ns`` were read at the same instant, so an event's ``time``
is at ``wall_ns + (time - mono_ns)`` on the wall clock. ``wall`` is the same instant for
people. The header is optional for readers (hand-written histories need none) but may only
be the first line. Blank lines are skipped.

The same events are also read as Jepsen/Knossos EDN (see :mod:`labkit.history.edn`);
:func:`parse_history` tells the formats apart by the first line.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, TextIO, TypeAlias

from labkit.history.errors import HistoryFormatError
from labkit.history.ops import (
    EVENT_TYPES,
    History,
    HistoryEvent,
    HistoryHeader,
    freeze,
    thaw,
)

__all__ = [
    "FORMATS",
    "HEADER_KIND",
    "HEADER_VERSION",
    "Format",
    "detect_format",
    "dumps_event",
    "dumps_header",
    "event_from_mapping",
    "format_wall",
    "parse_history",
    "parse_jsonl",
    "read_history",
    "write_history",
]

Format: TypeAlias = Literal["auto", "jsonl", "edn", "jepsen-log"]
FORMATS: tuple[Format, ...] = ("auto", "jsonl", "edn", "jepsen-log")
HEADER_KIND = "labkit-history"
HEADER_VERSION = 1

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_JEPSEN_LOG = re.compile(r"^\S+\s+jepsen\.util\s+-\s+\S+\s")
_JEPSEN_LOG_ANYWHERE = re.compile(r"^\S+\s+jepsen\.util\s+-\s+\S+\s", re.MULTILINE)


def format_wall(wall_ns: int) -> str:
    """``wall_ns`` as ISO-8601 UTC with milliseconds: ``2026-11-26T04:37:07.083Z``."""
    ms = wall_ns // 1_000_000
    when = _EPOCH + timedelta(milliseconds=ms)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def dumps_header(header: HistoryHeader) -> str:
    """The header line (without newline)."""
    record: dict[str, object] = {
        "kind": HEADER_KIND,
        "version": HEADER_VERSION,
        "wall_ns": header.wall_ns,
        "wall": format_wall(header.wall_ns),
        "mono_ns": header.mono_ns,
        "meta": dict(header.meta),
    }
    return json.dumps(record, separators=(", ", ": "), default=str)


def dumps_event(event: HistoryEvent) -> str:
    """One event line (without newline). Optional fields are written only when set."""
    record: dict[str, object] = {
        "process": event.process,
        "type": event.type,
        "f": event.f,
        "value": thaw(event.value),
    }
    if event.key is not None:
        record["key"] = thaw(event.key)
    if event.time is not None:
        record["time"] = event.time
    if event.error is not None:
        record["error"] = event.error
    return json.dumps(record, separators=(", ", ": "))


def event_from_mapping(record: Mapping[str, object], line_no: int | None) -> HistoryEvent:
    """An event from a decoded JSON object or EDN map (keys without their colon)."""
    process = record.get("process")
    if isinstance(process, bool) or not isinstance(process, int | str):
        raise HistoryFormatError(
            f"'process' must be an integer or a string, not {process!r}", line_no=line_no
        )
    kind = record.get("type")
    if kind not in EVENT_TYPES:
        raise HistoryFormatError(
            f"'type' must be one of {', '.join(EVENT_TYPES)}, not {kind!r}", line_no=line_no
        )
    f = record.get("f")
    if not isinstance(f, str) or not f:
        raise HistoryFormatError(f"'f' must be a non-empty string, not {f!r}", line_no=line_no)
    time = record.get("time")
    if time is not None and (isinstance(time, bool) or not isinstance(time, int)):
        raise HistoryFormatError(
            f"'time' must be integer nanoseconds, not {time!r}", line_no=line_no
        )
    error = record.get("error")
    try:
        value = freeze(record.get("value"))
        key = freeze(record.get("key"))
    except TypeError as exc:
        raise HistoryFormatError(str(exc), line_no=line_no) from None
    return HistoryEvent(
        process=process,
        type=kind,
        f=f,
        value=value,
        key=key,
        time=time,
        line=line_no,
        error=None if error is None else str(error),
    )


def _header_from_mapping(record: Mapping[str, object], line_no: int) -> HistoryHeader:
    version = record.get("version")
    if version != HEADER_VERSION:
        raise HistoryFormatError(
            f"unsupported history version {version!r} (this reader knows {HEADER_VERSION})",
            line_no=line_no,
        )
    wall_ns = record.get("wall_ns")
    mono_ns = record.get("mono_ns")
    meta = record.get("meta", {})
    if isinstance(wall_ns, bool) or not isinstance(wall_ns, int):
        raise HistoryFormatError(
            f"header 'wall_ns' must be an integer, not {wall_ns!r}", line_no=line_no
        )
    if mono_ns is not None and (isinstance(mono_ns, bool) or not isinstance(mono_ns, int)):
        raise HistoryFormatError(
            f"header 'mono_ns' must be an integer, not {mono_ns!r}", line_no=line_no
        )
    if not isinstance(meta, dict):
        raise HistoryFormatError(f"header 'meta' must be an object, not {meta!r}", line_no=line_no)
    return HistoryHeader(wall_ns=wall_ns, mono_ns=mono_ns, meta=meta)


def parse_jsonl(lines: Iterable[str]) -> History:
    """A history from JSON lines. :class:`HistoryFormatError` names the first bad line."""
    header: HistoryHeader | None = None
    events: list[HistoryEvent] = []
    seen_any = False
    for line_no, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HistoryFormatError(
                f"not JSON: {exc.msg} at column {exc.colno}", line_no=line_no
            ) from None
        except RecursionError:
            raise HistoryFormatError("JSON nested too deeply", line_no=line_no) from None
        if not isinstance(record, dict):
            raise HistoryFormatError(
                f"expected a JSON object, got {type(record).__name__}", line_no=line_no
            )
        if record.get("kind") == HEADER_KIND:
            if seen_any:
                raise HistoryFormatError(
                    "a history header may only be the first line", line_no=line_no
                )
            header = _header_from_mapping(record, line_no)
        else:
            events.append(event_from_mapping(record, line_no))
        seen_any = True
    return History(events=tuple(events), header=header)


def detect_format(text: str) -> Literal["jsonl", "edn", "jepsen-log"]:
    """Which format ``text`` is in, from its first non-blank line (or, for a Jepsen log,
    from any ``jepsen.util`` op line)."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if re.match(r'^\{\s*("|\})', line):
            return "jsonl"
        if _JEPSEN_LOG.match(line):
            return "jepsen-log"
        if line[0] in "{[(;#":
            return "edn"
        if _JEPSEN_LOG_ANYWHERE.search(text):
            return "jepsen-log"  # a Jepsen log starts with other loggers' lines
        raise HistoryFormatError(
            f"cannot tell the format from {line[:60]!r}; expected JSON lines, EDN maps, "
            "or a Jepsen log (give --format)",
            line_no=_first_nonblank(text),
        )
    return "jsonl"


def _first_nonblank(text: str) -> int:
    for line_no, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            return line_no
    return 1


def parse_history(text: str, fmt: Format = "auto") -> History:
    """A history from the text of a file, in the given format or the detected one."""
    if fmt == "auto":
        fmt = detect_format(text)
    if fmt == "jsonl":
        return parse_jsonl(text.splitlines())
    from labkit.history import edn

    if fmt == "edn":
        return edn.parse_edn_history(text)
    if fmt == "jepsen-log":
        return edn.parse_jepsen_log(text)
    raise HistoryFormatError(f"unknown history format {fmt!r} (known: {', '.join(FORMATS)})")


def read_history(path: str | Path, fmt: Format = "auto") -> History:
    """Read a history file (``-`` for standard input).

    :class:`HistoryFormatError` for bad contents; ``OSError`` if it cannot be read.
    """
    if str(path) == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise HistoryFormatError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    return parse_history(text, fmt)


def write_history(
    target: str | Path | TextIO, events: Iterable[HistoryEvent], header: HistoryHeader | None = None
) -> None:
    """Write a history as JSON lines (with the header first, if given)."""
    if isinstance(target, str | Path):
        with Path(target).open("w", encoding="utf-8") as out:
            write_history(out, events, header)
        return
    if header is not None:
        target.write(dumps_header(header) + "\n")
    for event in events:
        target.write(dumps_event(event) + "\n")
