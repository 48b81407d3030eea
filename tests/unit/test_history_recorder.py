"""The recorder: the anchor header, order, misuse, threads and asyncio."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import threading
from pathlib import Path

import pytest
import redis.exceptions

from labkit.history import (
    HistoryHeader,
    HistoryRecorder,
    RecorderError,
    check_linearizability,
    read_history,
)


def fake_clocks() -> tuple[itertools.count[int], itertools.count[int]]:
    return itertools.count(1000, 10), itertools.count(1_795_667_827_000_000_000)


def test_writes_the_anchor_first_then_events_with_times(tmp_path: Path) -> None:
    mono, wall = fake_clocks()
    path = tmp_path / "runs" / "h.jsonl"
    with HistoryRecorder(
        path, meta={"workload": "w"}, mono_ns=lambda: next(mono), wall_ns=lambda: next(wall)
    ) as rec:
        assert rec.header == HistoryHeader(
            wall_ns=1_795_667_827_000_000_000, mono_ns=1005, meta={"workload": "w"}
        )
        op = rec.invoke(1, "write", 3, key="k")
        rec.ok(op)
        read = rec.invoke(2, "read", key="k")
        rec.ok(read, b"3")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["kind"] == "labkit-history"
    assert lines[0]["mono_ns"] == 1005
    assert lines[1:] == [
        {"process": 1, "type": "invoke", "f": "write", "value": 3, "key": "k", "time": 1020},
        {"process": 1, "type": "ok", "f": "write", "value": None, "key": "k", "time": 1030},
        {"process": 2, "type": "invoke", "f": "read", "value": None, "key": "k", "time": 1040},
        {"process": 2, "type": "ok", "f": "read", "value": "3", "key": "k", "time": 1050},
    ]
    history = read_history(path)
    assert history.header == rec.header
    assert [e.type for e in history.events] == [e.type for e in rec.events()]
    assert (
        history.header is not None and history.header.wall_ns_of(1020) == 1_795_667_827_000_000_015
    )


def test_misuse_is_refused() -> None:
    rec = HistoryRecorder()
    op = rec.invoke(0, "write", 1)
    with pytest.raises(RecorderError, match="already has an operation pending"):
        rec.invoke(0, "read")
    rec.info(op, "timeout")
    with pytest.raises(RecorderError, match="is not pending"):
        rec.ok(op)
    with pytest.raises(RecorderError, match="ended with info"):
        rec.invoke(0, "read")
    assert rec.new_process() == 1
    with pytest.raises(RecorderError, match="ok, fail or info"):
        rec.complete(rec.invoke(1, "read"), "invoke")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        rec.invoke(5, "write", object())
    rec.close()
    with pytest.raises(RecorderError, match="closed"):
        rec.invoke(7, "read")
    rec.close()


def test_errors_are_recorded_through_the_outcome_table() -> None:
    out = io.StringIO()
    rec = HistoryRecorder(out)
    moved = rec.invoke(0, "write", 1)
    assert rec.error(moved, redis.exceptions.ResponseError("MOVED 3999 127.0.0.1:6381")) == "fail"
    timed = rec.invoke(0, "write", 2)
    assert rec.error(timed, redis.exceptions.TimeoutError("Timeout reading from socket")) == "info"
    events = rec.events()
    assert [(e.type, e.error) for e in events[1::2]] == [
        ("fail", "ResponseError: MOVED 3999 127.0.0.1:6381"),
        ("info", "TimeoutError: Timeout reading from socket"),
    ]
    assert out.getvalue().count("\n") == 5  # header + 4 events


def test_operation_context_manager() -> None:
    rec = HistoryRecorder()
    with rec.operation(0, "read", key="k") as op:
        op.ok(5)
    with pytest.raises(ConnectionRefusedError), rec.operation(1, "write", 6, key="k"):
        raise ConnectionRefusedError(111, "Connection refused")
    with rec.operation(2, "write", 7, key="k"):
        pass  # nothing completed it: unknown
    with pytest.raises(RecorderError, match="already complete"), rec.operation(3, "read") as op:
        op.fail("no")
        op.ok()
    types = [(e.process, e.type) for e in rec.events() if e.type != "invoke"]
    assert types == [(0, "ok"), (1, "fail"), (2, "info"), (3, "fail")]
    assert rec.pending() == ()


def test_pending_operations_read_back_as_info(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    rec = HistoryRecorder(path)
    rec.invoke(0, "write", 1)
    rec.close()
    (op,) = read_history(path).operations()
    assert op.outcome == "info"


def test_threads_record_a_consistent_history() -> None:
    rec = HistoryRecorder()
    value = [0]
    lock = threading.Lock()

    def client(process: int) -> None:
        for _ in range(100):
            op = rec.invoke(process, "incr", 1, key="c")
            with lock:
                value[0] += 1
            rec.ok(op)
            read = rec.invoke(process, "read", key="c")
            with lock:
                seen = value[0]
            rec.ok(read, seen)

    threads = [threading.Thread(target=client, args=(p,)) for p in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = rec.history()
    assert len(history.events) == 8 * 100 * 4
    assert check_linearizability(history, "counter", budget_s=30).valid


async def test_asyncio_tasks_record_a_consistent_history() -> None:
    rec = HistoryRecorder()
    members: set[int] = set()

    async def client(process: int) -> None:
        for i in range(50):
            with rec.operation(process, "add", process * 1000 + i, key="s") as op:
                await asyncio.sleep(0)
                members.add(process * 1000 + i)
                op.ok()
            with rec.operation(process, "read", key="s") as op:
                await asyncio.sleep(0)
                op.ok(sorted(members))

    await asyncio.gather(*(client(p) for p in range(5)))
    assert check_linearizability(rec.history(), "set", budget_s=30).valid
