"""Runs the commit cores on the wall clock against real redis-server shards.

:class:`RealWorld` mirrors the parts of :class:`labkit.sim.Simulator` that scripts use
(``nodes``, ``network.cut/partition/heal``, ``crash``, ``restart``, ``at``,
``request``, ``add_invariant`` with ``last_step``), so one script drives either. Here the
agents run in this process and talk over an in-memory bus (``network``); the demos' default,
every agent its own process, is :class:`commit_lab.procworld.ProcessWorld`. Their durable
state is real: each participant persists into its own redis-server (AOF,
``appendfsync always``) through :class:`~commit_lab.shard.ShardStore`, the coordinator
into a :class:`~commit_lab.coordinator_log.CoordinatorLog` file. Crashing a
participant SIGKILLs its redis-server too; a restart starts it again (the AOF is
replayed) and rebuilds the agent from what the shard holds. A decision group, if any,
is a real redis_raft cluster reached through gateway nodes
(:mod:`commit_lab.raft_decision`); cutting the bus between two gateways cuts the Raft
link between their nodes too (a :class:`LinkWatcher`).
"""

from __future__ import annotations

import dataclasses
import heapq
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Self

import redis

from commit_lab.coordinator_log import CoordinatorLog
from commit_lab.errors import CommitLabError, ShardError
from commit_lab.shard import ShardStore
from labkit.actions import Action, Emit, Persist, Reply, Send
from labkit.core import ClientRequest, Core, Input, Received
from labkit.events import Event
from labkit.realredis import Lab, RedisProcess
from labkit.sim.records import ClientReply, ConnectionRefused, StepRecord

__all__ = ["Bus", "LinkWatcher", "RealNode", "RealWorld", "WallClockWorld"]

CoreBuilder = Callable[[], Core]


class LinkWatcher(Protocol):
    """Something with real links that follows the bus's cuts (the decision cluster)."""

    def cut(self, src: str, dst: str) -> None: ...

    def heal(self) -> None: ...


class Bus:
    """The in-process network: cut links drop messages, both when sent and when due.

    Watchers get every cut and heal too, so that links outside the bus (the Raft
    cluster's peer links, through fault proxies) are cut with it.
    """

    def __init__(self) -> None:
        self._blocked: set[tuple[str, str]] = set()
        self.watchers: list[LinkWatcher] = []

    def blocked(self, src: str, dst: str) -> bool:
        return (src, dst) in self._blocked

    def cut(self, src: str, dst: str) -> None:
        if src != dst:
            self._blocked.add((src, dst))
            for watcher in self.watchers:
                watcher.cut(src, dst)

    def partition(self, groups: Iterable[Iterable[str]]) -> None:
        members = [sorted(g) for g in groups]
        for i, left in enumerate(members):
            for right in members[i + 1 :]:
                for a in left:
                    for b in right:
                        self.cut(a, b)
                        self.cut(b, a)

    def heal(self) -> None:
        self._blocked.clear()
        for watcher in self.watchers:
            watcher.heal()


@dataclass(slots=True)
class RealNode:
    """One agent: its core (None while down) and its durable storage."""

    id: str
    build: CoreBuilder
    store: ShardStore | CoordinatorLog | list[object]
    proc: RedisProcess | None = None
    core: Core | None = None
    crashes: int = 0
    writes: list[float] = field(default_factory=list)

    @property
    def up(self) -> bool:
        return self.core is not None


class WallClockWorld:
    """The clock and run loop that the in-process world and the world of agent
    processes share: milliseconds since the world began, and ``_once`` as one step."""

    _t0: float

    @property
    def now_ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000)

    def _once(self) -> None:
        raise NotImplementedError

    def run_until_true(
        self, condition: Callable[[Self], bool], *, deadline_ms: int, what: str
    ) -> int:
        """Run until ``condition`` holds; raise :class:`CommitLabError` at the deadline."""
        while not condition(self):
            if self.now_ms >= deadline_ms:
                raise CommitLabError(f"timed out after {deadline_ms} ms waiting for {what}")
            self._once()
        return self.now_ms

    def run_for(self, duration_ms: int) -> None:
        end = self.now_ms + duration_ms
        while self.now_ms < end:
            self._once()


