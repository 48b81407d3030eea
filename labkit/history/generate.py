"""Synthetic register histories that are linearizable by construction, for tests and benchmarks.

Clients run concurrently against a true sequential register per key: each operation is
invoked, takes effect at one instant (its linearization point) some time later, and
completes some time after that, while other clients' operations interleave. So
operations overlap the way they do against a real server, and the history is
linearizable by construction. Some operations time out (``info``): a few of those never
take effect, the others do; the client goes on under a new process id. A cas that finds
another value completes ``fail``. Written values are unique per history.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from labkit.history.ops import HistoryEvent, Value

__all__ = ["register_history"]


@dataclass(slots=True)
class _Client:
    process: int
    pending: tuple[str, str, Value] | None = None  # (f, key, invoke value)
    applied: bool = False
    output: Value = None
    succeeded: bool = True


def register_history(
    rng: random.Random,
    ops: int,
    *,
    keys: int = 10,
    clients: int = 10,
    info_rate: float = 0.01,
    cas_rate: float = 0.1,
    read_rate: float = 0.5,
) -> list[HistoryEvent]:
    """About ``ops`` operations on keys ``k0``... from ``clients`` concurrent clients."""
    state: dict[str, Value] = {}
    workers = [_Client(process=i) for i in range(clients)]
    next_process = clients
    next_value = 1
    events: list[HistoryEvent] = []
    invoked = 0
    time_ns = 0
    while invoked < ops or any(w.pending is not None for w in workers):
        time_ns += rng.randrange(1, 1000)
        worker = rng.choice(workers)
        if worker.pending is None:
            if invoked >= ops:
                continue
            key = f"k{rng.randrange(keys)}"
            roll = rng.random()
            value: Value
            if roll < read_rate:
                f, value = "read", None
            elif roll < read_rate + cas_rate:
                current = state.get(key)
                old = current if rng.random() < 0.5 else rng.randrange(next_value)
                f, value = "cas", (old, next_value)
                next_value += 1
            else:
                f, value = "write", next_value
                next_value += 1
            worker.pending = (f, key, value)
            worker.applied = False
            invoked += 1
            events.append(HistoryEvent(worker.process, "invoke", f, value, key, time_ns))
            continue
        f, key, value = worker.pending
        if not worker.applied and rng.random() < 0.6:
            worker.applied = True
            worker.succeeded = True
            worker.output = None
            if f == "read":
                worker.output = state.get(key)
            elif f == "write":
                state[key] = value
            else:
                assert isinstance(value, tuple)
                worker.succeeded = state.get(key) == value[0]
                if worker.succeeded:
                    state[key] = value[1]
            continue
        if not worker.applied and rng.random() >= info_rate:
            continue  # still in flight
        if not worker.applied or rng.random() < info_rate:
            # A timeout: it may or may not have taken effect; the client gets a new process.
            events.append(HistoryEvent(worker.process, "info", f, None, key, time_ns))
            worker.process = next_process
            next_process += 1
        elif f == "cas" and not worker.succeeded:
            events.append(HistoryEvent(worker.process, "fail", f, value, key, time_ns))
        else:
            output = worker.output if f == "read" else value
            events.append(HistoryEvent(worker.process, "ok", f, output, key, time_ns))
        worker.pending = None
    return events
