"""The asyncio driver: runs a :class:`SentinelCore` against real sockets, files and clocks.

It is the only place that reads a clock (monotonic ms for the core, wall time for the
log) and the only place that does I/O for the core. Every input goes through
:meth:`SentinelDriver.step` and every action list is carried out in order by
:meth:`SentinelDriver.execute`: persist (rewrite sentinel.conf, fsynced), then the rest.

Links (see :mod:`sentinel_lab.links`): per master and replica one command link and one
pub/sub link, per other sentinel one command link. The core's ``SUBSCRIBE`` marks a
(re)connection: both links of that instance are closed silently and opened afresh.
Scripts queued by the core run as subprocesses (:mod:`sentinel_lab.scripts`), started
and reaped at each timer run.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from labkit.actions import Action, Apply, Emit, Persist, RedisArg, RedisCommand, Reply, Send
from labkit.core import ClientRequest, Input, Received, RedisPush, RedisReply
from sentinel_lab import config as conf
from sentinel_lab.convert import merge_state
from sentinel_lab.core import (
    HELLO_CHANNEL,
    HelloMessage,
    IsMasterDownReply,
    IsMasterDownRequest,
    PeerLinkError,
    SentinelCore,
    SentinelPing,
    SentinelPong,
    SentinelState,
)
from sentinel_lab.core.replies import ErrorReply, LinkError, LinkErrorKind, reply_text
from sentinel_lab.core.simfailure import CRASH_EXIT_STATUS, CRASH_LOG_LINE, SimulatedCrash
from sentinel_lab.core.table import find_instance
from sentinel_lab.events_out import EventOutput
from sentinel_lab.links import LinkSettings, RespLink, split_addr
from sentinel_lab.scripts import ScriptRunner

__all__ = ["PublishHook", "SentinelDriver", "now_ms"]

PublishHook = Callable[[str, str], None]
"""Publishes an event on our own port: ``(channel, message)``."""

_HZ_MIN = 10
"""Redis runs the sentinel timer every 1/hz s, with hz drawn from 10..19 after each run
(``CONFIG_DEFAULT_HZ + rand() % CONFIG_DEFAULT_HZ``) to keep sentinels out of step."""
_DEADLINE_SLACK_MS = 1
"""Wake this long after a core deadline, so that the core's whole-ms clock has passed it."""
_DRAIN_YIELDS = 3
"""Loop turns given to the links before each timer run: data read in the turn the timer
fired reaches the core through the link's task one or two turns later."""


def now_ms() -> int:
    """The core's clock: monotonic milliseconds."""
    return time.monotonic_ns() // 1_000_000


def _link_timeout_ms(down_after_ms: int) -> int:
    """A command unanswered this long fails its link: down-after, between 1 s and 15 s."""
    return max(1000, min(down_after_ms, 15_000))


def _upper(arg: RedisArg) -> str:
    return arg.decode(errors="replace").upper() if isinstance(arg, bytes) else str(arg).upper()


