"""Events, operations, and how the first pair up into the second.

A history is a sequence of :class:`HistoryEvent` in real-time order. Each client operation
is an ``invoke`` event followed, later, by one completion event of the same process:

- ``ok``: it happened; a read's completion carries the value read;
- ``fail``: it certainly did not happen;
- ``info``: unknown (a timeout, a broken connection). It may take effect at any time after
  its invoke, or never. Its process issues nothing more; the client goes on under a new
  process id.

An invoke left without a completion at the end of the history counts as ``info``.
:func:`pair_operations` turns the events into :class:`Operation` records.

Values are frozen so that models can keep them in hashable states: JSON arrays and EDN
vectors and lists become tuples, EDN sets become frozensets, maps become tuples of
``(key, value)`` pairs in their written order. :func:`freeze` and :func:`thaw` convert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from labkit.history.errors import HistoryFormatError

__all__ = [
    "EVENT_TYPES",
    "NEMESIS",
    "EventType",
    "History",
    "HistoryEvent",
    "HistoryHeader",
    "Key",
    "Operation",
    "Outcome",
    "Process",
    "Value",
    "freeze",
    "pair_operations",
    "thaw",
]

Value: TypeAlias = bool | int | float | str | tuple["Value", ...] | frozenset["Value"] | None
"""A frozen JSON or EDN value."""
Key: TypeAlias = Value
"""The object an operation is on; ``None`` when the history has a single object."""
Process: TypeAlias = int | str
EventType: TypeAlias = Literal["invoke", "ok", "fail", "info"]
Outcome: TypeAlias = Literal["ok", "fail", "info"]

EVENT_TYPES: tuple[EventType, ...] = ("invoke", "ok", "fail", "info")
NEMESIS = "nemesis"
"""Jepsen's fault injector logs itself as a process of this name; its events are skipped."""


def freeze(obj: object) -> Value:
    """``obj`` (as ``json.loads`` returns it) as a hashable :data:`Value`.

    Bytes (redis-py replies without ``decode_responses``) become UTF-8 text. TypeError for
    anything else that is not JSON or EDN data.
    """
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, bytes | bytearray):  # redis-py without decode_responses
        return bytes(obj).decode("utf-8", errors="backslashreplace")
    if isinstance(obj, list | tuple):
        return tuple(freeze(item) for item in obj)
    if isinstance(obj, set | frozenset):
        return frozenset(freeze(item) for item in obj)
    if isinstance(obj, Mapping):
        return tuple((freeze(k), freeze(v)) for k, v in obj.items())
    raise TypeError(f"not a JSON or EDN value: {obj!r}")


def thaw(value: Value) -> object:
    """``value`` as plain JSON data: tuples become lists, frozensets sorted lists."""
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    if isinstance(value, frozenset):
        return sorted((thaw(item) for item in value), key=_sort_key)
    return value


def _sort_key(item: object) -> tuple[str, str]:
    return (type(item).__name__, repr(item))


@dataclass(frozen=True, slots=True)
class HistoryHeader:
    """The wall-clock anchor of a history, and free-form metadata.

    ``mono_ns`` and ``wall_ns`` were read at the same instant when recording began, so an
    event's ``time`` (monotonic ns) sits at ``wall_ns + (time - mono_ns)`` on the wall clock.
    """

    wall_ns: int
    mono_ns: int | None = None
    meta: Mapping[str, object] = field(default_factory=dict)

    def wall_ns_of(self, time_ns: int) -> int | None:
        """The wall-clock time (UTC ns) of a monotonic reading, or None without ``mono_ns``."""
        if self.mono_ns is None:
            return None
        return self.wall_ns + (time_ns - self.mono_ns)


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One line of a history."""

    process: Process
    type: EventType
    f: str
    value: Value = None
    key: Key = None
    time: int | None = None
    """Monotonic nanoseconds, when recorded."""
    line: int | None = None
    """The 1-based line of the input this event came from, when it was read from a file."""
    error: str | None = None
    """The error text behind a ``fail`` or ``info`` completion, when recorded."""

    def __post_init__(self) -> None:
        # Accept plain JSON data (lists, dicts) and freeze it, so that events stay hashable.
        for name in ("value", "key"):
            item = getattr(self, name)
            if not (item is None or isinstance(item, int | float | str)):
                object.__setattr__(self, name, freeze(item))


@dataclass(frozen=True, slots=True)
class History:
    """A history as read from a file: its header (if any) and its events in order."""

    events: tuple[HistoryEvent, ...]
    header: HistoryHeader | None = None

    def operations(self) -> tuple[Operation, ...]:
        """The events paired into operations (see :func:`pair_operations`)."""
        return pair_operations(self.events)


@dataclass(frozen=True, slots=True)
class Operation:
    """One client operation: an invoke and its completion.

    ``call`` and ``ret`` are the positions of the two events in the history; they order
    operations in real time. ``ret`` is None when no completion was recorded; every
    ``info`` operation is treated as never returning, whatever ``ret`` says.
    """

    index: int
    """Position among the history's operations, in invoke order."""
    process: Process
    f: str
    key: Key
    value: Value
    """The invoke's value: what was written, ``[from, to]`` of a cas; nil for a read."""
    output: Value
    """The completion's value for ``ok`` (what a read read); None for ``fail`` and ``info``."""
    outcome: Outcome
    call: int
    ret: int | None
    call_time: int | None = None
    return_time: int | None = None
    call_line: int | None = None
    return_line: int | None = None

    def precedes(self, other: Operation) -> bool:
        """Whether this operation certainly finished before ``other`` began."""
        return self.outcome != "info" and self.ret is not None and self.ret < other.call

    def describe(self) -> str:
        """A short description: ``p3 write 5 on k1 (ok)``, ``p1 read -> 5 (ok)``."""
        text = f"p{self.process} {self.f}"
        if self.value is not None:
            text += f" {_show(self.value)}"
        if self.key is not None:
            text += f" on {_show(self.key)}"
        if self.outcome == "ok" and (self.value is None or self.output not in (None, self.value)):
            text += f" -> {_show(self.output)}"
        return f"{text} ({self.outcome})"

    def lines(self) -> str:
        """Where the operation is in the input: ``lines 3-7``, ``line 3``, or ``''``."""
        if self.call_line is None:
            return ""
        if self.return_line is None:
            return f"line {self.call_line}"
        return f"lines {self.call_line}-{self.return_line}"


