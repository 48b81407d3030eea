"""One commit agent as its own OS process: ``python -m commit_lab agent ...``.

The agent runs one core on the wall clock: a participant (``--shard HOST:PORT``, its
durable state in that redis-server through :class:`~commit_lab.shard.ShardStore`), a
coordinator (``--log FILE``, a :class:`~commit_lab.coordinator_log.CoordinatorLog`) or a
decision gateway (``--raft HOST:PORT``, a redis_raft node; the consensus variant). It
rebuilds its core from the shard or the log when it starts, so a restart after a SIGKILL
recovers; an in-doubt transaction is resolved by asking (the core's own recovery), never
guessed. Messages travel as :mod:`commit_lab.wire` lines: it listens on ``--listen`` and
reaches each peer at the address ``--peers`` gives (in the lab, a fault proxy in front
of that peer). Per step it persists, then (with ``--control``) reports the step to the
world and waits for its go (:mod:`commit_lab.control`), then sends.

This module is the asyncio driver only; the protocol is in :mod:`commit_lab.core`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from commit_lab.control import (
    decode_line,
    encode_actions,
    encode_input,
    encode_line,
    participant_state,
)
from commit_lab.core import SIM_CONFIG, CommitConfig
from commit_lab.errors import CommitLabError, ShardError
from commit_lab.wire import Frame, FrameReader, WireError, build_value, encode
from labkit.actions import Action, Emit, Persist, Reply, Send
from labkit.core import ClientRequest, Core, Input, Received
from labkit.errors import UsageError

__all__ = ["TIMINGS", "AgentSpec", "parse_address", "parse_peers", "run_agent"]

Role = Literal["participant", "coordinator", "gateway"]

TIMINGS: dict[str, CommitConfig] = {
    "default": CommitConfig(),
    "demo": CommitConfig(
        vote_timeout_ms=500,
        ack_timeout_ms=500,
        retry_ms=100,
        wait_timeout_ms=500,
        collect_ms=150,
        round_timeout_ms=500,
    ),
    "sim": SIM_CONFIG,
}
"""``--timing``: the cores' defaults, the real-Redis demo's, or the simulator's."""

GO_TIMEOUT_S = 60.0
"""How long an agent waits for the world's go before it gives up (the world is gone)."""


