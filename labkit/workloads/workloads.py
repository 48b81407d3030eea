"""The four workloads: what operations to generate and how to run each one on Redis.

=============  ==================================================  ===============
workload       operations (Redis commands)                         checker model
=============  ==================================================  ===============
``register``   read (GET), write (SET unique int), cas (a script)  ``register``
``counter``    incr (INCR), read (GET)                             ``counter``
``set``        add (SADD unique element); final read (SMEMBERS)    ``set``
``list``       append (RPUSH unique element), read (LRANGE 0 -1)   ``list``
=============  ==================================================  ===============

Written values are unique per key, which the lost-writes and stale-read checks need.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

import redis

from labkit.errors import UsageError

__all__ = ["WORKLOADS", "OpSpec", "Workload", "WorkloadOutcome", "get_workload"]

# cas as one atomic step: 1 when it swapped, 0 when the register held another value.
CAS_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


@dataclass(frozen=True, slots=True)
class OpSpec:
    """One operation to run: function, key and input value."""

    f: str
    key: str
    value: object = None


WorkloadOutcome = tuple[Literal["ok", "fail"], object]


@dataclass(frozen=True, slots=True)
class Workload:
    """A named workload; see the module docstring."""

    name: str
    model: str
    read_fraction: float

    def generate(self, rng: random.Random, key: str, unique: int, seen: object = None) -> OpSpec:
        """The next operation on ``key``; ``unique`` is a number no other op will use.

        ``seen`` is the last value this client read or wrote on ``key``: a cas expects it.
        """
        if self.name == "register":
            roll = rng.random()
            if roll < self.read_fraction:
                return OpSpec("read", key)
            if roll < self.read_fraction + 0.15:
                return OpSpec("cas", key, (seen if isinstance(seen, int) else 0, unique))
            return OpSpec("write", key, unique)
        if self.name == "counter":
            return (
                OpSpec("read", key) if rng.random() < self.read_fraction else OpSpec("incr", key, 1)
            )
        if self.name == "set":
            return OpSpec("add", key, unique)
        return (
            OpSpec("read", key)
            if rng.random() < self.read_fraction
            else OpSpec("append", key, unique)
        )

    def final_read(self, key: str) -> OpSpec | None:
        """The read that closes the run (for set and list: what survived)."""
        return OpSpec("read", key) if self.name in ("set", "list") else None

    def execute(self, client: redis.Redis, op: OpSpec) -> WorkloadOutcome:
        """Run ``op``; ``("fail", ...)`` only when it certainly did not happen."""
        if op.f == "read":
            if self.name == "set":
                return "ok", sorted(int(v) for v in client.smembers(op.key))
            if self.name == "list":
                return "ok", [int(v) for v in client.lrange(op.key, 0, -1)]
            raw = client.get(op.key)
            return "ok", None if raw is None else int(raw)
        if op.f == "write":
            client.set(op.key, str(op.value))
            return "ok", op.value
        if op.f == "cas":
            assert isinstance(op.value, tuple)
            swapped = client.eval(CAS_SCRIPT, 1, op.key, str(op.value[0]), str(op.value[1]))
            return ("ok", list(op.value)) if swapped == 1 else ("fail", list(op.value))
        if op.f == "incr":
            client.incrby(op.key, int(str(op.value)))
            return "ok", op.value
        if op.f == "add":
            client.sadd(op.key, str(op.value))
            return "ok", op.value
        if op.f == "append":
            client.rpush(op.key, str(op.value))
            return "ok", op.value
        raise UsageError(f"workload {self.name!r} has no operation {op.f!r}")


WORKLOADS: dict[str, Workload] = {
    "register": Workload("register", "register", read_fraction=0.5),
    "counter": Workload("counter", "counter", read_fraction=0.3),
    "set": Workload("set", "set", read_fraction=0.0),
    "list": Workload("list", "list", read_fraction=0.2),
}


def get_workload(name: str) -> Workload:
    try:
        return WORKLOADS[name]
    except KeyError:
        raise UsageError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}") from None
