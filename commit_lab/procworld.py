"""Agents as separate OS processes over TCP, links through fault proxies, real SIGKILLs.

:class:`ProcessWorld` is :class:`~commit_lab.driver.RealWorld`'s twin for the same
scripts (``nodes``, ``network.cut/partition/heal``, ``crash``, ``restart``, ``at``,
``request``, ``add_invariant`` with ``last_step``), but every agent is a
``python -m commit_lab agent`` process (:mod:`commit_lab.agent`). Every directed link
``a -> b`` goes through its own :class:`~labkit.faults.ProxyHub` proxy named ``a->b``:
a cut blackholes it, and a heal first resets the cut links (what they held is lost,
as on the in-memory bus) and then lets traffic through. A crash SIGKILLs the agent
(and a participant's redis-server); a restart starts the redis-server again (AOF
replay) and a new agent process, which rebuilds its core from the shard or its log.

Each agent reports every step on a control stream and waits for a go before it sends
(:mod:`commit_lab.control`); the world runs its invariant hooks in between, so faults
decided on a step land before its messages leave, and checkers see the same
``Persist``/``Send`` actions they see in the simulator. A participant's report carries
its balances, locks and outcomes: ``nodes[p].core`` is a
:class:`~commit_lab.control.ParticipantView` of them.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from commit_lab.agent import AgentSpec, Role, agent_argv
from commit_lab.control import (
    ParticipantView,
    decode_actions,
    decode_input,
    decode_line,
    encode_line,
)
from commit_lab.driver import LinkWatcher, WallClockWorld
from commit_lab.errors import CommitLabError
from commit_lab.shard import SHARD_DIRECTIVES, ShardStore
from commit_lab.wire import WireError, plain_value
from labkit.actions import Emit, Reply
from labkit.events import Event
from labkit.faults import ProxyHub
from labkit.realredis import Lab, RedisProcess, reaper
from labkit.realredis.ports import free_port
from labkit.sim.records import ClientReply, ConnectionRefused, StepRecord

__all__ = ["AgentProcess", "ProcNode", "ProcessWorld", "ProxyNetwork"]

START_TIMEOUT_S = 30.0


class AgentProcess:
    """One agent process: started with the lab's run marker, PDEATHSIG and the reaper."""

    def __init__(self, name: str, argv: list[str], log_path: Path, run_id: str) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.run_id = run_id
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        env = dict(os.environ)
        env[reaper.RUN_ENV] = self.run_id
        env[reaper.OWNER_ENV] = str(os.getpid())
        env.setdefault("TZ", "UTC")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "commit_lab", *self.argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                preexec_fn=reaper.child_preexec(),  # noqa: PLW1509 - PDEATHSIG needs it
            )
        reaper.register(self.proc)

    def kill(self) -> None:
        """SIGKILL, and reap."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        reaper.unregister(proc)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass(slots=True)
class ProcNode:
    """One agent as the world sees it."""

    id: str
    role: Role
    store_arg: str
    listen: tuple[str, int]
    agent: AgentProcess | None = None
    proc: RedisProcess | None = None
    store: ShardStore | None = None
    conn: socket.socket | None = None
    buffer: bytearray = field(default_factory=bytearray)
    core: ParticipantView | object | None = None
    """Set while the agent is up and connected (a view for participants)."""
    crashes: int = 0
    pid: int | None = None

    @property
    def up(self) -> bool:
        return self.core is not None


class ProxyNetwork:
    """Cuts and heals on the per-link proxies (and on any watchers, e.g. the Raft links)."""

    def __init__(self, hub: ProxyHub) -> None:
        self.hub = hub
        self._blocked: set[tuple[str, str]] = set()
        self.watchers: list[LinkWatcher] = []

    def blocked(self, src: str, dst: str) -> bool:
        return (src, dst) in self._blocked

    def cut(self, src: str, dst: str) -> None:
        name = f"{src}->{dst}"
        if src != dst and name in self.hub.proxies and (src, dst) not in self._blocked:
            self.hub.partition(name)
            self._blocked.add((src, dst))
        if src != dst:
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
        """Reset the cut links (dropping what they held), then let traffic through."""
        for src, dst in sorted(self._blocked):
            name = f"{src}->{dst}"
            self.hub.reset(name)
            self.hub.heal(name)
        self._blocked.clear()
        for watcher in self.watchers:
            watcher.heal()


class ProcessWorld(WallClockWorld):
    """Agent processes on the wall clock, shards in real Redis, scripted faults."""

    def __init__(
        self,
        lab: Lab,
        workdir: Path,
        *,
        protocol: str,
        prefix: str = "",
        timing: str = "demo",
        tick_ms: int = 10,
    ) -> None:
        self.lab = lab
        self.workdir = workdir
        self.protocol = protocol
        self.prefix = prefix
        self.timing = timing
        self.tick_ms = tick_ms
        self.nodes: dict[str, ProcNode] = {}
        self.replies: list[ClientReply] = []
        self.events: list[Event] = []
        self.last_step: StepRecord | None = None
        self.closers: list[Callable[[], None]] = []
        self.hub = ProxyHub()
        self.network = ProxyNetwork(self.hub)
        self._hooks: list[tuple[str, Callable[[ProcessWorld], str | None]]] = []
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self._t0 = time.monotonic()
        self._selector = selectors.DefaultSelector()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self.control = self._listener.getsockname()[:2]
        self._started = False
        self._stepping: str | None = None
        self._doomed: set[str] = set()
        self.bad_lines = 0

    # -- set-up --------------------------------------------------------------------
    def add_shard(self, name: str, opening: dict[str, int]) -> ProcNode:
        """A redis-server for participant ``name``, seeded; its agent starts in :meth:`start`."""
        proc = self.lab.server(f"{self.prefix}shard-{name}", extra=list(SHARD_DIRECTIVES))
        store = ShardStore(name, proc.client())
        store.seed(opening)
        node = ProcNode(name, "participant", proc.address, _listen(), proc=proc, store=store)
        self.nodes[name] = node
        return node

    def add_coordinator(self, name: str, log_name: str) -> ProcNode:
        node = ProcNode(name, "coordinator", str(self.workdir / log_name), _listen())
        self.nodes[name] = node
        return node

    def add_gateway(self, name: str, raft_address: str) -> ProcNode:
        node = ProcNode(name, "gateway", raft_address, _listen())
        self.nodes[name] = node
        return node

    def start(self) -> None:
        """A proxy per directed link, every agent started, and each one's hello awaited."""
        for src in self.nodes:
            for dst, target in self.nodes.items():
                if src != dst:
                    self.hub.add(f"{src}->{dst}", target.listen)
        for node in self.nodes.values():
            self._spawn(node)
        self._started = True
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(n.up for n in self.nodes.values()):
            for node in self.nodes.values():
                if node.agent is not None and not node.agent.running and not node.up:
                    raise CommitLabError(
                        f"agent {node.id} exited before reporting:\n{node.agent.log_tail()}"
                    )
            if time.monotonic() > deadline:
                late = [n.id for n in self.nodes.values() if not n.up]
                raise CommitLabError(f"agents {', '.join(late)} did not report within 30 s")
            self._poll(0.05)

    def _spec(self, node: ProcNode) -> AgentSpec:
        peers = {
            other: self.hub.proxies[f"{node.id}->{other}"].listen
            for other in self.nodes
            if other != node.id
        }
        return AgentSpec(
            node_id=node.id,
            protocol=self.protocol,
            role=node.role,
            store=node.store_arg,
            listen=node.listen,
            peers=peers,
            control=(str(self.control[0]), int(self.control[1])),
            timing=self.timing,
            tick_ms=self.tick_ms,
        )

    def _spawn(self, node: ProcNode) -> None:
        agent = AgentProcess(
            node.id,
            list(agent_argv(self._spec(node))),
            self.workdir / f"agent-{node.id}.log",
            self.lab.run_id,
        )
        agent.start()
        node.agent = agent

    def close(self) -> None:
        """Kill every agent, then stop the proxies and what else the world started."""
        for node in self.nodes.values():
            self._disconnect(node)
            if node.agent is not None:
                node.agent.kill()
        while self.closers:
            self.closers.pop()()
        self.hub.close()
        with contextlib.suppress(OSError):
            self._selector.close()
            self._listener.close()

    def add_invariant(self, name: str, check: Callable[[ProcessWorld], str | None]) -> None:
        self._hooks.append((name, check))

    def at(self, time_ms: int, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (max(time_ms, self.now_ms), self._seq, fn))

    def request(
        self, node: str, request: object, *, client: str = "client", at_ms: int | None = None
    ) -> None:
        def fire() -> None:
            target = self.nodes[node]
            if target.conn is None or not target.up:
                self.replies.append(ClientReply(self.now_ms, node, client, ConnectionRefused(node)))
                return
            value = {"type": type(request).__name__, "body": plain_value(request)}
            self._send(target, {"op": "request", "client": client, "value": value})

        self.at(self.now_ms if at_ms is None else at_ms, fire)

    def note(self, name: str, details: str = "", source: str = "nemesis") -> None:
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
        """SIGKILL the agent process (and a participant's redis-server).

        A hook that crashes the agent whose step it is looking at kills it right after
        that step's messages left, as the in-process driver does (its sends are queued
        before the hooks run).
        """
        node = self.nodes[name]
        if node.agent is None or not node.agent.running:
            return
        if name == self._stepping:
            self._doomed.add(name)
            return
        self._kill(node)

    def _kill(self, node: ProcNode) -> None:
        assert node.agent is not None
        node.agent.kill()
        self._disconnect(node)
        node.crashes += 1
        if node.proc is not None:
            node.proc.kill()
        self.note(
            "+crash",
            f"{node.id} (SIGKILL pid {node.pid})" + (" and its redis-server" if node.proc else ""),
        )

    def _kill_after_sends(self, node: ProcNode) -> None:
        """Let ``node`` send what its step sends, wait until it says so, then SIGKILL it."""
        self._send(node, {"op": "go", "ack": True})
        deadline = time.monotonic() + 5.0
        while node.conn is not None and time.monotonic() < deadline:
            if b'"op":"sent"' in node.buffer:
                break
            node.conn.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = node.conn.recv(65536)
            except (TimeoutError, OSError):
                break
            finally:
                if node.conn is not None:
                    node.conn.setblocking(False)
            if not data:
                break
            node.buffer += data
        self._kill(node)

    def restart(self, name: str) -> None:
        """The redis-server again (AOF replay), then a new agent that recovers from it."""
        node = self.nodes[name]
        if node.agent is not None and node.agent.running:
            return
        if node.proc is not None and not node.proc.running:
            node.proc.start()
            assert node.store is not None
            node.store.client = node.proc.client()
        self._spawn(node)
        self.note("+restart", name)

    # -- running -------------------------------------------------------------------
    def _once(self) -> None:
        while self._queue and self._queue[0][0] <= self.now_ms:
            _, _, fn = heapq.heappop(self._queue)
            fn()
            self.last_step = None
            self._check()
        wake = self._queue[0][0] if self._queue else self.now_ms + 5
        self._poll(max(0, min(wake - self.now_ms, 5)) / 1000)

    def _poll(self, timeout_s: float) -> None:
        for key, _ in self._selector.select(timeout_s):
            if key.data is None:
                self._accept()
            else:
                self._read(key.data)
        if self._started:
            for node in self.nodes.values():
                if node.agent is not None and node.agent.proc is not None:
                    code = node.agent.proc.poll()
                    if code is not None and node.up:
                        self.note("-agent-exited", f"{node.id} exited with status {code}")
                        self._disconnect(node)

    def _accept(self) -> None:
        with contextlib.suppress(BlockingIOError):
            sock, _ = self._listener.accept()
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ, _Pending(sock))

    def _read(self, owner: ProcNode | _Pending) -> None:
        sock = owner.sock if isinstance(owner, _Pending) else owner.conn
        if sock is None:  # crashed by a hook while its data was waiting
            return
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if isinstance(owner, ProcNode):
                self._disconnect(owner)
            else:
                self._selector.unregister(sock)
                sock.close()
            return
        buffer = owner.buffer
        buffer += data
        current: ProcNode | _Pending | None = owner
        while current is not None and (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            try:
                current = self._handle(current, line)
            except WireError as exc:
                self.bad_lines += 1
                self.note("-bad-control-line", str(exc))

    def _handle(self, owner: ProcNode | _Pending, line: bytes) -> ProcNode | None:
        data = decode_line(line)
        if isinstance(owner, _Pending):
            node = self.nodes.get(str(data.get("id")))
            if data["op"] != "hello" or node is None:
                raise WireError(f"expected a hello from a known agent, got {line[:80]!r}")
            self._selector.unregister(owner.sock)
            self._disconnect(node)
            node.conn, node.buffer = owner.sock, owner.buffer
            node.pid = data.get("pid") if isinstance(data.get("pid"), int) else None
            self._selector.register(node.conn, selectors.EVENT_READ, node)
            node.core = ParticipantView.of(data.get("state")) or object()
            return node
        node = owner
        if node.conn is None:
            return None
        if data["op"] != "step":
            raise WireError(f"unexpected control op {data['op']!r} from {node.id}")
        actions = tuple(decode_actions(data.get("actions")))
        view = ParticipantView.of(data.get("state"))
        if view is not None:
            node.core = view
        now = self.now_ms
        for action in actions:
            if isinstance(action, Emit):
                self.events.append(action.event)
            elif isinstance(action, Reply):
                self.replies.append(ClientReply(now, node.id, action.client, action.value))
        failed = data.get("failed")
        if failed:
            self.note("-persist-failed", f"{node.id}: {failed}", source=node.id)
        self.last_step = StepRecord(
            now, node.id, decode_input(data.get("input")), actions, bool(failed)
        )
        self._stepping = node.id
        try:
            self._check()
        finally:
            self._stepping = None
        if node.id in self._doomed:
            self._doomed.discard(node.id)
            self._kill_after_sends(node)
            return None
        if node.conn is not None:  # not crashed by a hook
            self._send(node, {"op": "go"})
        return node

    def _send(self, node: ProcNode, data: dict[str, object]) -> None:
        if node.conn is None:
            return
        try:
            node.conn.setblocking(True)
            node.conn.sendall(encode_line(data))
            node.conn.setblocking(False)
        except OSError:
            self._disconnect(node)

    def _disconnect(self, node: ProcNode) -> None:
        if node.conn is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(node.conn)
            node.conn.close()
        node.conn = None
        node.core = None
        node.buffer = bytearray()

    def _check(self) -> None:
        for _, hook in self._hooks:
            hook(self)


@dataclass(slots=True)
class _Pending:
    """A control connection that has not said hello yet."""

    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)


def _listen() -> tuple[str, int]:
    return ("127.0.0.1", free_port("127.0.0.1", with_bus_port=False))
