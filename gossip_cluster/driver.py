"""The asyncio driver of one cluster node: the pure core, its clock, the bus, nodes.conf,
logs, and the backing server's replication.

* The core is stepped with Unix time in ms (gossip carries wall-clock seconds) and
  ticked every 100 ms (clusterCron).
* Actions are carried out in list order: ``Persist`` writes nodes.conf atomically
  (temporary file, fsync when the core asks, rename) before any later ``Send`` goes out;
  ``Send`` goes to :class:`~gossip_cluster.bus.Bus`; ``Emit`` writes a Redis-format log
  line and a JSON line; ``RedisCommand`` (``REPLICAOF``, a manual failover's
  ``CLIENT PAUSE`` / ``UNPAUSE``) is queued for the backing server, in order; after the
  pause, the offset it froze is read and fed back as ``WritesPaused``.
* Every 100 ms the backing server's ``INFO replication`` becomes a ``ReplicationInfo``.
  The same poll keeps the server's role in line with the core's (``REPLICAOF`` after a
  restart, as clusterCron's replicationSetMaster does, or when a command was lost).
* PUBLISH/PUBLISHSHARD frames from peers are published on the backing server (PUBLISH /
  SPUBLISH), and :meth:`ClusterDriver.propagate_publish` sends a client's PUBLISH to the
  other nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from gossip_cluster.bus import Bus
from gossip_cluster.config import ClusterConfig
from gossip_cluster.core import ClusterCore, LinkDown, ReplicationInfo, WritesPaused
from gossip_cluster.core.inputs import CloseLink
from gossip_cluster.core.table import ClusterNode
from gossip_cluster.dataplane import (
    BackendConn,
    BackendError,
    BackingServer,
    call_text,
)
from gossip_cluster.dataplane import parse_replication_info as parse_repl
from gossip_cluster.errors import BusProtocolError, GossipClusterError
from gossip_cluster.nodes_conf import (
    NodesConf,
    NodesConfError,
    parse_nodes_conf,
    render_nodes_conf,
)
from gossip_cluster.wire import ClusterState, Message, Publish, PublishShard
from labkit.actions import Action, Emit, Persist, RedisCommand, Reply, Send
from labkit.core import ClientRequest, Received
from labkit.events import Event
from labkit.resp.frames import SimpleError
from labkit.timeline.jsonl import EventStreamWriter
from labkit.timeline.redislog import RedisLogWriter

__all__ = ["ClusterDriver", "DriverSettings", "load_nodes_conf", "write_nodes_conf"]

log = logging.getLogger("gossip_cluster.driver")

TICK_MS = 100
REPL_POLL_MS = 100


class ConfigFileError(GossipClusterError):
    """nodes.conf cannot be read (corrupt, or not ours)."""


def load_nodes_conf(path: Path) -> NodesConf | None:
    """The saved nodes.conf, or None for a new node (missing or empty file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigFileError(f"cannot read the cluster config file {path}: {exc}") from None
    if not text.strip():
        return None
    try:
        return parse_nodes_conf(text)
    except NodesConfError as exc:
        raise ConfigFileError(f"corrupted cluster config file {path}: {exc}") from None


def write_nodes_conf(path: Path, conf: NodesConf, *, sync: bool) -> None:
    """Replace nodes.conf atomically; fsync the file and its folder when ``sync``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(render_nodes_conf(conf))
        out.flush()
        if sync:
            os.fsync(out.fileno())
    os.replace(tmp, path)
    if sync:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class DriverSettings:
    """What the driver needs from the command line."""

    def __init__(
        self,
        *,
        bind: str,
        port: int,
        cport: int,
        config_file: Path,
        cluster: ClusterConfig,
        announce_ip: str = "",
    ) -> None:
        self.bind = bind
        self.port = port
        self.cport = cport
        self.config_file = config_file
        self.cluster = cluster
        self.announce_ip = announce_ip


class ClusterDriver:
    """One node's core, run on asyncio; see the module docstring."""

    def __init__(
        self,
        settings: DriverSettings,
        *,
        backing: BackingServer | None,
        log_stream: TextIO,
        events_stream: TextIO | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.settings = settings
        self.backing = backing
        self.clock = clock or (lambda: time.time_ns() // 1_000_000)
        self.source = f"{settings.bind}:{settings.port}"
        self._log = RedisLogWriter(log_stream, pid=os.getpid())
        self._events = EventStreamWriter(events_stream) if events_stream is not None else None
        initial = load_nodes_conf(settings.config_file)
        self.core = ClusterCore(
            random.Random(),
            config=settings.cluster,
            port=settings.port,
            cport=settings.cport,
            announce_ip=settings.announce_ip,
            initial=initial,
            source=self.source,
            data_server=backing.address if backing is not None else None,
        )
        self.bus = Bus(
            settings.bind,
            settings.cport,
            on_message=self._on_message,
            on_down=self._on_down,
            on_bad_frame=self._on_bad_frame,
            connect_timeout_s=max(settings.cluster.node_timeout_ms, 1000) / 1000,
        )
        self._next_client = 0
        self._replies: dict[str, object] = {}
        self._redis_queue: asyncio.Queue[tuple[str | int, ...]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._control: BackendConn | None = None
        self._poll: BackendConn | None = None
        self.backend_role = ""
        self.closed = False
        if initial is not None:
            self.say(f"Node configuration loaded, I'm {self.core.name}", "*")
        else:
            self.say(f"No cluster configuration found, I'm {self.core.name}", "*")

    # -- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        await self.bus.start()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._tick_loop()))
        if self.backing is not None:
            self._tasks.append(loop.create_task(self._redis_worker()))
            self._tasks.append(loop.create_task(self._repl_loop()))
        self.tick()  # the first step writes nodes.conf of a new node

    async def close(self) -> None:
        self.closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        await self.bus.close()
        for conn in (self._control, self._poll):
            if conn is not None:
                conn.close()

    # -- stepping ----------------------------------------------------------------------------
    def now(self) -> int:
        return self.clock()

    def tick(self) -> None:
        self.execute(self.core.tick(self.now()))

    def request(self, request: object) -> object:
        """Run one client request through the core; returns its reply value."""
        self._next_client += 1
        client = f"client-{self._next_client}"
        self.execute(self.core.step(ClientRequest(client, request), self.now()))
        return self._replies.pop(client, None)

    def _on_message(self, link: str, message: Message) -> None:
        if isinstance(message, Publish | PublishShard):
            # Redis delivers a PUBLISHSHARD to its shard channel's subscribers (SSUBSCRIBE).
            verb = "SPUBLISH" if isinstance(message, PublishShard) else "PUBLISH"
            self._redis_queue.put_nowait((verb, message.channel, message.message))  # type: ignore[arg-type]
        self.execute(self.core.step(Received(link, message), self.now()))

    def _on_down(self, link: str) -> None:
        if not self.closed:
            self.execute(self.core.step(LinkDown(link), self.now()))

    def _on_bad_frame(self, link: str, exc: BusProtocolError) -> None:
        verdict = "closing the link" if exc.fatal else "frame dropped"
        self.say(f"Bad cluster bus frame from {link} ({verdict}): {exc}", "-")

    def execute(self, actions: list[Action]) -> None:
        """Carry out the core's actions in order (persist before send)."""
        for action in actions:
            if isinstance(action, Persist):
                if isinstance(action.record, NodesConf):
                    write_nodes_conf(self.settings.config_file, action.record, sync=action.sync)
            elif isinstance(action, Send):
                if isinstance(action.message, CloseLink):
                    self.bus.close_link(action.to)
                else:
                    self.bus.send(action.to, action.message)  # type: ignore[arg-type]
            elif isinstance(action, Emit):
                self.emit(action.event)
            elif isinstance(action, Reply):
                self._replies[action.client] = action.value
            elif isinstance(action, RedisCommand):
                self._redis_queue.put_nowait(tuple(action.args))  # type: ignore[arg-type]

    # -- logs --------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        event = replace(event, pid=os.getpid(), mono_ns=time.monotonic_ns())
        try:
            self._log.write(event)
        except (OSError, ValueError, GossipClusterError) as exc:
            log.warning("cannot write the log: %s", exc)
        if self._events is not None:
            with contextlib.suppress(OSError, ValueError):
                self._events.write(event)

    def say(self, text: str, level: str = "*") -> None:
        """A log line of the driver itself (Redis's levels: - verbose, * notice, # warning)."""
        role = "M" if self.core.myself.is_master else "S"
        self.emit(Event(self.source, text, self.now() * 1_000_000, level=level, role=role))

    # -- loops -------------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        next_at = time.monotonic()
        while True:
            next_at += TICK_MS / 1000
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if time.monotonic() - next_at > 1.0:
                next_at = time.monotonic()  # we were starved; do not burst to catch up
            try:
                self.tick()
            except Exception:
                log.exception("clusterCron failed")

    async def _backend(self, which: str) -> BackendConn:
        assert self.backing is not None
        conn: BackendConn | None = getattr(self, which)
        if conn is None or conn.closed:
            conn = await BackendConn.open(self.backing.host, self.backing.port)
            setattr(self, which, conn)
        return conn

    async def _redis_worker(self) -> None:
        """Run the core's commands on the backing server, one at a time, in order."""
        while True:
            args = await self._redis_queue.get()
            for _attempt in range(3):
                try:
                    conn = await self._backend("_control")
                    reply = await conn.call(*args)
                except BackendError as exc:
                    self.say(f"Data server command {args[0]!r} failed: {exc}", "#")
                    await asyncio.sleep(0.1)
                    continue
                if args[:2] == ("CLIENT", "PAUSE"):
                    await self._report_pause(conn, reply)
                if args and args[0] == "REPLICAOF":
                    text = " ".join(str(a) for a in args)
                    self.say(
                        f"Data server {self.backing.address if self.backing else ''}: {text} -> {reply}",
                        "*",
                    )
                break

    async def _report_pause(self, conn: BackendConn, reply: object) -> None:
        """After the manual failover's CLIENT PAUSE: the offset it froze, as WritesPaused."""
        if isinstance(reply, SimpleError):
            self.say(f"Data server refused CLIENT PAUSE: {reply.text}", "#")
            return
        try:
            text = await call_text(conn, "INFO", "replication")
        except BackendError as exc:
            self.say(f"Cannot read the paused data server's offset: {exc}", "#")
            return
        now = self.now()
        offset, _up, _since = parse_repl(text, now)
        self.execute(self.core.step(WritesPaused(offset), now))

    async def _repl_loop(self) -> None:
        while True:
            await asyncio.sleep(REPL_POLL_MS / 1000)
            try:
                conn = await self._backend("_poll")
                text = await call_text(conn, "INFO", "replication")
            except BackendError as exc:
                if not self.closed:
                    self.say(f"Cannot poll the data server: {exc}", "-")
                await asyncio.sleep(0.5)
                continue
            now = self.now()
            offset, up, since = parse_repl(text, now)
            self.execute(self.core.step(ReplicationInfo(offset, up, since), now))
            self._reconcile(text)

    def _reconcile(self, text: str) -> None:
        """Point the backing server where the core says (clusterCron's replicationSetMaster)."""
        fields = dict(
            line.split(":", 1)
            for line in text.splitlines()
            if ":" in line and not line.startswith("#")
        )
        role = fields.get("role", "").strip()
        self.backend_role = role
        if not self._redis_queue.empty():
            return
        me = self.core.myself
        if me.is_slave:
            master = self.core.table.master_of(me)
            if master is None or not master.ip or not master.port:
                return
            where = (fields.get("master_host", "").strip(), fields.get("master_port", "").strip())
            if role != "slave" or where != (master.ip, str(master.port)):
                self._redis_queue.put_nowait(("REPLICAOF", master.ip, master.port))
        elif role == "slave":
            self._redis_queue.put_nowait(("REPLICAOF", "NO", "ONE"))

    # -- what the client port asks -------------------------------------------------------------
    @property
    def myself(self) -> ClusterNode:
        return self.core.myself

    @property
    def cluster_ok(self) -> bool:
        return bool(self.core.ctx.state == ClusterState.OK)

    def owner(self, slot: int) -> ClusterNode | None:
        return self.core.table.owner(slot)

    def open_slot(self, slot: int) -> tuple[ClusterNode | None, ClusterNode | None]:
        """(the node ``slot`` migrates to, the node it imports from), each None if not."""
        ctx = self.core.ctx
        to, source = ctx.migrating.get(slot), ctx.importing.get(slot)
        table = self.core.table
        return (
            None if to is None else table.get(to),
            None if source is None else table.get(source),
        )

    def propagate_publish(self, channel: bytes, message: bytes, *, shard: bool) -> None:
        """clusterPropagatePublish: a client's PUBLISH goes to every other linked node
        (SPUBLISH only to this node's shard)."""
        header = self.core.ctx.header()
        me = self.core.myself
        shard_master = me.slaveof if me.is_slave else me.name
        for node in self.core.table.nodes.values():
            if node is me or node.in_handshake or node.link_ctime is None:
                continue
            if shard and shard_master not in (node.name, node.slaveof):
                continue
            frame: Message = (
                PublishShard(header, channel, message)
                if shard
                else Publish(header, channel, message)
            )
            self.bus.send(node.link_address, frame)

    def myself_offset(self) -> int:
        """The replication offset last reported by the backing server."""
        return int(self.core.ctx.repl_offset)
