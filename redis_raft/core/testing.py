"""Test helpers: a dict standing in for Redis, a node that drives it, a local cluster.

:class:`SimRaftNode` drives a :class:`RaftCore` as the asyncio driver will drive
Redis: every ``Apply(ApplyEntry)`` is applied to a :class:`KVStore` and answered with
``Applied``, ``ApplySnapshot`` loads the store, ``RunQuery`` is answered with
``QueryDone``, and a snapshot is handed back every ``snapshot_every`` entries.
:class:`LocalCluster` connects a few such nodes with a synchronous, scriptable network
for scenario tests (the simulator is the place for randomised runs).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

from labkit.actions import Action, Apply, Emit, Reply, Send
from labkit.core import ClientRequest, Input, Received
from redis_raft.core.api import (
    Applied,
    ApplyEntry,
    ApplySnapshot,
    QueryDone,
    RunQuery,
    SnapshotTaken,
)
from redis_raft.core.node import RaftCore
from redis_raft.core.settings import RaftConfig

__all__ = ["KVStore", "LocalCluster", "SimRaftNode"]


class KVStore:
    """The modelled Redis: ``SET k v`` -> OK, ``GET k`` -> value or None."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def execute(self, command: bytes) -> object:
        """Run one command."""
        parts = command.decode().split()
        if parts[0] == "SET" and len(parts) == 3:
            self.data[parts[1]] = parts[2]
            return "OK"
        if parts[0] == "GET" and len(parts) == 2:
            return self.data.get(parts[1])
        return f"ERR unknown command {command!r}"

    def dump(self) -> bytes:
        """The state as bytes (stands in for an RDB)."""
        return json.dumps(self.data, sort_keys=True).encode()

    def load(self, data: bytes) -> None:
        """Replace the state by a dump."""
        loaded = json.loads(data.decode()) if data else {}
        self.data = {str(k): str(v) for k, v in loaded.items()}


class SimRaftNode:
    """A core and its state machine, driven as the real driver drives Redis."""

    def __init__(self, core: RaftCore, *, snapshot_every: int | None = 16) -> None:
        self.core = core
        self.kv = KVStore()
        self.snapshot_every = snapshot_every

    def step(self, event: Input, now_ms: int) -> list[Action]:
        """Step the core, then carry out its state-machine work."""
        return self._drive(self.core.step(event, now_ms), now_ms)

    def tick(self, now_ms: int) -> list[Action]:
        """Tick the core, then carry out its state-machine work."""
        return self._drive(self.core.tick(now_ms), now_ms)

    def durable_state(self) -> tuple[object, ...]:
        """The core's records."""
        return self.core.durable_state()

    def restore(self, durable_state: Sequence[object]) -> None:
        """Restore the core, then load its snapshot into the (volatile) store."""
        self.core.restore(durable_state)
        snapshot = self.core.log.snapshot
        self.kv.load(snapshot.data if snapshot is not None else b"")

    def _drive(self, actions: list[Action], now_ms: int) -> list[Action]:
        out: list[Action] = []
        queue = list(actions)
        while queue:
            action = queue.pop(0)
            out.append(action)
            if not isinstance(action, Apply):
                continue
            work = action.command
            more: list[Action] = []
            if isinstance(work, ApplyEntry):
                data = work.entry.data
                result = self.kv.execute(data) if isinstance(data, bytes) else None
                more = self.core.step(Applied(work.entry.index, result), now_ms)
                core = self.core
                if (
                    self.snapshot_every
                    and core.applied - core.log.snap_index >= self.snapshot_every
                ):
                    more += core.step(SnapshotTaken(core.applied, self.kv.dump()), now_ms)
            elif isinstance(work, ApplySnapshot):
                self.kv.load(work.data)
                more = self.core.step(Applied(work.meta.index, None), now_ms)
            elif isinstance(work, RunQuery):
                more = self.core.step(
                    QueryDone(work.query_id, self.kv.execute(work.command)), now_ms
                )
            queue[0:0] = more
        return out


