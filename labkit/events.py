"""The one event record that every part of the lab produces and consumes.

Our cores emit these (through the ``Emit`` action), the log parser turns real Redis
and Sentinel log lines into them, and ``labkit.timeline`` merges and renders them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Event"]


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened, as a Redis log line would tell it.

    ``name`` is the event as Redis names it (``+sdown``, ``+switch-master``) or, for
    log lines that are not events, the whole message. ``instance`` is Redis's instance
    part (``master mymaster 127.0.0.1 6379``), ``details`` the rest (``#quorum 2/2``).
    ``wall_ns`` is UTC Unix time in nanoseconds, as Redis logs it (millisecond
    precision in parsed logs). ``mono_ns`` is a monotonic clock reading where the
    producer had one (our own processes); parsed logs have ``None``.
    """

    source: str
    name: str
    wall_ns: int
    instance: str = ""
    details: str = ""
    mono_ns: int | None = None
    level: str = "#"
    pid: int | None = None
    role: str = "X"

    @property
    def message(self) -> str:
        """The message part of the Redis log line: ``name instance details``."""
        return " ".join(part for part in (self.name, self.instance, self.details) if part)