class SentinelDriver:
    """Owns the core, the links, the config file and the event outputs."""

    def __init__(
        self,
        core: SentinelCore,
        config: conf.SentinelConfig,
        config_path: Path,
        out: EventOutput,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.core = core
        self.config = config
        self.config_path = config_path
        self.out = out
        self.rng = rng or random.Random()
        self.publish: PublishHook | None = None
        self.info_cache: dict[str, tuple[int, bytes]] = {}
        self._cmd: dict[str, RespLink] = {}
        self._pubsub: dict[str, RespLink] = {}
        self._peers: dict[str, RespLink] = {}
        self._stopping = asyncio.Event()
        self._in_step = False
        self._queued: list[Input] = []
        self._timer: asyncio.Task[None] | None = None
        self.scripts = ScriptRunner(core, self.execute, now_ms)
        self.crash: Callable[[int], object] = os._exit
        """How a SENTINEL SIMULATE-FAILURE crash ends the process (tests replace it)."""

    @property
    def myid(self) -> str:
        return self.core.myid

    # -- running ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Tick the core until :meth:`stop`: every 1/hz s as Redis does, and also at the
        core's next failover deadline when that comes sooner."""
        self.tick()
        while not self._stopping.is_set():
            delay = self.next_delay_s(now_ms())
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
            except TimeoutError:
                # Let the links handle what has arrived first: when this process was
                # descheduled, a peer's vote request may be waiting in a socket along
                # with the timer, and voting before the timer run keeps us from
                # starting a failover of our own in the same epoch (as a C Sentinel,
                # which reads it sooner, would not).
                for _ in range(_DRAIN_YIELDS):
                    await asyncio.sleep(0)
                self.tick()

    def next_delay_s(self, now: int) -> float:
        """Seconds until the next timer run: 1/hz with hz drawn from 10..19, or less to
        meet :meth:`SentinelCore.next_deadline_ms`."""
        delay_ms = 1000 / (_HZ_MIN + self.rng.randrange(_HZ_MIN))
        deadline = self.core.next_deadline_ms(now)
        if deadline is not None:
            delay_ms = min(delay_ms, deadline - now + _DEADLINE_SLACK_MS)
        return delay_ms / 1000

    def stop(self) -> None:
        """Make :meth:`run` return."""
        self._stopping.set()

    async def close(self) -> None:
        """Flush the config one last time, kill running scripts and close every link."""
        self.flush_config()
        await self.scripts.close()
        links = [*self._cmd.values(), *self._pubsub.values(), *self._peers.values()]
        await asyncio.gather(*(link.aclose() for link in links), return_exceptions=True)

    def tick(self) -> None:
        """One run of the Sentinel timer, plus the links' command timeouts and scripts."""
        self.execute(self.core.tick(now_ms()))
        self.scripts.run_due()
        for link in [*self._cmd.values(), *self._pubsub.values(), *self._peers.values()]:
            link.check_timeouts()

    # -- inputs ------------------------------------------------------------------------------
    def step(self, event: Input) -> None:
        """Feed one input to the core and carry out its actions (never re-entrantly)."""
        if self._in_step:
            self._queued.append(event)
            return
        self._in_step = True
        try:
            self.execute(self.core.step(event, now_ms()))
            while self._queued:
                self.execute(self.core.step(self._queued.pop(0), now_ms()))
        finally:
            self._in_step = False

    def request(self, client: str, request: object) -> object:
        """Ask the core on behalf of a client; return its answer (None if it gave none)."""
        actions = self.core.step(ClientRequest(client, request), now_ms())
        answer: object = None
        rest: list[Action] = []
        for action in actions:
            if isinstance(action, Reply) and action.client == client:
                answer = action.value
            else:
                rest.append(action)
        self.execute(rest)
        return answer

    def sync_clock(self) -> None:
        """Bring the core's idea of "now" up to date before a query (SENTINEL MASTERS
        shows times relative to it); it changes no state."""
        self.core.clock.now_ms = max(self.core.clock.now_ms, now_ms())

    # -- actions -----------------------------------------------------------------------------
    def execute(self, actions: Iterable[Action]) -> None:
        """Carry out actions in order, with one difference: successive config saves are
        made once, with the last state, before the next command or message leaves (or at
        the end). Nothing is sent before the state that preceded it is on disk, as in
        Redis, but a failover start (new epoch, then our own vote) costs one fsync
        instead of two before its vote requests go out."""
        pending: SentinelState | None = None
        for action in actions:
            if isinstance(action, Persist):
                if isinstance(action.record, SentinelState):
                    pending = action.record
            elif isinstance(action, Emit):
                stamped = self.out.event(action.event)
                if stamped.level != "." and self.publish is not None:
                    payload = " ".join(p for p in (stamped.instance, stamped.details) if p)
                    self.publish(stamped.name, payload)
            elif isinstance(action, Apply) and isinstance(action.command, SimulatedCrash):
                # sentinelSimFailureCrash: what was saved before the event is on disk,
                # then the log line and exit(99); nothing after it is carried out.
                if pending is not None:
                    self.persist(pending)
                self.out.log("#", CRASH_LOG_LINE)
                self.crash(CRASH_EXIT_STATUS)
                return
            elif isinstance(action, RedisCommand | Send):
                if pending is not None:
                    self.persist(pending)
                    pending = None
                if isinstance(action, RedisCommand):
                    self._command(action.target, action.args)
                else:
                    self._send(action.to, action.message)
        if pending is not None:
            self.persist(pending)

    def persist(self, state: SentinelState) -> bool:
        """Rewrite sentinel.conf for ``state``; False (and a log line) if that failed."""
        self.config = merge_state(self.config, state)
        try:
            conf.rewrite_config(self.config_path, self.config)
        except conf.SentinelConfigError as exc:
            self.out.log(
                "#",
                f"WARNING: Sentinel was not able to save the new configuration on disk!!!: {exc}",
            )
            return False
        self.out.log("*", "Sentinel new configuration saved on disk")
        return True

    def flush_config(self) -> bool:
        """SENTINEL FLUSHCONFIG and shutdown: persist the core's snapshot now."""
        return self.persist(self.core.snapshot())

    def update_server_settings(self, **changes: object) -> None:
        """SENTINEL CONFIG SET: change sentinel-wide settings and persist them."""
        server = replace(self.config.server, **changes)  # type: ignore[arg-type]
        self.config = replace(self.config, server=server)
        if server.announce_ip:
            self.core.announce_ip = server.announce_ip
        if server.announce_port:
            self.core.announce_port = server.announce_port
        self.flush_config()

    def drop_instance_links(self, master_name: str) -> None:
        """Close the links of a master and its replicas (new credentials): the core hears
        of it as a closed link and reconnects, and new links log in afresh."""
        master = self.core.masters.get(master_name)
        if master is None:
            return
        for addr in [master.addr, *master.replicas]:
            for table in (self._cmd, self._pubsub):
                link = table.pop(addr, None)
                if link is not None:
                    link.fail("closed")

    def drop_peer_links(self) -> None:
        """Close every link to other sentinels (new sentinel-user/pass)."""
        peers, self._peers = self._peers, {}
        for link in peers.values():
            link.fail("closed")

    # -- links to masters and replicas -----------------------------------------------------
    def _settings(self, target: str, kind: str) -> LinkSettings:
        found = find_instance(self.core, target)
        config = found[0][0].config if found else None
        return LinkSettings(
            client_name=f"sentinel-{self.myid[:8]}-{kind}",
            auth_user=config.auth_user if config else None,
            auth_pass=config.auth_pass if config else None,
            timeout_ms=_link_timeout_ms(config.down_after_ms if config else 30_000),
        )

    def _command(self, target: str, args: tuple[RedisArg, ...]) -> None:
        if not args:
            return
        if _upper(args[0]) == "SUBSCRIBE":
            for table in (self._cmd, self._pubsub):
                old = table.pop(target, None)
                if old is not None:
                    old.drop()
            self._instance_link(target, pubsub=True).send(args)
        else:
            self._instance_link(target, pubsub=False).send(args)

    def _instance_link(self, target: str, *, pubsub: bool) -> RespLink:
        table = self._pubsub if pubsub else self._cmd
        link = table.get(target)
        if link is None:
            host, port = split_addr(target)

            def on_reply(args: tuple[RedisArg, ...], value: object) -> None:
                if args and _upper(args[0]) == "INFO" and isinstance(value, bytes):
                    self.info_cache[target] = (now_ms(), value)
                self.step(RedisReply(target, args, value))

            def on_push(channel: bytes, payload: bytes) -> None:
                self.step(RedisPush(target, channel, payload))

            def on_broken(kind: LinkErrorKind) -> None:
                command: tuple[RedisArg, ...] = (
                    ("SUBSCRIBE", HELLO_CHANNEL) if pubsub else ("PING",)
                )
                self.step(RedisReply(target, command, LinkError(kind)))

            link = RespLink(
                host,
                port,
                self._settings(target, "pubsub" if pubsub else "cmd"),
                on_reply=on_reply,
                on_push=on_push if pubsub else None,
                on_broken=on_broken,
            )
            table[target] = link
        return link

    # -- links to other sentinels ------------------------------------------------------------
    def _send(self, to: str, message: object) -> None:
        link = self._peer_link(to)
        if isinstance(message, IsMasterDownRequest):
            link.send(message.wire_args())
        elif isinstance(message, HelloMessage):
            link.send(("PUBLISH", HELLO_CHANNEL, message.payload))
        elif isinstance(message, SentinelPing):
            link.send(("PING",))

    def _peer_link(self, addr: str) -> RespLink:
        link = self._peers.get(addr)
        if link is None:
            host, port = split_addr(addr)
            down_after = min((m.down_after_ms for m in self.core.masters.values()), default=30_000)
            server = self.config.server
            settings = LinkSettings(
                client_name=f"sentinel-{self.myid[:8]}-cmd",
                auth_user=server.sentinel_user,
                auth_pass=server.sentinel_pass,
                timeout_ms=_link_timeout_ms(down_after),
            )

            def on_reply(args: tuple[RedisArg, ...], value: object) -> None:
                self._on_peer_reply(addr, args, value)

            def on_broken(kind: LinkErrorKind) -> None:
                self.step(Received(addr, PeerLinkError(kind)))

            link = RespLink(host, port, settings, on_reply=on_reply, on_broken=on_broken)
            self._peers[addr] = link
        return link

    def _on_peer_reply(self, addr: str, args: tuple[RedisArg, ...], value: object) -> None:
        if isinstance(value, LinkError):
            self.step(Received(addr, PeerLinkError(value.kind, value.detail)))
            return
        command = _upper(args[0])
        if command == "PING":
            self.step(Received(addr, SentinelPong(reply_text(value) or "")))
        elif command == "SENTINEL":
            reply = _is_master_down_reply(args, value)
            if reply is not None:
                self.step(Received(addr, reply))


def _is_master_down_reply(args: tuple[RedisArg, ...], value: object) -> IsMasterDownReply | None:
    """``[int, bulk, int]`` for the request in ``args``; None for anything else (ignored,
    as Redis ignores a reply of the wrong shape)."""
    if isinstance(value, ErrorReply) or not isinstance(value, list) or len(value) != 3:
        return None
    down, leader, epoch = value
    if not isinstance(down, int) or not isinstance(leader, bytes) or not isinstance(epoch, int):
        return None
    leader_text = leader.decode(errors="replace")
    host = args[2].decode() if isinstance(args[2], bytes) else str(args[2])
    return IsMasterDownReply(
        host, int(args[3]), down == 1, None if leader_text == "*" else leader_text, epoch
    )
