"""``SENTINEL SIMULATE-FAILURE``: crash on purpose at a failover point (Redis's
``simfailure_flags`` and ``sentinelSimFailureCrash``).

The core never exits: at the matching point it returns ``Apply(SimulatedCrash(point))``
after the event that marks the point (``+elected-leader`` or ``+promoted-slave``), and
stops that step of the failover there. The driver carries it out as Redis does: it logs
:data:`CRASH_LOG_LINE` and exits with status :data:`CRASH_EXIT_STATUS` at once, with
no shutdown (what was saved before the event is on disk; nothing after it happens).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntFlag

from labkit.actions import Apply
from sentinel_lab.core.replies import ErrorReply

__all__ = [
    "CRASH_EXIT_STATUS",
    "CRASH_LOG_LINE",
    "HELP_REPLY",
    "SimFailure",
    "SimulateFailureOutcome",
    "SimulatedCrash",
    "crash_action",
    "parse_simulate_failure",
]

CRASH_LOG_LINE = "Sentinel CRASH because of SENTINEL simulate-failure"
"""Logged at warning level right before the exit (``sentinelSimFailureCrash``)."""
CRASH_EXIT_STATUS = 99
"""Redis's ``exit(99)``."""
HELP_REPLY = ("crash-after-election", "crash-after-promotion")
"""``SENTINEL SIMULATE-FAILURE HELP``: an array of these two bulk strings."""

_ELECTION_LOG = (
    "Failure simulation: this Sentinel will crash after being successfully elected "
    "as failover leader"
)
_PROMOTION_LOG = (
    "Failure simulation: this Sentinel will crash after promoting the selected replica to master"
)
_UNKNOWN = ErrorReply("ERR Unknown failure simulation specified")


class SimFailure(IntFlag):
    """The flags, with Redis's bit values (INFO shows them as a number)."""

    NONE = 0
    CRASH_AFTER_ELECTION = 1
    CRASH_AFTER_PROMOTION = 2


@dataclass(frozen=True, slots=True)
class SimulatedCrash:
    """The payload of the ``Apply`` that asks the driver to crash: ``point`` is
    ``"election"`` or ``"promotion"``."""

    point: str


@dataclass(frozen=True, slots=True)
class SimulateFailureOutcome:
    """What ``SENTINEL SIMULATE-FAILURE <args>`` does: the flags it leaves set, the
    warning lines it logs, and its reply (``"OK"``, ``"HELP"`` for the help array, or
    the error)."""

    flags: SimFailure
    log_lines: tuple[str, ...]
    reply: str | ErrorReply


def parse_simulate_failure(args: Sequence[str]) -> SimulateFailureOutcome:
    """Redis's loop over the arguments: the flags are cleared first and set one
    argument at a time, so ``HELP`` or an unknown name stops the loop with the flags
    read before it still set."""
    flags = SimFailure.NONE
    lines: list[str] = []
    for arg in args:
        option = arg.lower()
        if option == "crash-after-election":
            flags |= SimFailure.CRASH_AFTER_ELECTION
            lines.append(_ELECTION_LOG)
        elif option == "crash-after-promotion":
            flags |= SimFailure.CRASH_AFTER_PROMOTION
            lines.append(_PROMOTION_LOG)
        elif option == "help":
            return SimulateFailureOutcome(flags, tuple(lines), "HELP")
        else:
            return SimulateFailureOutcome(flags, tuple(lines), _UNKNOWN)
    return SimulateFailureOutcome(flags, tuple(lines), "OK")


def crash_action(flags: SimFailure, flag: SimFailure, point: str) -> Apply | None:
    """The crash action if ``flag`` is set in ``flags``."""
    return Apply(SimulatedCrash(point)) if flags & flag else None