def parse_address(text: str, what: str = "address") -> tuple[str, int]:
    """``HOST:PORT`` or ``PORT`` (on 127.0.0.1); loopback only. :class:`UsageError` names it."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "127.0.0.1", text
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(f"{what} {text!r}: the port is not a number") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"{what} {text!r}: port {port} is out of range")
    try:
        loopback = ipaddress.ip_address(host or "127.0.0.1").is_loopback
    except ValueError:
        raise UsageError(f"{what} {text!r}: {host!r} is not an IP address") from None
    if not loopback:
        raise UsageError(f"{what} {text!r}: only loopback addresses are allowed in the lab")
    return host or "127.0.0.1", port


def parse_peers(text: str) -> dict[str, tuple[str, int]]:
    """``name=HOST:PORT,...``; :class:`UsageError` names the bad entry."""
    peers: dict[str, tuple[str, int]] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, address = item.partition("=")
        if not sep or not name or any(c.isspace() for c in name):
            raise UsageError(f"peer {item!r}: expected NAME=HOST:PORT")
        if name in peers:
            raise UsageError(f"peer {name!r} is given twice")
        peers[name] = parse_address(address, f"peer {name}")
    return peers


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """What one agent runs, where its state lives, and whom it talks to."""

    node_id: str
    protocol: str
    role: Role
    store: str
    """The shard or redis_raft node (``HOST:PORT``), or the coordinator log's path."""
    listen: tuple[str, int]
    peers: dict[str, tuple[str, int]]
    control: tuple[str, int] | None = None
    timing: str = "demo"
    tick_ms: int = 10

    @classmethod
    def from_args(cls, args: Any) -> AgentSpec:
        """From ``agent`` arguments; :class:`UsageError` for anything wrong."""
        from commit_lab.sim_scenario import PROTOCOLS

        if args.protocol not in PROTOCOLS:
            raise UsageError(f"unknown protocol {args.protocol!r}; known: {', '.join(PROTOCOLS)}")
        if not args.id or any(c.isspace() or c in ",=" for c in args.id):
            raise UsageError(f"agent id {args.id!r} must be a non-empty name without , = or spaces")
        given = [
            (role, value)
            for role, value in (
                ("participant", args.shard),
                ("coordinator", args.log),
                ("gateway", args.raft),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise UsageError(
                "give exactly one of --shard (participant), --log (coordinator) "
                "or --raft (decision gateway)"
            )
        role, store = given[0]
        if role != "coordinator":
            parse_address(store, "--shard" if role == "participant" else "--raft")
        if role == "gateway" and args.protocol != "2pc-consensus":
            raise UsageError("--raft (a decision gateway) only serves protocol 2pc-consensus")
        if args.timing not in TIMINGS:
            raise UsageError(f"unknown timing {args.timing!r}; known: {', '.join(TIMINGS)}")
        if args.tick_ms <= 0:
            raise UsageError(f"--tick-ms must be at least 1, got {args.tick_ms}")
        peers = parse_peers(args.peers)
        if args.id in peers:
            raise UsageError(f"--peers names the agent itself ({args.id})")
        return cls(
            node_id=args.id,
            protocol=args.protocol,
            role=role,  # type: ignore[arg-type]
            store=store,
            listen=parse_address(args.listen, "--listen"),
            peers=peers,
            control=None if args.control is None else parse_address(args.control, "--control"),
            timing=args.timing,
            tick_ms=args.tick_ms,
        )


class Storage:
    """The agent's durable side: a shard, a coordinator log, or nothing (a gateway)."""

    def __init__(self, spec: AgentSpec) -> None:
        from commit_lab.coordinator_log import CoordinatorLog
        from commit_lab.shard import ShardStore

        self.spec = spec
        self.shard: ShardStore | None = None
        self.log: CoordinatorLog | None = None
        if spec.role == "participant":
            host, port = parse_address(spec.store)
            client = redis.Redis(
                host=host,
                port=port,
                socket_timeout=5,
                socket_connect_timeout=2,
                retry=Retry(NoBackoff(), 1),
            )
            self.shard = ShardStore(spec.node_id, client)
        elif spec.role == "coordinator":
            from pathlib import Path

            self.log = CoordinatorLog(Path(spec.store))

    def build(self) -> Core:
        """A core rebuilt from what the storage holds."""
        from commit_lab.sim_scenario import make_coordinator, make_participant

        spec, config = self.spec, TIMINGS[self.spec.timing]
        rng = random.Random(f"{spec.node_id}-{time.monotonic_ns()}")
        if self.shard is not None:
            try:
                core: Core = make_participant(
                    spec.protocol, spec.node_id, self.shard.balances(), rng, config
                )
                core.restore(self.shard.recover())
            except redis.RedisError as exc:
                raise ShardError(f"cannot read shard {spec.store}: {exc}") from None
            return core
        if self.log is not None:
            core = make_coordinator(spec.protocol, spec.node_id, rng, config)
            core.restore(self.log.read())
            return core
        from commit_lab.raft_decision import RaftGateway, RaftRegister

        host, port = parse_address(spec.store)
        return RaftGateway(spec.node_id, RaftRegister(host, port))

    def persist(self, record: object) -> None:
        if self.shard is not None:
            try:
                self.shard.persist(record)
            except redis.RedisError as exc:
                raise ShardError(f"shard {self.spec.store}: {exc}") from None
        elif self.log is not None:
            self.log.append(record)


class Outlet:
    """Messages to one peer over one TCP connection, reopened when it breaks.

    A message that cannot be written (the peer is down, the link was reset) is dropped,
    as a datagram would be: the cores resend what matters.
    """

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.dropped = 0
        self.watchers: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        writer: asyncio.StreamWriter | None = None
        while True:
            data = await self.queue.get()
            if writer is None or writer.is_closing():
                writer = await self._connect()
                if writer is None:
                    self.dropped += 1
                    self.queue.task_done()
                    continue
            try:
                writer.write(data)
                await asyncio.wait_for(writer.drain(), 5.0)
            except (OSError, TimeoutError):
                writer.close()
                writer = None
                self.dropped += 1
            finally:
                self.queue.task_done()

    async def _connect(self) -> asyncio.StreamWriter | None:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*self.address), 1.0)
        except (OSError, TimeoutError):
            return None
        watcher = asyncio.get_running_loop().create_task(_close_on_eof(reader, writer))
        self.watchers.add(watcher)
        watcher.add_done_callback(self.watchers.discard)
        return writer


