"""The simulator: sans-I/O cores on a virtual clock, a seeded network and simulated disks.

Everything that happens is an item in one queue ordered by ``(time_ms, sequence)``:
ticks, message deliveries, client requests, Redis command round trips, faults and
test callbacks. One seed drives every random choice (each node incarnation, the
network, storage tears, the Redis fleet get their own stream derived from it), so a
seed replays a run exactly.

Nodes carry out their actions in list order: ``Persist`` goes to the node's
:class:`~labkit.sim.storage.Storage`, ``Send`` to the network (arriving later as a
``Received`` input), ``RedisCommand`` to the modelled fleet (the answer arrives as a
``RedisReply``), ``Reply`` to the test's client log, ``Emit`` and ``Apply`` to the
trace. A crash loses the core and the unsynced tail of its storage; a restart builds a
new core from the factory and calls ``restore`` with what storage recovered.

Commands from one node to one Redis server travel in order, and so do their replies,
as on one TCP connection (a transaction's MULTI ... EXEC stays in order). A modelled
server can be crashed (commands get a ``RedisLinkError`` reply), restarted, or paused
(commands get no reply at all) with :meth:`Simulator.crash_redis`,
:meth:`Simulator.restart_redis` and :meth:`Simulator.pause_redis`.
Invariants run after every step and raise :class:`InvariantViolation` with the seed.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from labkit.actions import Action, Apply, Emit, Persist, RedisArg, RedisCommand, Reply, Send
from labkit.core import ClientRequest, Input, Received, RedisPush, RedisReply
from labkit.sim.clock import VirtualClock
from labkit.sim.errors import InvariantViolation, LivenessFailure, SimError
from labkit.sim.faults import (
    Crash,
    Cut,
    Fault,
    Heal,
    Partition,
    Restart,
    RestartAll,
    ScheduledFault,
    SetNetwork,
)
from labkit.sim.network import LinkConfig, Network
from labkit.sim.records import (
    ClientReply,
    ConnectionRefused,
    CoreFactory,
    EmitRecord,
    Node,
    StepRecord,
)
from labkit.sim.redis_fleet import RedisFleet
from labkit.sim.seeds import rng_for
from labkit.sim.storage import Storage
from labkit.sim.trace import Trace

__all__ = [
    "ClientReply",
    "ConnectionRefused",
    "CoreFactory",
    "EmitRecord",
    "Invariant",
    "Node",
    "Simulator",
    "StepRecord",
]

Invariant = Callable[["Simulator"], "str | None"]
"""Runs after every step: returns a failure message, or raises AssertionError, or None."""


# Queue items -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Tick:
    node: str
    incarnation: int


@dataclass(frozen=True, slots=True)
class _Deliver:
    src: str
    dst: str
    message: object


@dataclass(frozen=True, slots=True)
class _Client:
    node: str
    request: ClientRequest


@dataclass(frozen=True, slots=True)
class _RedisExec:
    node: str
    incarnation: int
    target: str
    args: tuple[RedisArg, ...]


@dataclass(frozen=True, slots=True)
class _RedisBack:
    node: str
    incarnation: int
    src: str
    input: RedisReply | RedisPush


@dataclass(frozen=True, slots=True)
class _FaultItem:
    fault: Fault


@dataclass(frozen=True, slots=True)
class _Call:
    fn: Callable[[], None]


@dataclass(frozen=True, slots=True)
class _RedisRound:
    pass


_Item = _Tick | _Deliver | _Client | _RedisExec | _RedisBack | _FaultItem | _Call | _RedisRound


class Simulator:
    """A deterministic world of nodes, a network, disks and modelled Redis servers."""

    def __init__(
        self,
        seed: int,
        *,
        tick_interval_ms: int = 10,
        link: LinkConfig | None = None,
        tear_probability: float = 0.5,
        pass_torn_records: bool = False,
        compact_every_records: int | None = None,
        mid_step_wait_ms: int = 500,
        keep_trace: bool = True,
        scenario: str | None = None,
    ) -> None:
        if tick_interval_ms <= 0:
            raise SimError(f"tick_interval_ms must be > 0, got {tick_interval_ms}")
        self.seed = seed
        self.scenario = scenario
        self.tick_interval_ms = tick_interval_ms
        self.tear_probability = tear_probability
        self.pass_torn_records = pass_torn_records
        self.compact_every_records = compact_every_records
        self.mid_step_wait_ms = mid_step_wait_ms
        self.clock = VirtualClock()
        self.network = Network(rng_for(seed, "network"), link)
        self.redis = RedisFleet(rng_for(seed, "redis"))
        self.trace = Trace(keep=keep_trace)
        self.nodes: dict[str, Node] = {}
        self.replies: list[ClientReply] = []
        self.emitted: list[EmitRecord] = []
        self.last_step: StepRecord | None = None
        self.steps = 0
        self._queue: list[tuple[int, int, _Item]] = []
        self._seq = 0
        self._rng = rng_for(seed, "world")
        self._storage_rng = rng_for(seed, "storage")
        self._invariants: list[tuple[str, Invariant]] = []
        self._redis_round_scheduled = False
        self._redis_fifo: dict[tuple[str, str], int] = {}

    # -- set-up --------------------------------------------------------------------
    @property
    def now_ms(self) -> int:
        """Virtual time."""
        return self.clock.now_ms

    def rng(self, label: str) -> random.Random:
        """A random stream of this run for the test's own choices."""
        return rng_for(self.seed, f"user/{label}")

    def add_node(self, node_id: str, factory: CoreFactory) -> Node:
        """Add a node and start it now (its first core restores from empty storage)."""
        if node_id in self.nodes or node_id in self.redis:
            raise SimError(f"duplicate endpoint {node_id!r}")
        node = Node(node_id, factory, Storage(self.tear_probability))
        self.nodes[node_id] = node
        self._start(node)
        return node

    def add_redis(self, host: str, port: int) -> str:
        """Add a modelled Redis master at ``host:port``; returns its name ``host:port``."""
        name = f"{host}:{port}"
        if name in self.nodes or name in self.redis:
            raise SimError(f"duplicate endpoint {name!r}")
        self.redis.add(host, port)
        if not self._redis_round_scheduled:
            self._redis_round_scheduled = True
            self._push(self.now_ms + self.tick_interval_ms, _RedisRound())
        return name

    def add_invariant(self, name: str, check: Invariant) -> None:
        """Run ``check`` after every step; a message or AssertionError fails the run."""
        self._invariants.append((name, check))

    def schedule(self, faults: Iterable[ScheduledFault]) -> None:
        """Queue a fault schedule."""
        for item in faults:
            self._push(item.at_ms, _FaultItem(item.fault))

    def at(self, time_ms: int, fn: Callable[[], None]) -> None:
        """Call ``fn`` at virtual ``time_ms`` (for scripted tests)."""
        self._push(time_ms, _Call(fn))

    def request(
        self, node_id: str, request: object, *, client: str = "client", at_ms: int | None = None
    ) -> None:
        """A client request to ``node_id`` now (or at ``at_ms``); replies go to ``replies``."""
        when = self.now_ms if at_ms is None else at_ms
        self._push(when, _Client(node_id, ClientRequest(client, request)))

    def replies_to(self, client: str) -> list[ClientReply]:
        """The replies the client ``client`` got, in order."""
        return [reply for reply in self.replies if reply.client == client]

    # -- faults --------------------------------------------------------------------
    def crash(self, node_id: str, *, mid_step: bool = False) -> None:
        """Crash a node now, or (``mid_step``) inside its next step that has actions.

        A mid-step crash that finds no step with actions within ``mid_step_wait_ms``
        happens at the node's next step (usually a tick) instead.
        """
        node = self.nodes[node_id]
        if not node.up:
            return
        if mid_step:
            node.crash_in_step = True
            node.crash_by_ms = self.now_ms + self.mid_step_wait_ms
            return
        self._crash(node, "between steps")

    def restart(self, node_id: str) -> None:
        """Restart a node that is down."""
        node = self.nodes[node_id]
        if not node.up:
            self._start(node)

    def crash_redis(self, name: str) -> None:
        """Crash the modelled Redis server ``name`` now."""
        self.redis.crash(name)
        self.trace.record(self.now_ms, "crash", name, "redis")

    def restart_redis(self, name: str) -> None:
        """Restart the crashed Redis server ``name`` now (no-op if it is up)."""
        if not self.redis[name].alive:
            self.redis.restart(name, self.now_ms)
            self.trace.record(self.now_ms, "restart", name, "redis")

    def pause_redis(self, name: str, paused: bool = True) -> None:
        """Pause (SIGSTOP) or resume the Redis server ``name``."""
        self.redis.pause(name, paused)
        self.trace.record(
            self.now_ms, "network", name, "redis paused" if paused else "redis resumed"
        )

    def apply_fault(self, fault: Fault) -> None:
        """Carry out one fault now."""
        net = self.network
        if isinstance(fault, Crash):
            self.crash(fault.node, mid_step=fault.mid_step)
        elif isinstance(fault, Restart):
            self.restart(fault.node)
        elif isinstance(fault, RestartAll):
            for node_id in sorted(self.nodes):
                self.nodes[node_id].crash_in_step = False
                self.restart(node_id)
        elif isinstance(fault, Partition):
            net.partition(fault.groups)
            self.trace.record(self.now_ms, "partition", "", fault.groups)
        elif isinstance(fault, Cut):
            for src in fault.srcs:
                for dst in fault.dsts:
                    net.cut(src, dst)
            self.trace.record(self.now_ms, "cut", "", (fault.srcs, fault.dsts))
        elif isinstance(fault, Heal):
            net.heal()
            self.trace.record(self.now_ms, "heal", "", None)
        elif isinstance(fault, SetNetwork):
            net.set_default(fault.link)
            self.trace.record(self.now_ms, "network", "", fault.link)
        else:  # pragma: no cover - the union is exhaustive
            raise SimError(f"unknown fault {fault!r}")

    # -- running -------------------------------------------------------------------
    def step(self) -> bool:
        """Process the next queue item; False when the queue is empty."""
        if not self._queue:
            return False
        time_ms, _, item = heapq.heappop(self._queue)
        self.clock.advance_to(time_ms)
        self._handle(item)
        return True

    def run_until(self, end_ms: int) -> None:
        """Process every item due at or before ``end_ms``; the clock ends at ``end_ms``."""
        queue = self._queue
        while queue and queue[0][0] <= end_ms:
            self.step()
        if end_ms > self.now_ms:
            self.clock.advance_to(end_ms)

    def run_for(self, duration_ms: int) -> None:
        """Run ``duration_ms`` of virtual time."""
        self.run_until(self.now_ms + duration_ms)

    def run_until_true(
        self, condition: Callable[[Simulator], bool], *, deadline_ms: int, what: str
    ) -> int:
        """Run until ``condition`` holds (checked after each item); return the time.

        Raises :class:`LivenessFailure` naming ``what`` if it does not hold by the deadline.
        """
        if condition(self):
            return self.now_ms
        queue = self._queue
        while queue and queue[0][0] <= deadline_ms:
            self.step()
            if condition(self):
                return self.now_ms
        self.run_until(deadline_ms)
        raise LivenessFailure(
            what,
            "condition did not hold by the deadline",
            seed=self.seed,
            time_ms=self.now_ms,
            scenario=self.scenario,
        )

    # -- internals -----------------------------------------------------------------
    def _push(self, time_ms: int, item: _Item) -> None:
        if time_ms < self.now_ms:
            raise SimError(f"cannot schedule in the past: {time_ms} < {self.now_ms} ms")
        self._seq += 1
        heapq.heappush(self._queue, (time_ms, self._seq, item))

    def _start(self, node: Node) -> None:
        node.incarnation += 1
        core = node.factory(rng_for(self.seed, f"core/{node.id}/{node.incarnation}"))
        records = node.storage.recover(keep_torn=self.pass_torn_records)
        core.restore(records)
        node.log_base = len(records)
        node.core = core
        node.crash_in_step = False
        kind = "start" if node.incarnation == 1 else "restart"
        self.trace.record(self.now_ms, kind, node.id, len(records))
        phase = self._rng.randrange(self.tick_interval_ms)
        self._push(self.now_ms + phase, _Tick(node.id, node.incarnation))

    def _crash(self, node: Node, how: str) -> None:
        node.core = None
        node.crash_in_step = False
        node.incarnation += 1
        node.storage.crash(self._storage_rng)
        self.trace.record(self.now_ms, "crash", node.id, how)

    def _handle(self, item: _Item) -> None:
        if isinstance(item, _Tick):
            node = self.nodes[item.node]
            if node.core is None or node.incarnation != item.incarnation:
                return
            self._push(self.now_ms + self.tick_interval_ms, item)
            self._run_step(node, None)
        elif isinstance(item, _Deliver):
            node_or_none = self.nodes.get(item.dst)
            if self.network.blocked(item.src, item.dst):
                self.network.stats.blocked_in_flight += 1
                self.trace.record(self.now_ms, "drop", item.dst, (item.src, item.message))
                return
            if node_or_none is None or node_or_none.core is None:
                self.trace.record(self.now_ms, "drop", item.dst, (item.src, item.message))
                return
            self.network.stats.delivered += 1
            event = Received(item.src, item.message)
            self.trace.record(self.now_ms, "deliver", item.dst, event)
            self._run_step(node_or_none, event)
        elif isinstance(item, _Client):
            node = self.nodes[item.node]
            if node.core is None:
                self.trace.record(self.now_ms, "refused", node.id, item.request)
                self.replies.append(
                    ClientReply(
                        self.now_ms, node.id, item.request.client, ConnectionRefused(node.id)
                    )
                )
                return
            self.trace.record(self.now_ms, "client", node.id, item.request)
            self._run_step(node, item.request)
        elif isinstance(item, _RedisExec):
            self._redis_exec(item)
        elif isinstance(item, _RedisBack):
            node = self.nodes[item.node]
            if (
                node.core is None
                or node.incarnation != item.incarnation
                or self.network.blocked(item.src, item.node)
            ):
                self.trace.record(self.now_ms, "drop", item.node, item.input)
                return
            self.trace.record(self.now_ms, "redis-in", node.id, item.input)
            self._run_step(node, item.input)
        elif isinstance(item, _FaultItem):
            self.apply_fault(item.fault)
            self.last_step = None
            self._check_invariants()
        elif isinstance(item, _Call):
            item.fn()
            self.last_step = None
            self._check_invariants()
        else:
            self.redis.replicate(self.now_ms, self._reachable)
            self._deliver_pushes()
            self._push(self.now_ms + self.tick_interval_ms, item)

    def _reachable(self, src: str, dst: str) -> bool:
        return not self.network.blocked(src, dst)

    def _redis_exec(self, item: _RedisExec) -> None:
        if self.network.blocked(item.node, item.target):
            self.trace.record(self.now_ms, "drop", item.target, item.args)
            return
        if self.redis[item.target].paused:
            self.trace.record(self.now_ms, "drop", item.target, item.args)
            return
        value = self.redis.execute(item.target, item.args, client=item.node, now_ms=self.now_ms)
        self.trace.record(self.now_ms, "redis-exec", item.target, (item.args, value))
        back = _RedisBack(
            item.node, item.incarnation, item.target, RedisReply(item.target, item.args, value)
        )
        self._push(self._fifo_time(item.target, item.node), back)
        self._deliver_pushes()

    def _deliver_pushes(self) -> None:
        for server in self.redis.servers.values():
            for push in server.take_outbox():
                node = self.nodes.get(push.client)
                if node is None or node.core is None:
                    continue
                back = _RedisBack(
                    node.id,
                    node.incarnation,
                    push.server,
                    RedisPush(push.server, push.channel, push.message),
                )
                self._push(self.now_ms + self.network.delay_ms(push.server, node.id), back)

    def _run_step(self, node: Node, event: Input | None) -> None:
        core = node.core
        assert core is not None
        now = self.now_ms
        actions = core.tick(now) if event is None else core.step(event, now)
        self.steps += 1
        if node.crash_in_step and (actions or now >= node.crash_by_ms):
            cut = self._rng.randint(0, len(actions))
            self.last_step = StepRecord(now, node.id, event, tuple(actions[:cut]), True)
            self._execute(node, actions[:cut])
            if cut < len(actions) and isinstance(actions[cut], Persist):
                record = actions[cut]
                assert isinstance(record, Persist)
                node.storage.append(record.record, sync=False)  # the write that was under way
            self._crash(node, f"in step, after {cut} of {len(actions)} actions")
        else:
            self.last_step = StepRecord(now, node.id, event, tuple(actions))
            self._execute(node, actions)
            self._maybe_compact(node)
        self._check_invariants()

    def _execute(self, node: Node, actions: Sequence[Action]) -> None:
        now = self.now_ms
        trace = self.trace
        for action in actions:
            trace.record(now, type(action).__name__.lower(), node.id, action)
            if isinstance(action, Send):
                for at in self.network.route(node.id, action.to, now):
                    self._push(at, _Deliver(node.id, action.to, action.message))
            elif isinstance(action, Persist):
                node.storage.append(action.record, sync=action.sync)
            elif isinstance(action, Emit):
                self.emitted.append(EmitRecord(now, node.id, action.event))
            elif isinstance(action, Reply):
                self.replies.append(ClientReply(now, node.id, action.client, action.value))
            elif isinstance(action, RedisCommand):
                if action.target not in self.redis:
                    raise SimError(f"{node.id} sent a command to unknown Redis {action.target!r}")
                self._push(
                    self._fifo_time(node.id, action.target),
                    _RedisExec(node.id, node.incarnation, action.target, action.args),
                )
            elif isinstance(action, Apply):
                node.applied.append(action.command)
            else:  # pragma: no cover - the union is exhaustive
                raise SimError(f"{node.id} returned a non-action {action!r}")

    def _fifo_time(self, src: str, dst: str) -> int:
        """Arrival time of the next item on the ordered Redis connection ``src -> dst``."""
        at = max(self.now_ms + self.network.delay_ms(src, dst), self._redis_fifo.get((src, dst), 0))
        self._redis_fifo[(src, dst)] = at
        return at

    def _maybe_compact(self, node: Node) -> None:
        limit = self.compact_every_records
        storage = node.storage
        if (
            limit is None
            or node.core is None
            or storage.unsynced_count
            or len(storage.records) - node.log_base < limit
        ):
            return
        records = tuple(node.core.durable_state())
        storage.replace(records)
        node.log_base = len(records)
        self.trace.record(self.now_ms, "compact", node.id, len(records))

    def _check_invariants(self) -> None:
        for name, check in self._invariants:
            try:
                problem = check(self)
            except AssertionError as exc:
                problem = str(exc) or "assertion failed"
            if problem is not None:
                raise InvariantViolation(
                    name, problem, seed=self.seed, time_ms=self.now_ms, scenario=self.scenario
                )
