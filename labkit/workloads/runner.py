"""Run a workload from several client threads and record every operation in a history.

Each client thread is one Jepsen process: it invokes an operation, waits for the answer
(at most the target's timeout), and completes it ``ok``, ``fail`` or ``info`` by the
error table in :mod:`labkit.history.outcomes`. After an ``info`` the thread drops its
connection and goes on as a new process. The run is bounded by time and by count.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
import time
from dataclasses import dataclass, field

import redis

from labkit.history.recorder import HistoryRecorder
from labkit.workloads.targets import Target
from labkit.workloads.workloads import OpSpec, Workload

__all__ = ["RunStats", "final_reads", "run_workload"]


@dataclass(slots=True)
class RunStats:
    """Counts of outcomes, by function."""

    ok: dict[str, int] = field(default_factory=dict)
    fail: dict[str, int] = field(default_factory=dict)
    info: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str, f: str) -> None:
        table = {"ok": self.ok, "fail": self.fail, "info": self.info}[outcome]
        table[f] = table.get(f, 0) + 1

    def total(self, outcome: str) -> int:
        return sum({"ok": self.ok, "fail": self.fail, "info": self.info}[outcome].values())


def _run_one(
    client: redis.Redis, workload: Workload, recorder: HistoryRecorder, process: int, op: OpSpec
) -> tuple[str, object]:
    handle = recorder.invoke(process, op.f, op.value, key=op.key)
    try:
        outcome, value = workload.execute(client, op)
    except (redis.exceptions.RedisError, OSError) as exc:
        return recorder.error(handle, exc), None
    recorder.complete(handle, outcome, value)
    return outcome, value


def run_workload(
    target: Target,
    workload: Workload,
    recorder: HistoryRecorder,
    *,
    clients: int = 5,
    keys: int = 1,
    duration_s: float = 5.0,
    max_ops: int = 100_000,
    seed: int = 0,
    stop: threading.Event | None = None,
) -> RunStats:
    """Run ``workload`` against ``target`` until ``duration_s``, ``max_ops`` or ``stop``."""
    stats = RunStats()
    lock = threading.Lock()
    unique = itertools.count(1)
    issued = itertools.count()
    deadline = time.monotonic() + duration_s
    halt = stop or threading.Event()
    key_names = [f"k{i}" for i in range(keys)]

    def client_loop(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        process = recorder.new_process()
        client: redis.Redis | None = None
        seen: dict[str, object] = {}
        try:
            while not halt.is_set() and time.monotonic() < deadline and next(issued) < max_ops:
                if client is None:
                    client = target.connect()
                key = rng.choice(key_names)
                with lock:
                    number = next(unique)
                op = workload.generate(rng, key, number, seen.get(key))
                outcome, value = _run_one(client, workload, recorder, process, op)
                with lock:
                    stats.add(outcome, op.f)
                if outcome == "info":  # Jepsen's rule: this process is done
                    client.close()
                    client = None
                    process = recorder.new_process()
                elif outcome == "ok":
                    seen[key] = (
                        value
                        if op.f == "read"
                        else (
                            op.value[1]
                            if op.f == "cas" and isinstance(op.value, tuple)
                            else op.value
                        )
                    )
                if outcome != "ok":
                    halt.wait(0.01)  # a failing target: do not spin
        finally:
            if client is not None:
                client.close()

    threads = [
        threading.Thread(target=client_loop, args=(i,), name=f"client-{i}") for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return stats


def final_reads(
    target: Target,
    workload: Workload,
    recorder: HistoryRecorder,
    *,
    keys: int = 1,
    timeout_s: float = 30.0,
) -> bool:
    """Read every key once more (retrying until an ``ok`` read, within ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    for key in (f"k{i}" for i in range(keys)):
        op = workload.final_read(key)
        if op is None:
            continue
        while True:
            process = recorder.new_process()
            client = target.connect()
            try:
                outcome, _ = _run_one(client, workload, recorder, process, op)
            finally:
                with contextlib.suppress(Exception):
                    client.close()
            if outcome == "ok":
                break
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
    return True