async def _close_on_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while await reader.read(4096):
            pass
    writer.close()


class Agent:
    """The asyncio driver: inbox, ticks, persist, report, send."""

    def __init__(self, spec: AgentSpec) -> None:
        self.spec = spec
        self.storage = Storage(spec)
        self.core = self.storage.build()
        self.inbox: asyncio.Queue[Input] = asyncio.Queue()
        self.outlets = {name: Outlet(address) for name, address in spec.peers.items()}
        self.control: asyncio.StreamWriter | None = None
        self.go = asyncio.Event()
        self.ack = False
        self.t0 = time.monotonic()

    @property
    def now_ms(self) -> int:
        return int((time.monotonic() - self.t0) * 1000)

    def log(self, text: str) -> None:
        stamp = time.strftime("%d %b %Y %H:%M:%S", time.gmtime())
        print(f"{os.getpid()}:A {stamp} {self.spec.node_id} {text}", flush=True)

    async def run(self) -> None:
        host, port = self.spec.listen
        server = await asyncio.start_server(self._accept, host, port)
        bound = server.sockets[0].getsockname()
        self.log(f"* {self.spec.role} {self.spec.protocol} listening on {bound[0]}:{bound[1]}")
        tasks = [asyncio.create_task(outlet.run()) for outlet in self.outlets.values()]
        waiters: list[asyncio.Task[None]] = [asyncio.create_task(self._loop())]
        if self.spec.control is not None:
            reader, self.control = await asyncio.open_connection(*self.spec.control)
            self._report(
                {
                    "op": "hello",
                    "id": self.spec.node_id,
                    "pid": os.getpid(),
                    "listen": list(bound[:2]),
                    "state": participant_state(self.core),
                }
            )
            waiters.append(asyncio.create_task(self._read_control(reader)))
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks + waiters:
                task.cancel()
            server.close()

    async def _loop(self) -> None:
        next_tick = 0
        while True:
            now = self.now_ms
            if now >= next_tick:
                next_tick = now + self.spec.tick_ms
                await self._step(None, self.core.tick(now))
                continue
            try:
                item = await asyncio.wait_for(self.inbox.get(), (next_tick - now) / 1000)
            except TimeoutError:
                continue
            await self._step(item, self.core.step(item, self.now_ms))

    async def _step(self, event: Input | None, actions: list[Action]) -> None:
        if not actions:
            return
        stamped = [_stamp(a) for a in actions]
        done: list[Action] = []
        failed = ""
        for action in stamped:
            if isinstance(action, Persist):
                try:
                    self.storage.persist(action.record)
                except CommitLabError as exc:
                    failed = str(exc)
                    break
            done.append(action)
        if failed:
            done = [a for a in done if isinstance(a, Persist)]
        for action in done:
            if isinstance(action, Emit):
                e = action.event
                self.log(f"# {' '.join(p for p in (e.name, e.instance, e.details) if p)}")
        if self.control is not None:
            self.go.clear()
            self._report(
                {
                    "op": "step",
                    "input": encode_input(event),
                    "actions": encode_actions(done),
                    "state": participant_state(self.core),
                    "failed": failed,
                }
            )
            await asyncio.wait_for(self.go.wait(), GO_TIMEOUT_S)
        if failed:
            self.log(f"# -persist-failed {failed}; rebuilding from storage")
            self.core = self.storage.build()  # raises (and ends the agent) if it cannot
            return
        for action in done:
            if isinstance(action, Send):
                outlet = self.outlets.get(action.to)
                if outlet is not None:
                    outlet.queue.put_nowait(
                        encode(Frame(self.spec.node_id, action.to, action.message))
                    )
            elif isinstance(action, Reply) and self.control is None:
                self.log(f"reply to {action.client}: {action.value!r}")
        if self.ack:  # the world kills this agent once the step's messages are out
            self.ack = False
            for outlet in self.outlets.values():
                await asyncio.wait_for(outlet.queue.join(), 5.0)
            self._report({"op": "sent"})

    def _report(self, data: dict[str, object]) -> None:
        assert self.control is not None
        self.control.write(encode_line(data))

    async def _read_control(self, reader: asyncio.StreamReader) -> None:
        from commit_lab.wire import MESSAGE_TYPES

        while line := await reader.readline():
            data = decode_line(line)
            if data["op"] == "go":
                self.ack = data.get("ack") is True
                self.go.set()
            elif data["op"] == "request" and isinstance(data.get("client"), str):
                value = data.get("value")
                name = value.get("type") if isinstance(value, dict) else None
                cls = MESSAGE_TYPES.get(name) if isinstance(name, str) else None
                if cls is None or not isinstance(value, dict):
                    raise WireError(f"request of unknown type {name!r}")
                request = build_value(cls, value.get("body"), name or "request")
                self.inbox.put_nowait(ClientRequest(data["client"], request))
        self.log("# control stream closed; exiting")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader()
        try:
            while data := await reader.read(65536):
                for frame in frames.feed(data):
                    if frame.to == self.spec.node_id:
                        self.inbox.put_nowait(Received(frame.sender, frame.message))
        except WireError as exc:
            self.log(f"# -bad-frame {exc}; closing the connection")
        except OSError:
            pass
        finally:
            writer.close()