class LocalCluster:
    """Nodes on a synchronous network: ``deliver()`` hands over queued messages in
    order; ``cut``/``heal`` block links; time moves only with ``advance``."""

    def __init__(
        self,
        names: Sequence[str],
        settings: RaftConfig | None = None,
        *,
        seed: int = 1,
        snapshot_every: int | None = None,
        bug: str | None = None,
    ) -> None:
        self.settings = (
            settings
            if settings is not None
            else RaftConfig(election_timeout_ms=100, heartbeat_ms=20)
        )
        self.now_ms = 0
        self.nodes: dict[str, SimRaftNode] = {}
        self.queue: list[tuple[str, str, object]] = []
        self.blocked: set[tuple[str, str]] = set()
        self.replies: list[Reply] = []
        self.events: list[Emit] = []
        self.actions: dict[str, list[Action]] = {}
        for i, name in enumerate(names):
            core = RaftCore(name, names, random.Random(seed * 100 + i), self.settings, bug=bug)
            self.nodes[name] = SimRaftNode(core, snapshot_every=snapshot_every)
            self.actions[name] = []

    def add_node(self, name: str, seed: int = 99) -> SimRaftNode:
        """A node that joins later: it knows no members until the leader contacts it."""
        core = RaftCore(name, (), random.Random(seed), self.settings)
        self.nodes[name] = node = SimRaftNode(core)
        self.actions[name] = []
        return node

    def core(self, name: str) -> RaftCore:
        """The core of ``name``."""
        return self.nodes[name].core

    def leader(self) -> str | None:
        """The leader with the highest term, if any."""
        leaders = [n for n, node in self.nodes.items() if node.core.is_leader]
        return max(leaders, key=lambda n: self.core(n).term, default=None)

    def _take(self, name: str, actions: list[Action]) -> list[Action]:
        self.actions[name].extend(actions)
        for action in actions:
            if isinstance(action, Send):
                self.queue.append((name, action.to, action.message))
            elif isinstance(action, Reply):
                self.replies.append(action)
            elif isinstance(action, Emit):
                self.events.append(action)
        return actions

    def step(self, name: str, event: Input) -> list[Action]:
        """Step one node now."""
        return self._take(name, self.nodes[name].step(event, self.now_ms))

    def request(self, name: str, client: str, request: object) -> list[Action]:
        """A client request to ``name``."""
        return self.step(name, ClientRequest(client, request))

    def deliver(self, limit: int = 10_000) -> int:
        """Deliver queued messages (and those they cause) until none is left."""
        count = 0
        while self.queue and count < limit:
            src, dst, message = self.queue.pop(0)
            if (src, dst) in self.blocked or dst not in self.nodes:
                continue
            count += 1
            self.step(dst, Received(src, message))
        return count

    def advance(self, ms: int, *, tick_every_ms: int = 10) -> None:
        """Let ``ms`` pass: tick every node and deliver everything at each tick."""
        end = self.now_ms + ms
        while self.now_ms < end:
            self.now_ms = min(end, self.now_ms + tick_every_ms)
            for name, node in self.nodes.items():
                self._take(name, node.tick(self.now_ms))
            self.deliver()

    def elect(self, name: str) -> None:
        """Make ``name`` campaign now and deliver the election."""
        for other_name, other in self.nodes.items():
            if other.core.election_deadline_ms is None:  # started: arm its timers
                self._take(other_name, other.tick(self.now_ms))
            other.core.lease_until_ms = 0
        core = self.core(name)
        core.election_deadline_ms = self.now_ms
        self._take(name, self.nodes[name].tick(self.now_ms))
        self.deliver()

    def cut(self, a: str, b: str) -> None:
        """Block both directions between ``a`` and ``b``."""
        self.blocked |= {(a, b), (b, a)}

    def isolate(self, name: str) -> None:
        """Cut ``name`` off from every other node."""
        for other in self.nodes:
            if other != name:
                self.cut(name, other)

    def heal(self) -> None:
        """Unblock every link."""
        self.blocked.clear()

    def replies_to(self, client: str) -> list[object]:
        """Values replied to ``client``, in order."""
        return [r.value for r in self.replies if r.client == client]