class RealWorld(WallClockWorld):
    """Cores on the wall clock, shards in real Redis, scripted faults."""

    def __init__(
        self, lab: Lab, workdir: Path, *, tick_ms: int = 10, delay_ms: int = 1, prefix: str = ""
    ) -> None:
        self.lab = lab
        self.prefix = prefix
        self.workdir = workdir
        self.tick_ms = tick_ms
        self.delay_ms = delay_ms
        self.network = Bus()
        self.nodes: dict[str, RealNode] = {}
        self.replies: list[ClientReply] = []
        self.events: list[Event] = []
        self.last_step: StepRecord | None = None
        self._hooks: list[tuple[str, Callable[[RealWorld], str | None]]] = []
        self._queue: list[tuple[int, int, object]] = []
        self._seq = 0
        self._t0 = time.monotonic()
        self._next_tick = 0
        self.closers: list[Callable[[], None]] = []

    # -- set-up --------------------------------------------------------------------
    def add_shard(
        self, name: str, build: Callable[[dict[str, int]], Core], opening: dict[str, int]
    ) -> RealNode:
        """Start a redis-server for participant ``name``, seed it, and start its agent."""
        from commit_lab.shard import SHARD_DIRECTIVES

        proc = self.lab.server(f"{self.prefix}shard-{name}", extra=list(SHARD_DIRECTIVES))
        store = ShardStore(name, proc.client())
        store.seed(opening)
        node = RealNode(name, lambda: build(store.balances()), store, proc)
        self.nodes[name] = node
        self._start(node)
        return node

    def add_coordinator(
        self, name: str, build: CoreBuilder, log_name: str = "coordinator.wal"
    ) -> RealNode:
        node = RealNode(name, build, CoordinatorLog(self.workdir / log_name))
        self.nodes[name] = node
        self._start(node)
        return node

    def add_memory_node(self, name: str, build: CoreBuilder) -> RealNode:
        node = RealNode(name, build, [])
        self.nodes[name] = node
        self._start(node)
        return node

    def close(self) -> None:
        """Stop what the world started besides lab processes (the decision cluster)."""
        while self.closers:
            self.closers.pop()()

    def add_invariant(self, name: str, check: Callable[[RealWorld], str | None]) -> None:
        self._hooks.append((name, check))

    def at(self, time_ms: int, fn: Callable[[], None]) -> None:
        self._push(max(time_ms, self.now_ms), fn)

    def request(
        self, node: str, request: object, *, client: str = "client", at_ms: int | None = None
    ) -> None:
        def fire() -> None:
            target = self.nodes[node]
            if target.core is None:
                self.replies.append(ClientReply(self.now_ms, node, client, ConnectionRefused(node)))
                return
            self._run_step(target, ClientRequest(client, request))

        self.at(self.now_ms if at_ms is None else at_ms, fire)

    def note(self, name: str, details: str = "", source: str = "nemesis") -> None:
        """Record a fault or script event on the timeline."""
        self.events.append(
            Event(
                source=source,
                name=name,
                wall_ns=time.time_ns(),
                details=details,
                mono_ns=time.monotonic_ns(),
            )
        )

    # -- faults --------------------------------------------------------------------
    def crash(self, name: str) -> None:
        """Kill the agent (and its redis-server, for a participant)."""
        node = self.nodes[name]
        if node.core is None:
            return
        node.core = None
        node.crashes += 1
        if node.proc is not None:
            node.proc.kill()
        self.note("+crash", name + (" and its redis-server" if node.proc else ""))

    def restart(self, name: str) -> None:
        """Start the redis-server again (AOF replay), then the agent from what it holds."""
        node = self.nodes[name]
        if node.core is not None:
            return
        if node.proc is not None and not node.proc.running:
            node.proc.start()
            assert isinstance(node.store, ShardStore)
            node.store.client = node.proc.client()
        self._start(node)
        self.note("+restart", name)

    # -- running -------------------------------------------------------------------
    def _once(self) -> None:
        now = self.now_ms
        while self._queue and self._queue[0][0] <= now:
            _, _, item = heapq.heappop(self._queue)
            if callable(item):
                item()
                self.last_step = None
                self._check()
            else:
                assert isinstance(item, tuple)
                src, dst, message = item
                node = self.nodes.get(dst)
                if (
                    node is not None
                    and node.core is not None
                    and not self.network.blocked(src, dst)
                ):
                    self._run_step(node, Received(src, message))
        if now >= self._next_tick:
            self._next_tick = now + self.tick_ms
            for node in list(self.nodes.values()):
                if node.core is not None:
                    self._run_step(node, None)
        wake = self._next_tick if not self._queue else min(self._next_tick, self._queue[0][0])
        pause_ms = max(0, wake - self.now_ms)
        if pause_ms:
            time.sleep(min(pause_ms, 5) / 1000)

    def _push(self, at_ms: int, item: object) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at_ms, self._seq, item))

    def _start(self, node: RealNode) -> None:
        core = node.build()
        store = node.store
        if isinstance(store, ShardStore):
            records = store.recover()
        elif isinstance(store, CoordinatorLog):
            records = list(store.read())
        else:
            records = list(store)
        core.restore(records)
        node.core = core

    def _run_step(self, node: RealNode, event: Input | None) -> None:
        core = node.core
        assert core is not None
        now = self.now_ms
        actions = core.tick(now) if event is None else core.step(event, now)
        done: list[Action] = []
        try:
            for action in actions:
                self._execute(node, action)
                done.append(action)
        except (ShardError, redis.RedisError) as exc:
            self.note("-persist-failed", f"{node.id}: {exc}", source=node.id)
            node.core = None  # the agent restarts from what the shard holds
            self.last_step = StepRecord(now, node.id, event, tuple(done), True)
            self._check()
            if node.proc is None or node.proc.running:
                self._start(node)
            return
        self.last_step = StepRecord(now, node.id, event, tuple(done))
        self._check()

    def _execute(self, node: RealNode, action: Action) -> None:
        if isinstance(action, Persist):
            store = node.store
            if isinstance(store, ShardStore | CoordinatorLog):
                store.append(action.record) if isinstance(store, CoordinatorLog) else store.persist(
                    action.record
                )
            else:
                store.append(action.record)
            node.writes.append(time.monotonic())
        elif isinstance(action, Send):
            if not self.network.blocked(node.id, action.to):
                self._push(self.now_ms + self.delay_ms, (node.id, action.to, action.message))
        elif isinstance(action, Emit):
            self.events.append(
                dataclasses.replace(
                    action.event, wall_ns=time.time_ns(), mono_ns=time.monotonic_ns()
                )
            )
        elif isinstance(action, Reply):
            self.replies.append(ClientReply(self.now_ms, node.id, action.client, action.value))

    def _check(self) -> None:
        for _, hook in self._hooks:
            hook(self)
