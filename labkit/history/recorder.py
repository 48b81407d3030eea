"""Recording histories from workloads.

::

    recorder = HistoryRecorder("runs/h.jsonl", meta={"workload": "register"})
    op = recorder.invoke(process, "write", 3, key="k1")
    try:
        client.set("k1", 3)
    except Exception as exc:
        recorder.error(op, exc)       # fail or info, by labkit.history.outcomes
    else:
        recorder.ok(op)
    ...
    recorder.close()

or, the same with a context manager (the error is recorded, then re-raised)::

    with recorder.operation(process, "read", key="k1") as op:
        op.ok(client.get("k1"))

The recorder writes JSON lines (:mod:`labkit.history.format`), starting with the header
that holds the wall-clock anchor, and flushes each line so that a history survives a
crash of the workload. Every event carries ``time``, monotonic nanoseconds.

It is thread-safe (one lock orders the events and the lines), and asyncio-friendly: no
method blocks on anything but a short buffered file write, so coroutines call it
directly. Events are in the order of the calls, which is the real-time order.

Jepsen's rule is enforced: a process that ended with ``info`` issues nothing more, so the
client goes on under :meth:`HistoryRecorder.new_process`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TextIO

from labkit.history.errors import RecorderError
from labkit.history.format import dumps_event, dumps_header
from labkit.history.ops import (
    History,
    HistoryEvent,
    HistoryHeader,
    Key,
    Outcome,
    Process,
    freeze,
)
from labkit.history.outcomes import outcome_of

__all__ = ["HistoryRecorder", "OpHandle", "PendingOp"]


@dataclass(frozen=True, slots=True)
class OpHandle:
    """An invoked operation, to pass to :meth:`HistoryRecorder.complete`."""

    id: int
    process: Process
    f: str
    key: Key


class HistoryRecorder:
    """Records a history as JSON lines; see the module docstring.

    ``sink`` is a path (opened for writing, and closed by :meth:`close`), an open text
    file (left open), or None to keep the history in memory only. ``keep`` keeps the
    events in memory too (for :meth:`history`). The clocks can be replaced in tests.
    """

    def __init__(
        self,
        sink: str | Path | TextIO | None = None,
        *,
        meta: Mapping[str, object] | None = None,
        keep: bool = True,
        flush: bool = True,
        mono_ns: Callable[[], int] = time.monotonic_ns,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._lock = threading.Lock()
        self._mono_ns = mono_ns
        self._flush = flush
        self._keep = keep
        self._events: list[HistoryEvent] = []
        self._pending: dict[int, OpHandle] = {}
        self._busy: dict[Process, int] = {}
        self._retired: set[Process] = set()
        self._max_process = -1
        self._next_id = 0
        self._closed = False
        self._owns_file = isinstance(sink, str | Path)
        self._out: TextIO | None
        if isinstance(sink, str | Path):
            Path(sink).parent.mkdir(parents=True, exist_ok=True)
            self._out = Path(sink).open("w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        else:
            self._out = sink
        before = mono_ns()
        wall = wall_ns()
        after = mono_ns()
        self.header = HistoryHeader(
            wall_ns=wall, mono_ns=(before + after) // 2, meta=dict(meta or {})
        )
        self._write(dumps_header(self.header))

    def _write(self, line: str) -> None:
        if self._out is not None:
            self._out.write(line + "\n")
            if self._flush:
                self._out.flush()

    def _record(self, event: HistoryEvent) -> None:
        if self._keep:
            self._events.append(event)
        self._write(dumps_event(event))

    def new_process(self) -> int:
        """An integer process id that no event has used yet."""
        with self._lock:
            self._max_process += 1
            return self._max_process

    def invoke(
        self, process: Process, f: str, value: object = None, key: object = None
    ) -> OpHandle:
        """Record the start of an operation; returns its handle."""
        frozen_value = freeze(value)
        frozen_key = freeze(key)
        with self._lock:
            self._check_open()
            if process in self._retired:
                raise RecorderError(
                    f"process {process} ended with info and may not invoke again; use new_process()"
                )
            if process in self._busy:
                raise RecorderError(f"process {process} already has an operation pending")
            if isinstance(process, int) and process > self._max_process:
                self._max_process = process
            handle = OpHandle(self._next_id, process, f, frozen_key)
            self._next_id += 1
            self._pending[handle.id] = handle
            self._busy[process] = handle.id
            self._record(
                HistoryEvent(
                    process=process,
                    type="invoke",
                    f=f,
                    value=frozen_value,
                    key=frozen_key,
                    time=self._mono_ns(),
                )
            )
            return handle

    def complete(
        self, handle: OpHandle, type: Outcome, value: object = None, *, error: str | None = None
    ) -> None:
        """Record the completion of ``handle``: ``ok``, ``fail`` or ``info``."""
        if type not in ("ok", "fail", "info"):
            raise RecorderError(f"a completion is ok, fail or info, not {type!r}")
        frozen_value = freeze(value)
        with self._lock:
            self._check_open()
            if self._pending.pop(handle.id, None) is None:
                raise RecorderError(f"operation {handle.id} ({handle.f}) is not pending")
            del self._busy[handle.process]
            if type == "info":
                self._retired.add(handle.process)
            self._record(
                HistoryEvent(
                    process=handle.process,
                    type=type,
                    f=handle.f,
                    value=frozen_value,
                    key=handle.key,
                    time=self._mono_ns(),
                    error=error,
                )
            )

    def ok(self, handle: OpHandle, value: object = None) -> None:
        """It happened; for a read, ``value`` is what was read."""
        self.complete(handle, "ok", value)

    def fail(self, handle: OpHandle, error: str | None = None) -> None:
        """It certainly did not happen."""
        self.complete(handle, "fail", error=error)

    def info(self, handle: OpHandle, error: str | None = None) -> None:
        """Unknown; the process is retired."""
        self.complete(handle, "info", error=error)

    def error(self, handle: OpHandle, exc: BaseException | str) -> Outcome:
        """Complete ``handle`` with the outcome of an error (see :func:`outcome_of`)."""
        outcome = outcome_of(exc)
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        self.complete(handle, outcome, error=text)
        return outcome

    @contextmanager
    def operation(
        self, process: Process, f: str, value: object = None, key: object = None
    ) -> Iterator[PendingOp]:
        """Invoke, run the block, complete: an error in the block is recorded (``fail`` or
        ``info``) and re-raised; a block that completes nothing records ``info``."""
        pending = PendingOp(self, self.invoke(process, f, value, key))
        try:
            yield pending
        except BaseException as exc:
            if not pending.done:
                pending.done = True
                self.error(pending.handle, exc)
            raise
        if not pending.done:
            pending.done = True
            self.info(pending.handle, "the operation was left without a completion")

    def pending(self) -> tuple[OpHandle, ...]:
        """The operations invoked and not completed yet."""
        with self._lock:
            return tuple(self._pending.values())

    def events(self) -> tuple[HistoryEvent, ...]:
        """The events recorded so far (empty unless ``keep``)."""
        with self._lock:
            return tuple(self._events)

    def history(self) -> History:
        """The history recorded so far (events only if ``keep``)."""
        with self._lock:
            return History(events=tuple(self._events), header=self.header)

    def close(self) -> None:
        """Stop recording; close the file if the recorder opened it. Pending operations
        stay without a completion, which readers take as ``info``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._out is not None:
                if self._owns_file:
                    self._out.close()
                else:
                    self._out.flush()

    def _check_open(self) -> None:
        if self._closed:
            raise RecorderError("the recorder is closed")

    def __enter__(self) -> HistoryRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class PendingOp:
    """The operation of a :meth:`HistoryRecorder.operation` block."""

    __slots__ = ("done", "handle", "recorder")

    def __init__(self, recorder: HistoryRecorder, handle: OpHandle) -> None:
        self.recorder = recorder
        self.handle = handle
        self.done = False

    def ok(self, value: object = None) -> None:
        self._finish()
        self.recorder.ok(self.handle, value)

    def fail(self, error: str | None = None) -> None:
        self._finish()
        self.recorder.fail(self.handle, error)

    def info(self, error: str | None = None) -> None:
        self._finish()
        self.recorder.info(self.handle, error)

    def _finish(self) -> None:
        if self.done:
            raise RecorderError(f"operation {self.handle.id} ({self.handle.f}) is already complete")
        self.done = True