def _stamp(action: Action) -> Action:
    if isinstance(action, Emit):
        event = dataclasses.replace(
            action.event, wall_ns=time.time_ns(), mono_ns=time.monotonic_ns()
        )
        return Emit(event)
    return action


def run_agent(spec: AgentSpec) -> int:
    """Run until the control stream closes (or forever without one); exit status."""
    try:
        agent = Agent(spec)
    except (CommitLabError, redis.RedisError, OSError) as exc:
        print(f"commit_lab agent {spec.node_id}: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        asyncio.run(agent.run())
    except (CommitLabError, OSError, TimeoutError) as exc:
        print(f"commit_lab agent {spec.node_id}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def agent_argv(spec: AgentSpec) -> Sequence[str]:
    """The command-line arguments that run ``spec`` (after ``-m commit_lab``)."""
    store_flag = {"participant": "--shard", "coordinator": "--log", "gateway": "--raft"}
    argv = [
        "agent",
        "--id",
        spec.node_id,
        "--protocol",
        spec.protocol,
        store_flag[spec.role],
        spec.store,
        "--listen",
        f"{spec.listen[0]}:{spec.listen[1]}",
        "--peers",
        ",".join(f"{n}={h}:{p}" for n, (h, p) in spec.peers.items()),
        "--timing",
        spec.timing,
        "--tick-ms",
        str(spec.tick_ms),
    ]
    if spec.control is not None:
        argv += ["--control", f"{spec.control[0]}:{spec.control[1]}"]
    return argv
