"""The asyncio driver of one node: clock, log, peers and state machine around a RaftCore.

Peer messages and client requests are gathered during an event-loop turn and stepped
together at its end (``RaftCore.step_many``: a leader then sends one AppendEntries
per follower for all of them); the state machine's feedback is stepped at once. The
actions are gathered until the end of the turn (:meth:`RaftNode._flush`), where
every ``Persist`` of the batch is
written with one write call. With ``--fsync always`` the batch then waits for an
fsync, which runs in a thread while the loop keeps reading and stepping (group
commit: one fsync at a time, covering every batch written before it started; the
batches that arrive meanwhile share the next one). ``Send`` and ``Emit`` are carried
out strictly in batch order, each batch once the log is synced up to its records.
Persisting earlier than the core asked is always safe, and no message leaves the
node before the records it depends on are durable, with one exception that Raft
allows: a leader's ``AppendEntries`` go out at once, in parallel with its own fsync,
with their commit index capped at the leader's durable log (:meth:`RaftNode._send_early`).

Two kinds of action do not wait behind newer records: ``Apply`` work goes through its
own ordered gate, where a committed entry waits only until this node's log is synced
up to its index (a leader counts its own log towards the commit, so nothing is applied
or acknowledged before that copy is durable; a snapshot waits for its own record;
reads wait only for the entries before them), and a ``Reply`` goes out at once: a
write is answered after it was applied, and no other reply depends on a record.

Client requests wait on futures; the tick loop answers those past their deadline
(no timer task per request).

``Apply`` work goes to one worker task that pipelines consecutive entries to the
backing server (:class:`redis_raft.statemachine.StateMachine`) and feeds ``Applied``
back in order; reads (``RunQuery``) go through the same queue, so a read never runs
before the entries below its read index. Every ``snapshot_every`` applied entries the
worker takes a snapshot (the backing RDB) and hands it to the core.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import itertools
import logging
import os
import random
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future as ThreadFuture
from concurrent.futures import ThreadPoolExecutor
from typing import TextIO

from labkit.actions import Action, Apply, Emit, Persist, Reply, Send
from labkit.core import ClientRequest, Received
from labkit.events import Event
from labkit.resp.frames import Array, BulkString, Frame, Map, SimpleError
from labkit.timeline.jsonl import EventStreamWriter
from labkit.timeline.redislog import RedisLogWriter
from redis_raft.core import (
    TIMEOUT,
    Applied,
    ApplyEntry,
    ApplySnapshot,
    ErrorReply,
    QueryDone,
    RaftConfig,
    RaftCore,
    RunQuery,
    SnapshotTaken,
)
from redis_raft.core.leader import Leader
from redis_raft.core.messages import AppendEntries, Message
from redis_raft.core.node import RaftInput
from redis_raft.core.records import LogAppend, SnapshotRecord
from redis_raft.driver.failpoints import Failpoints
from redis_raft.driver.options import NodeOptions
from redis_raft.driver.respclient import LinkError
from redis_raft.errors import RaftError
from redis_raft.peer import PeerLinks
from redis_raft.statemachine import StateMachine, encode_commands
from redis_raft.storage import WriteAheadLog

__all__ = ["RaftNode", "now_ms"]

log = logging.getLogger("redis_raft.node")

READ_TIMEOUT_TEXT = "TIMEOUT the read was not served in time (no quorum confirmed this leader)"
_ROLE_CHARS = {"L": "M", "F": "S", "C": "S", "P": "S"}
_MAX_BATCH = 1024
_ENTRIES_PER_APPEND = 256  # the core's default (64) is sized for the simulator
NODES_KEY = b"__raft_nodes"
"""The backing server's hash of members added at run time: node id -> host:port."""


