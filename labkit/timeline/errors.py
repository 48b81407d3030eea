"""Errors of ``labkit.timeline``: one root, one subclass per kind of bad input."""

from __future__ import annotations

__all__ = ["EventStreamError", "LogFormatError", "LogParseError", "MergeError", "TimelineError"]


class TimelineError(Exception):
    """Root of every error that ``labkit.timeline`` raises on purpose."""


class LogParseError(TimelineError, ValueError):
    """A log line that is not in Redis's log format (raised only in strict mode)."""

    def __init__(self, reason: str, *, line_no: int | None = None, line: str = "") -> None:
        where = f"line {line_no}: " if line_no is not None else ""
        super().__init__(f"{where}{reason}: {line[:120]!r}")
        self.reason = reason
        self.line_no = line_no
        self.line = line


class LogFormatError(TimelineError, ValueError):
    """An event that cannot be written: as a Redis log line (bad level, role, pid, line
    break), or at all (a time outside the years 1 to 9999)."""


class EventStreamError(TimelineError, ValueError):
    """A malformed line in a JSON-lines event stream."""

    def __init__(self, reason: str, *, line_no: int) -> None:
        super().__init__(f"line {line_no}: {reason}")
        self.reason = reason
        self.line_no = line_no


class MergeError(TimelineError, ValueError):
    """Sources that cannot be put on one time axis (for example a missing ``mono_ns``)."""
