"""Two cheap checks that answer most questions: lost acknowledged writes, and stale reads.

Both assume that every value is written at most once per key (workloads write unique
values), and both are sound: what they report is a real anomaly. They run in
O(n log n), so they finish on histories too large for the linearizability search.

**Lost writes** (set and list workloads): the final read of each key (the ``ok`` read
that completed last) should hold every element whose ``ok`` add completed before that
read began. Reported per key: acknowledged, lost, unknown-but-present (``info`` adds that
did land), unknown-and-absent, refused (``fail`` adds), refused-but-present (a ``fail``
that did happen: a violation too), unexpected (elements nobody tried to add), and
in-flight (``ok`` adds that completed after the final read began: not judged).

**Stale reads** (register workloads): a read is stale when it returns a value older than
a write that completed before the read began. Precisely, a read of ``v`` is stale when
some ``ok`` write ``w`` completed before the read was invoked, and ``w`` was invoked after
every write of ``v`` (and, for nil, the initial state) had completed. A read of a value no
operation wrote (or only ``fail`` operations) is reported too, as unwritten.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass

from labkit.history.errors import ModelError
from labkit.history.models import RegisterModel, get_model
from labkit.history.ops import History, Key, Operation, Value

__all__ = [
    "LostWrites",
    "LostWritesResult",
    "StaleRead",
    "StaleReadsResult",
    "check_lost_writes",
    "check_stale_reads",
]


@dataclass(frozen=True, slots=True)
class LostWrites:
    """The lost-writes check of one key."""

    key: Key
    final_read: Operation | None
    """None when the key has no ``ok`` read: nothing could be judged."""
    acknowledged: int
    lost: tuple[Operation, ...]
    unknown_present: int
    unknown_absent: int
    refused: int
    refused_present: tuple[Operation, ...]
    unexpected: tuple[Value, ...]
    in_flight: int

    @property
    def valid(self) -> bool:
        return not (self.lost or self.refused_present or self.unexpected)


@dataclass(frozen=True, slots=True)
class LostWritesResult:
    keys: tuple[LostWrites, ...]

    @property
    def valid(self) -> bool:
        return all(k.valid for k in self.keys)

    @property
    def acknowledged(self) -> int:
        return sum(k.acknowledged for k in self.keys)

    @property
    def lost(self) -> tuple[Operation, ...]:
        return tuple(op for k in self.keys for op in k.lost)

    @property
    def unknown_present(self) -> int:
        return sum(k.unknown_present for k in self.keys)

    @property
    def refused(self) -> int:
        return sum(k.refused for k in self.keys)


def _operations(history: History | Iterable[Operation]) -> tuple[Operation, ...]:
    return history.operations() if isinstance(history, History) else tuple(history)


def check_lost_writes(
    history: History | Iterable[Operation], model: str = "set"
) -> LostWritesResult:
    """Lost acknowledged writes of a ``set`` or ``list`` history (see the module docstring)."""
    the_model = get_model(model)
    if the_model.name not in ("set", "list"):
        raise ModelError(
            f"the lost-writes check is for set and list histories, not {the_model.name}"
        )
    by_key: dict[Key, list[tuple[str, Operation]]] = {}
    for op in _operations(history):
        f = the_model.canonical(op.f)
        if f is None:
            raise ModelError(
                f"model {the_model.name} has no operation {op.f!r}", line_no=op.call_line
            )
        by_key.setdefault(op.key, []).append((f, op))
    return LostWritesResult(
        tuple(_lost_writes_of_key(key, ops, the_model.reads) for key, ops in by_key.items())
    )


def _lost_writes_of_key(
    key: Key, ops: list[tuple[str, Operation]], reads: frozenset[str]
) -> LostWrites:
    final: Operation | None = None
    for f, op in ops:
        if (
            f in reads
            and op.outcome == "ok"
            and op.ret is not None
            and (final is None or (final.ret is not None and op.ret > final.ret))
        ):
            final = op
    adds = [op for f, op in ops if f not in reads]
    if final is None:
        return LostWrites(
            key, None, 0, (), 0, 0, sum(op.outcome == "fail" for op in adds), (), (), 0
        )
    seen = final.output
    present: set[Value] = set(seen) if isinstance(seen, tuple | frozenset) else set()
    acknowledged = unknown_present = unknown_absent = refused = in_flight = 0
    lost: list[Operation] = []
    refused_present: list[Operation] = []
    attempted: set[Value] = set()
    for op in adds:
        if op.outcome != "fail":
            attempted.add(op.value)
        if op.outcome == "ok":
            if op.ret is not None and op.ret < final.call:
                acknowledged += 1
                if op.value not in present:
                    lost.append(op)
            else:
                in_flight += 1
        elif op.outcome == "info":
            if op.value in present:
                unknown_present += 1
            else:
                unknown_absent += 1
        else:
            refused += 1
            if op.value in present:
                refused_present.append(op)
    refused_values = {op.value for op in refused_present}
    unexpected = tuple(v for v in present if v not in attempted and v not in refused_values)
    return LostWrites(
        key=key,
        final_read=final,
        acknowledged=acknowledged,
        lost=tuple(lost),
        unknown_present=unknown_present,
        unknown_absent=unknown_absent,
        refused=refused,
        refused_present=tuple(refused_present),
        unexpected=tuple(sorted(unexpected, key=repr)),
        in_flight=in_flight,
    )


@dataclass(frozen=True, slots=True)
class StaleRead:
    read: Operation
    newer_write: Operation
    """An ``ok`` write that completed before the read began, and began after every write of
    the value read had completed."""
    source: Operation | None
    """The write of the value read that completed last; None for the initial nil."""


@dataclass(frozen=True, slots=True)
class StaleReadsResult:
    stale: tuple[StaleRead, ...]
    unwritten: tuple[Operation, ...]
    """Reads of a value that no ``ok`` or ``info`` operation wrote."""
    reads: int
    """``ok`` reads examined."""

    @property
    def valid(self) -> bool:
        return not (self.stale or self.unwritten)


_REGISTER = RegisterModel()


def check_stale_reads(history: History | Iterable[Operation]) -> StaleReadsResult:
    """Stale reads of a register history (read/write/cas; see the module docstring)."""
    by_key: dict[Key, list[tuple[str, Operation]]] = {}
    for op in _operations(history):
        f = _REGISTER.canonical(op.f)
        if f is None:
            raise ModelError(f"model register has no operation {op.f!r}", line_no=op.call_line)
        by_key.setdefault(op.key, []).append((f, op))
    stale: list[StaleRead] = []
    unwritten: list[Operation] = []
    reads = 0
    for ops in by_key.values():
        found_stale, found_unwritten, count = _stale_reads_of_key(ops)
        stale += found_stale
        unwritten += found_unwritten
        reads += count
    return StaleReadsResult(tuple(stale), tuple(unwritten), reads)


def _written(f: str, op: Operation) -> Value:
    if f == "cas" and isinstance(op.value, tuple) and len(op.value) == 2:
        return op.value[1]
    return op.value


def _stale_reads_of_key(
    ops: list[tuple[str, Operation]],
) -> tuple[list[StaleRead], list[Operation], int]:
    # The latest-finishing write of each value: its end (+inf for info) and the op.
    sources: dict[Value, tuple[float, Operation]] = {}
    done: list[tuple[int, int, Operation, Value]] = []  # ok writes: (ret, call, op, value)
    for f, op in ops:
        if f == "read" or op.outcome == "fail":
            continue
        value = _written(f, op)
        end = math.inf if op.outcome == "info" or op.ret is None else float(op.ret)
        if value not in sources or end > sources[value][0]:
            sources[value] = (end, op)
        if op.outcome == "ok" and op.ret is not None:
            done.append((op.ret, op.call, op, value))
    done.sort(key=lambda item: item[0])
    ends = [item[0] for item in done]
    # latest[i]: of the first i+1 completed writes, the one invoked last.
    latest: list[tuple[int, Operation, Value]] = []
    for _ret, call, op, value in done:
        if not latest or call > latest[-1][0]:
            latest.append((call, op, value))
        else:
            latest.append(latest[-1])
    stale: list[StaleRead] = []
    unwritten: list[Operation] = []
    reads = 0
    for f, op in ops:
        if f != "read" or op.outcome != "ok":
            continue
        reads += 1
        value = op.output
        source = sources.get(value)
        if source is None and value is not None:
            unwritten.append(op)
            continue
        count = bisect.bisect_left(ends, op.call)
        if not count:
            continue
        call, newest, newest_value = latest[count - 1]
        if newest_value == value:
            continue
        source_end = -1.0 if source is None else source[0]
        if value is None:
            source_end = max(source_end, -1.0)
        if call > source_end:
            stale.append(StaleRead(op, newest, None if source is None else source[1]))
    return stale, unwritten, reads
