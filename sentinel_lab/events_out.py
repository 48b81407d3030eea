"""Where a running sentinel's events and log messages go.

* Redis-format log lines (``pid:X 26 Nov 2026 05:26:08.678 # +monitor ...``) to
  ``logfile``, or to standard output when it is empty, filtered by ``loglevel`` as
  Redis filters them; the time is local time, as Redis writes it;
* one JSON line per event (every level) to the ``--log-json`` file;
* the core's events get their wall-clock and monotonic times here: a core never reads
  a clock, so its ``wall_ns`` is only its monotonic ms.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TextIO

from labkit.events import Event
from labkit.timeline.jsonl import EventStreamWriter
from labkit.timeline.redislog import LEVELS, format_line

__all__ = ["EventOutput", "level_passes"]

_ORDER = ".-*#"


def level_passes(level: str, loglevel: str) -> bool:
    """Whether a line at ``level`` (``.-*#``) is written at Redis verbosity ``loglevel``."""
    wanted = LEVELS.get(loglevel, "*")
    return _ORDER.index(level) >= _ORDER.index(wanted) if level in _ORDER else True


class EventOutput:
    """The log stream and the JSON-lines stream of one sentinel process."""

    def __init__(
        self,
        *,
        logfile: str = "",
        json_path: str | None = None,
        loglevel: str = "notice",
        source: str = "sentinel_lab",
    ) -> None:
        self.pid = os.getpid()
        self.loglevel = loglevel
        self.source = source
        self._tz: tzinfo = datetime.now().astimezone().tzinfo or UTC
        self._own_log = bool(logfile)
        self._log: TextIO = (
            Path(logfile).open("a", encoding="utf-8") if logfile else sys.stdout  # noqa: SIM115
        )
        self._json_file: TextIO | None = None
        self._json: EventStreamWriter | None = None
        if json_path:
            self._json_file = Path(json_path).open("a", encoding="utf-8")  # noqa: SIM115
            self._json = EventStreamWriter(self._json_file)

    def stamp(self, event: Event) -> Event:
        """``event`` with this process's clocks, pid and source."""
        return replace(
            event,
            wall_ns=time.time_ns(),
            mono_ns=time.monotonic_ns(),
            pid=self.pid,
            role="X",
            source=self.source,
        )

    def event(self, event: Event) -> Event:
        """Write a core event (stamped here) to the log and the JSON stream."""
        stamped = self.stamp(event)
        self._write_line(stamped)
        if self._json is not None:
            self._json.write(stamped)
        return stamped

    def log(self, level: str, message: str) -> None:
        """A plain log message (not an event): log file only."""
        self._write_line(
            Event(source=self.source, name=message, wall_ns=time.time_ns(), level=level, role="X")
        )

    def _write_line(self, event: Event) -> None:
        if not level_passes(event.level, self.loglevel):
            return
        line = format_line(event, tz=self._tz, default_pid=self.pid)
        with contextlib.suppress(OSError, ValueError):
            self._log.write(line + "\n")
            self._log.flush()

    def close(self) -> None:
        """Close the files this output opened."""
        if self._own_log:
            with contextlib.suppress(OSError):
                self._log.close()
        if self._json_file is not None:
            with contextlib.suppress(OSError):
                self._json_file.close()