def _show(value: Value) -> str:
    if value is None:
        return "nil"
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return "[" + " ".join(_show(v) for v in value) + "]"
    if isinstance(value, frozenset):
        return "#{" + " ".join(sorted(_show(v) for v in value)) + "}"
    return repr(value)


@dataclass(slots=True)
class _Pending:
    index: int
    event: HistoryEvent
    position: int


def pair_operations(events: Iterable[HistoryEvent]) -> tuple[Operation, ...]:
    """Pair invokes with completions, process by process.

    Events of Jepsen's ``nemesis`` process are skipped. Raises
    :class:`~labkit.history.errors.HistoryFormatError` (naming the line) for a completion
    without a pending invoke, a second invoke while one is pending, or a completion whose
    function or key differs from its invoke's.
    """
    pending: dict[Process, _Pending] = {}
    built: dict[int, Operation] = {}
    count = 0
    for position, event in enumerate(events):
        if event.process == NEMESIS:
            continue
        if event.type == "invoke":
            open_op = pending.get(event.process)
            if open_op is not None:
                raise HistoryFormatError(
                    f"process {event.process} invokes {event.f} while its {open_op.event.f}"
                    f"{_at(open_op.event.line)} is still pending",
                    line_no=event.line,
                )
            pending[event.process] = _Pending(count, event, position)
            count += 1
            continue
        start = pending.pop(event.process, None)
        if start is None:
            raise HistoryFormatError(
                f"{event.type} {event.f} of process {event.process} has no pending invoke",
                line_no=event.line,
            )
        invoke = start.event
        if event.f != invoke.f:
            raise HistoryFormatError(
                f"completion {event.f} of process {event.process} does not match its invoke "
                f"{invoke.f}{_at(invoke.line)}",
                line_no=event.line,
            )
        if event.key is not None and invoke.key is not None and event.key != invoke.key:
            raise HistoryFormatError(
                f"completion of process {event.process} names key {_show(event.key)}, its "
                f"invoke{_at(invoke.line)} key {_show(invoke.key)}",
                line_no=event.line,
            )
        outcome = _OUTCOMES[event.type]
        built[start.index] = Operation(
            index=start.index,
            process=event.process,
            f=invoke.f,
            key=invoke.key if invoke.key is not None else event.key,
            value=invoke.value,
            output=event.value if outcome == "ok" else None,
            outcome=outcome,
            call=start.position,
            ret=position,
            call_time=invoke.time,
            return_time=event.time,
            call_line=invoke.line,
            return_line=event.line,
        )
    for start in pending.values():
        invoke = start.event
        built[start.index] = Operation(
            index=start.index,
            process=invoke.process,
            f=invoke.f,
            key=invoke.key,
            value=invoke.value,
            output=None,
            outcome="info",
            call=start.position,
            ret=None,
            call_time=invoke.time,
            call_line=invoke.line,
        )
    return tuple(built[i] for i in range(count))


_OUTCOMES: dict[str, Outcome] = {"ok": "ok", "fail": "fail", "info": "info"}


def _at(line: int | None) -> str:
    return "" if line is None else f" (line {line})"
