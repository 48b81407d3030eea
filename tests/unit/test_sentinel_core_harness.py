"""A scripted world for Sentinel core scenario tests: fake Redis servers and peers.

Commands are answered at once (same ``now``); ``FakeRedis.ping_reply = None`` models a
paused server (no reply), ``alive = False`` a crashed one (link errors).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from labkit.actions import Action, Emit, RedisCommand, Send
from labkit.core import Received, RedisPush, RedisReply
from labkit.events import Event
from sentinel_lab.core import (
    HELLO_CHANNEL,
    ErrorReply,
    Hello,
    IsMasterDownReply,
    IsMasterDownRequest,
    LinkError,
    MasterConfig,
    SentinelCore,
    SentinelIdentity,
    SentinelPing,
    SentinelPong,
)

MYID = "a" * 40
MASTER = "127.0.10.1:6379"
R1 = "127.0.10.2:6379"
R2 = "127.0.10.3:6379"
PEER_IDS = ["b" * 40, "c" * 40, "d" * 40, "e" * 40]
NO_REPLY = object()


@dataclass
class FakeRedis:
    """Just enough of a Redis server for Sentinel."""

    host: str
    port: int
    runid: str
    role: str = "master"
    master: tuple[str, int] | None = None
    link_up: bool = True
    priority: int = 100
    offset: int = 1000
    alive: bool = True
    ping_reply: object = "PONG"
    replicas: list[FakeRedis] = field(default_factory=list)

    def info(self) -> bytes:
        lines = ["# Server", f"run_id:{self.runid}", "# Replication", f"role:{self.role}"]
        if self.role == "slave":
            assert self.master is not None
            lines += [
                f"master_host:{self.master[0]}",
                f"master_port:{self.master[1]}",
                f"master_link_status:{'up' if self.link_up else 'down'}",
                f"slave_repl_offset:{self.offset}",
                f"slave_priority:{self.priority}",
                "replica_announced:1",
            ]
        else:
            mine = [r for r in self.replicas if r.master == (self.host, self.port)]
            lines.append(f"connected_slaves:{len(mine)}")
            for i, r in enumerate(mine):
                lines.append(
                    f"slave{i}:ip={r.host},port={r.port},state=online,offset={r.offset},lag=0"
                )
        return ("\r\n".join(lines) + "\r\n").encode()

    def handle(self, args: tuple[object, ...]) -> object:
        if not self.alive:
            return LinkError("refused")
        cmd = str(args[0]).upper()
        if cmd == "PING":
            return NO_REPLY if self.ping_reply is None else self.ping_reply
        if self.ping_reply is None:
            return NO_REPLY
        if cmd == "INFO":
            return self.info()
        if cmd == "SUBSCRIBE":
            return [b"subscribe", HELLO_CHANNEL.encode(), 1]
        if cmd == "SLAVEOF":
            if args[1:] == ("NO", "ONE"):
                self.role, self.master = "master", None
            else:
                self.role, self.master = "slave", (str(args[1]), int(str(args[2])))
                self.link_up = True
            return "OK"
        if cmd == "PUBLISH":
            return 1
        if cmd == "MULTI":
            return "OK"
        if cmd == "EXEC":
            return []
        return "QUEUED"


PeerPolicy = Callable[[str, IsMasterDownRequest], IsMasterDownReply | None]


def peer_votes_for_asker(down: bool = True) -> PeerPolicy:
    """Peers that see the master down and vote for the first asker of each epoch."""
    votes: dict[tuple[str, int], str] = {}

    def answer(peer: str, request: IsMasterDownRequest) -> IsMasterDownReply:
        leader = None
        epoch = 0
        if request.runid is not None:
            leader = votes.setdefault((peer, request.current_epoch), request.runid)
            epoch = request.current_epoch
        return IsMasterDownReply(request.master_ip, request.master_port, down, leader, epoch)

    return answer


class Harness:
    """One core under test, its servers and its peers."""

    def __init__(
        self,
        *,
        peers: int = 2,
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 6000,
        replicas: int = 2,
        policy: PeerPolicy | None = None,
        seed: int = 1,
    ) -> None:
        self.config = MasterConfig(
            "mymaster",
            "127.0.10.1",
            6379,
            quorum,
            down_after_ms=down_after_ms,
            failover_timeout_ms=failover_timeout_ms,
        )
        self.core = SentinelCore(
            SentinelIdentity("127.0.11.1", 26379, MYID), [self.config], random.Random(seed)
        )
        self.master = FakeRedis("127.0.10.1", 6379, "1" * 40)
        self.servers = {MASTER: self.master}
        for i in range(replicas):
            replica = FakeRedis(
                f"127.0.10.{i + 2}",
                6379,
                f"{i + 2}" * 40,
                role="slave",
                master=("127.0.10.1", 6379),
            )
            self.master.replicas.append(replica)
            self.servers[f"{replica.host}:{replica.port}"] = replica
        for server in self.servers.values():
            server.replicas = self.master.replicas
        self.peers = {f"127.0.11.{i + 2}:26379": PEER_IDS[i] for i in range(peers)}
        self.policy = policy or peer_votes_for_asker()
        self.now = 0
        self.log: list[tuple[int, Action]] = []
        self.requests: list[tuple[str, IsMasterDownRequest]] = []

    # -- driving ------------------------------------------------------------------------
    def feed(self, actions: list[Action]) -> None:
        self.log += [(self.now, a) for a in actions]
        for action in actions:
            if isinstance(action, RedisCommand) and action.target in self.servers:
                value = self.servers[action.target].handle(action.args)
                if value is not NO_REPLY:
                    reply = RedisReply(action.target, action.args, value)
                    self.feed(self.core.step(reply, self.now))
            elif isinstance(action, Send) and action.to in self.peers:
                self._peer(action.to, action.message)

    def _peer(self, peer: str, message: object) -> None:
        if isinstance(message, SentinelPing):
            self.feed(self.core.step(Received(peer, SentinelPong()), self.now))
        elif isinstance(message, IsMasterDownRequest):
            self.requests.append((peer, message))
            answer = self.policy(peer, message)
            if answer is not None:
                self.feed(self.core.step(Received(peer, answer), self.now))

    def hellos(self) -> None:
        """Every peer announces itself on the master's hello channel."""
        for i, (addr, runid) in enumerate(self.peers.items()):
            host, port = addr.split(":")
            hello = Hello(host, int(port), runid, 0, "mymaster", "127.0.10.1", 6379, 0)
            del i
            self.feed(
                self.core.step(RedisPush(MASTER, HELLO_CHANNEL.encode(), hello.encode()), self.now)
            )

    def run(self, until_ms: int, every_ms: int = 100) -> None:
        while self.now + every_ms <= until_ms:
            self.now += every_ms
            self.feed(self.core.tick(self.now))

    def start(self) -> None:
        """First tick, peers' hellos, then 2 s of healthy monitoring."""
        self.feed(self.core.tick(self.now))
        self.hellos()
        self.run(2000)

    # -- looking ------------------------------------------------------------------------
    def events(self) -> list[Event]:
        return [a.event for _, a in self.log if isinstance(a, Emit)]

    def names(self) -> list[str]:
        return [e.name for e in self.events()]

    def first(self, name: str) -> tuple[int, Event]:
        for t, action in self.log:
            if isinstance(action, Emit) and action.event.name == name:
                return t, action.event
        raise AssertionError(f"no {name} in {self.names()}")

    def error(self, text: str) -> ErrorReply:
        return ErrorReply(text)