def now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class RaftNode:
    """One node's driver; :meth:`start` it, :meth:`close` it."""

    def __init__(
        self,
        options: NodeOptions,
        wal: WriteAheadLog,
        statemachine: StateMachine,
        *,
        failpoints: Failpoints | None = None,
        log_stream: TextIO | None = None,
        events_stream: TextIO | None = None,
    ) -> None:
        self.options = options
        self.wal = wal
        self.sm = statemachine
        self.failpoints = failpoints or Failpoints()
        settings = RaftConfig(
            election_timeout_ms=options.election_timeout_ms,
            heartbeat_ms=options.heartbeat_ms,
            min_replicas_to_write=options.min_replicas_to_write,
            min_replicas_max_lag_s=options.min_replicas_max_lag_s,
            lease_reads=options.read_mode == "lease",
            max_entries_per_append=_ENTRIES_PER_APPEND,
        )
        seed = int.from_bytes(os.urandom(8), "little")
        self.core = RaftCore(options.node_id, options.voters, random.Random(seed), settings)
        self.core.restore(wal.records())
        self.addresses: dict[str, tuple[str, int]] = dict(options.peers)
        """The address book: ``--peers`` and the members added at run time (their
        addresses are replicated in the backing server's ``__raft_nodes`` hash)."""
        self.peers = PeerLinks(options.node_id, self.addresses, options.requirepass)
        self._config_seen = self.core.config
        self.pid = os.getpid()
        self._log = RedisLogWriter(log_stream or sys.stdout, pid=self.pid)
        self._events = EventStreamWriter(events_stream) if events_stream is not None else None
        self._pending: list[Action] = []
        self._inbox: list[Received | ClientRequest] = []
        """Messages and requests of this loop turn, stepped together (core.step_many)."""
        self._flush_handle: asyncio.Handle | None = None
        self._batches: deque[tuple[int, bool, list[Action]]] = deque()
        """Action batches not carried out yet: (write sequence they wait for, whether
        they persisted records, actions)."""
        self._written_seq = 0  # log writes that want an fsync
        self._synced_seq = 0  # of those, how many an fsync covered
        self._syncing = False
        self._written_last_index = 0
        self._durable_index = self.core.log.last_index  # synced log (fsync always)
        self._gate: deque[tuple[int, object]] = deque()
        """State machine work in log order, each with the write sequence it waits for."""
        self._fsync_pool: ThreadPoolExecutor | None = None
        self.fsyncs = 0
        self._clients: dict[str, Callable[[object], None]] = {}
        """Who waits for each client request's reply value."""
        self._deadlines: list[tuple[int, str]] = []  # heap of (deadline ms, client)
        self._ids = itertools.count(1)
        self._work: deque[object] = deque()
        self._work_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.snapshot_every = options.snapshot_every
        self.request_timeout_ms = options.request_timeout_ms
        self.snapshots_taken = 0
        self.fatal: str | None = None
        self.last_leader_contact_ms: int | None = None

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await self.refresh_addresses()
        self.peers.start()
        self._tasks = [loop.create_task(self._tick_loop()), loop.create_task(self._apply_loop())]
        core = self.core
        self.say(
            f"Raft node {core.id} started: term {core.term}, log {core.log.snap_index}.."
            f"{core.log.last_index}, backing server at index {self.sm.floor}",
            level="*",
        )

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.peers.close()
        if self._fsync_pool is not None:
            self._fsync_pool.shutdown(wait=True)
        waiting, self._clients = self._clients, {}
        for answer in waiting.values():
            answer(ErrorReply(TIMEOUT))

    # -- inputs --------------------------------------------------------------------
    def step(self, event: RaftInput) -> None:
        """Step the core now; its actions run at the end of this loop turn."""
        try:
            actions = self.core.step(event, now_ms())
        except RaftError as exc:
            self.say(f"core refused {type(event).__name__}: {exc}")
            return
        self._queue(actions)

    def receive(self, sender: str, message: Message) -> None:
        """A peer message arrived; stepped with the others of this loop turn."""
        self._inbox.append(Received(sender, message))
        self._schedule_flush()

    async def request(self, request: object, timeout_s: float | None = None) -> object:
        """Ask the core (a Write, Read, ...); the reply value, or None if none came in
        time (or ErrorReply(TIMEOUT) when the node closes)."""
        return await self.submit(request, timeout_s)

    def submit(self, request: object, timeout_s: float | None = None) -> asyncio.Future[object]:
        """Step a request into the core at the end of this loop turn; a future of its
        reply value (None if no reply came within ``timeout_s``, default the request
        timeout)."""
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()

        def answer(value: object) -> None:
            if not future.done():
                future.set_result(value)

        self.submit_with(request, answer, timeout_s)
        return future

    def submit_with(
        self, request: object, answer: Callable[[object], None], timeout_s: float | None = None
    ) -> None:
        """As :meth:`submit`, but ``answer(value)`` is called (once) with the reply value,
        from the node's own loop turn: no future, no callback scheduled per request."""
        client = f"c{next(self._ids)}"
        self._clients[client] = answer
        wait_ms = self.request_timeout_ms if timeout_s is None else int(timeout_s * 1000)
        heapq.heappush(self._deadlines, (now_ms() + wait_ms, client))
        self._inbox.append(ClientRequest(client, request))
        self._schedule_flush()

    def _expire_requests(self, now: int) -> None:
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, client = heapq.heappop(deadlines)
            answer = self._clients.pop(client, None)
            if answer is not None:
                answer(None)

    # -- carrying out actions ------------------------------------------------------
    def _queue(self, actions: list[Action]) -> None:
        if not actions:
            return
        self._pending.extend(actions)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        if self._inbox:
            events, self._inbox = self._inbox, []
            try:
                self._pending.extend(self.core.step_many(events, now_ms()))
            except RaftError as exc:  # pragma: no cover - messages and requests never raise
                self._die(f"the core failed: {exc}")
        actions, self._pending = self._pending, []
        records = [a.record for a in actions if isinstance(a, Persist)]
        if records:
            try:
                if self.wal.write_many(records):  # type: ignore[arg-type]
                    self._written_seq += 1
            except (RaftError, OSError) as exc:  # nothing may leave the node unpersisted
                self._die(f"cannot write the log: {exc}")
        seq = self._written_seq
        if self.wal.fsync_policy != "always" or seq <= self._synced_seq:
            self._durable_index = self.core.log.last_index
        else:  # entries rewritten from an index on are not durable again until synced
            for record in records:
                if isinstance(record, LogAppend) and record.entries:
                    first = record.entries[0].index - 1
                    self._durable_index = min(self._durable_index, first)
                elif isinstance(record, SnapshotRecord):
                    self._durable_index = min(self._durable_index, record.meta.index)
        ordered: list[Action] = []
        for action in actions:
            if isinstance(action, Send) and isinstance(action.message, AppendEntries):
                self._send_early(action.to, action.message)
            elif isinstance(action, Reply):
                self._reply(action)  # depends on no record of this batch (module docstring)
            elif isinstance(action, Apply):
                work = action.command
                need = seq
                if isinstance(work, RunQuery) or (
                    isinstance(work, ApplyEntry) and work.entry.index <= self._durable_index
                ):
                    need = 0
                self._gate.append((need, work))
            else:
                ordered.append(action)
        self._batches.append((seq, bool(records), ordered))
        self._written_last_index = self.core.log.last_index
        self._release()
        self._start_sync()

    def _send_early(self, to: str, message: AppendEntries) -> None:
        """A leader's entries go out while its own copy is being synced (Raft allows
        it: the leader applies and acknowledges only once its copy is durable too), but
        the commit index they carry is capped at this node's durable log, so no
        follower applies an entry before a majority holds it durably."""
        if message.commit > self._durable_index:
            message = dataclasses.replace(message, commit=self._durable_index)
        self.peers.send(to, message)

    def _start_sync(self) -> None:
        """One fsync at a time, in a thread; it covers every write made before it."""
        if self._syncing or self._written_seq <= self._synced_seq or self._closing:
            return
        if self._fsync_pool is None:
            self._fsync_pool = ThreadPoolExecutor(1, thread_name_prefix="raft-fsync")
        self._syncing = True
        target = self._written_seq
        last_index = self._written_last_index
        loop = asyncio.get_running_loop()
        job = self._fsync_pool.submit(self.wal.sync_data)

        def done(job: ThreadFuture[None]) -> None:
            loop.call_soon_threadsafe(self._synced, target, last_index, job)

        job.add_done_callback(done)

    def _synced(self, target: int, last_index: int, job: ThreadFuture[None]) -> None:
        self._syncing = False
        error = job.exception()
        if error is not None:  # nothing may leave the node unsynced
            self._die(f"cannot sync the log: {error}")
        self.fsyncs += 1
        self._synced_seq = target
        self._durable_index = max(self._durable_index, last_index)
        self._release()
        self._start_sync()

    def _release(self) -> None:
        """Carry out, in order, the batches whose records are durable."""
        batches = self._batches
        while batches and batches[0][0] <= self._synced_seq:
            _, persisted, actions = batches.popleft()
            if persisted:
                self.failpoints.hit("after-persist-before-send")
            self._carry_out(actions)
        gate = self._gate
        if gate and gate[0][0] <= self._synced_seq:
            while gate and gate[0][0] <= self._synced_seq:
                self._work.append(gate.popleft()[1])
            self._work_ready.set()
        self.peers.flush()
        if self.core.config != self._config_seen:
            self._config_changed()

    def _reply(self, action: Reply) -> None:
        answer = self._clients.pop(action.client, None)
        if answer is not None:
            answer(action.value)

    def _carry_out(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.peers.send(action.to, action.message)  # type: ignore[arg-type]
            elif isinstance(action, Emit):
                self._emit(action.event)

    # -- membership ----------------------------------------------------------------
    def address_of(self, node: str) -> str | None:
        """``host:port`` of ``node`` from the address book, or None."""
        address = self.addresses.get(node)
        return None if address is None else f"{address[0]}:{address[1]}"

    def learn_address(self, node: str, host: str, port: int) -> None:
        """Put ``node`` in the address book (its link is reopened if it moved)."""
        if node == self.options.node_id:
            return
        old = self.addresses.get(node)
        self.addresses[node] = (host, port)
        if old is not None and old != (host, port):
            self.peers.forget(node)

    async def refresh_addresses(self) -> None:
        """Read the replicated address book from the backing server."""
        command = encode_commands([[b"HGETALL", NODES_KEY]], transaction=False)
        reply = await self.sm.query(command)
        flat: list[Frame] = []
        if isinstance(reply, Map):
            flat = [part for pair in reply.items for part in pair]
        elif isinstance(reply, Array):
            flat = list(reply.items)
        texts = [f.value.decode("utf-8", "replace") for f in flat if isinstance(f, BulkString)]
        for node, address in zip(texts[::2], texts[1::2], strict=False):
            host, _, port = address.rpartition(":")
            if host and port.isdigit():
                self.learn_address(node, host, int(port))

    def _config_changed(self) -> None:
        old, new = self._config_seen, self.core.config
        self._config_seen = new
        self.say(f"membership: voters {','.join(new.voters)} learners {','.join(new.learners)}")
        for gone in set(old.members) - set(new.members):
            if gone not in self.options.peers:
                self.peers.forget(gone)

    def _emit(self, event: Event) -> None:
        if event.name == "+new-leader":
            self.last_leader_contact_ms = now_ms()
        stamped = dataclasses.replace(
            event,
            wall_ns=time.time_ns(),
            mono_ns=time.monotonic_ns(),
            pid=self.pid,
            role=_ROLE_CHARS.get(event.role, "S"),
        )
        self._write_event(stamped)

    def say(self, message: str, *, level: str = "#") -> None:
        """Log a message that is not a core event."""
        event = Event(
            source=self.options.node_id,
            name=message,
            wall_ns=time.time_ns(),
            mono_ns=time.monotonic_ns(),
            level=level,
            pid=self.pid,
            role="M" if self.core.is_leader else "S",
        )
        self._write_event(event)

    def _write_event(self, event: Event) -> None:
        try:
            self._log.write(event)
            if self._events is not None:
                self._events.write(event)
        except (OSError, ValueError) as exc:  # a closed stream must not stop the node
            log.debug("cannot write an event: %s", exc)

    # -- tasks -----------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        interval = self.options.tick_ms / 1000
        while True:
            now = now_ms()
            self._queue(self.core.tick(now))
            self.wal.tick()
            self._expire_requests(now)
            await asyncio.sleep(interval)

    async def _apply_loop(self) -> None:
        while True:
            await self._work_ready.wait()
            self._work_ready.clear()
            while self._work:
                try:
                    await self._do_work()
                except (LinkError, RaftError) as exc:
                    self._die(f"the backing server failed: {exc}")
                    return
            await self._maybe_snapshot()

    async def _do_work(self) -> None:
        first = self._work[0]
        if isinstance(first, ApplyEntry):
            batch: list[ApplyEntry] = []
            while self._work and isinstance(self._work[0], ApplyEntry) and len(batch) < _MAX_BATCH:
                item = self._work.popleft()
                assert isinstance(item, ApplyEntry)
                batch.append(item)
            entries = [item.entry for item in batch]
            results = await self.sm.apply(entries)
            if any(isinstance(e.data, bytes) for e in entries):
                self.failpoints.hit("after-apply-before-reply")
            done = [Applied(e.index, r) for e, r in zip(entries, results, strict=True)]
            try:
                self._queue(self.core.step_many(done, now_ms()))
            except RaftError as exc:  # Applied out of order: a driver bug
                self._die(f"the core refused the applied entries: {exc}")
            if any(isinstance(e.data, bytes) and NODES_KEY in e.data for e in entries):
                await self.refresh_addresses()
        elif isinstance(first, ApplySnapshot):
            self._work.popleft()
            installed = await self.sm.install_snapshot(first.meta, first.data)
            verb = "installed" if installed else "skipped (backing server is ahead)"
            await self.refresh_addresses()
            self.say(f"snapshot at index {first.meta.index} {verb}", level="*")
            self.step(Applied(first.meta.index, None))
        elif isinstance(first, RunQuery):
            self._work.popleft()
            result = await self.sm.query(first.command)
            self.step(QueryDone(first.query_id, result))
        else:  # pragma: no cover - the core sends nothing else
            self._work.popleft()

    async def _maybe_snapshot(self) -> None:
        core = self.core
        if (
            not self.snapshot_every
            or core.applied - core.log.snap_index < self.snapshot_every
            or self._work
        ):
            return
        index = core.applied
        try:
            data = await self.sm.take_snapshot()
        except (LinkError, RaftError) as exc:
            self.say(f"snapshot at {index} failed: {exc}")
            self.snapshot_every = 0
            return
        if core.applied != index:  # pragma: no cover - nothing applies meanwhile
            return
        self.snapshots_taken += 1
        self.step(SnapshotTaken(index, data))

    def _die(self, reason: str) -> None:
        self.fatal = reason
        self.say(f"fatal: {reason}; exiting")
        os._exit(1)

    # -- state for RAFT.INFO -----------------------------------------------------------
    def info(self) -> list[tuple[str, object]]:
        core = self.core
        leader = core.leader
        lines: list[tuple[str, object]] = [
            ("node_id", core.id),
            ("role", core.role_name),
            ("term", core.term),
            ("leader_id", leader or ""),
            ("leader_address", (self.address_of(leader) or "") if leader else ""),
            ("commit_index", core.commit),
            ("applied_index", core.applied),
            ("last_log_index", core.log.last_index),
            ("snapshot_index", core.log.snap_index),
            ("backing_applied_index", self.sm.applied_in_redis),
            ("backing_server", self.sm.backing.address),
            ("voters", ",".join(core.config.voters)),
            ("learners", ",".join(core.config.learners)),
            ("follower_mode", self.options.follower_mode),
            ("fsync", self.wal.fsync_policy),
            ("min_replicas_to_write", core.min_replicas_to_write),
            ("min_replicas_max_lag", core.min_replicas_max_lag_s),
            ("snapshots_taken", self.snapshots_taken),
            ("log_fsyncs", self.fsyncs),
            ("pending_requests", len(self._clients)),
        ]
        role = core.role
        now = now_ms()
        for peer, link in sorted(self.peers.links.items()):
            parts = [
                f"addr={link.host}:{link.port}",
                f"connected={'yes' if link.connected else 'no'}",
                f"dropped={link.dropped}",
            ]
            if isinstance(role, Leader) and peer in role.progress:
                pr = role.progress[peer]
                parts.append(f"match={pr.match}")
                age = "-1" if pr.last_ack_ms is None else str(now - pr.last_ack_ms)
                parts.append(f"last_ack_ms_ago={age}")
            lines.append((f"peer_{peer}", ",".join(parts)))
        return lines


def error_frame(text: str) -> SimpleError:
    return SimpleError(text.encode("utf-8", "surrogateescape"))
