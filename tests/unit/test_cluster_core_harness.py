"""A scripted world for cluster core scenario tests (no tests here).

``World`` holds cores by endpoint (``ip:cport``) and routes their sends at once, in
order, like the simulator's driver but synchronously: ``run(ms)`` ticks every live core
each 100 ms and delivers everything they send (and what that causes) at the same time.
``down`` nodes and ``cut`` directed pairs drop frames.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from gossip_cluster.config import ClusterConfig
from gossip_cluster.core import ClusterCore, LinkDown
from gossip_cluster.core.inputs import CloseLink
from gossip_cluster.nodes_conf import NodesConf
from gossip_cluster.sim_scenario import Topology, build_topology
from gossip_cluster.wire.messages import Message
from labkit.actions import Action, Emit, Persist, Reply, Send
from labkit.core import ClientRequest, Received

NT = 1000
CONFIG = ClusterConfig(node_timeout_ms=NT)


def endpoint_ip(endpoint: str) -> str:
    return endpoint.rpartition(":")[0]


def fresh(ip: str, seed: int, config: ClusterConfig = CONFIG, **kwargs: object) -> ClusterCore:
    """A node that knows nobody (a just-started cluster-enabled redis-server)."""
    return ClusterCore(
        random.Random(seed),
        config=config,
        ip=ip,
        port=6379,
        cport=16379,
        source=ip,
        **kwargs,  # type: ignore[arg-type]
    )


def formed(topo: Topology, config: ClusterConfig = CONFIG) -> dict[str, ClusterCore]:
    """Cores loaded from the topology's nodes.conf files."""
    cores = {}
    for i, (endpoint, conf) in enumerate(zip(topo.endpoints, topo.confs, strict=True)):
        cores[endpoint] = ClusterCore(
            random.Random(1000 + i),
            config=config,
            ip=endpoint_ip(endpoint),
            port=6379,
            cport=16379,
            initial=conf,
            source=endpoint,
        )
    return cores


@dataclass
class World:
    """Cores wired together by a synchronous, lossless network."""

    cores: dict[str, ClusterCore]
    now: int = 0
    down: set[str] = field(default_factory=set)
    cut: set[tuple[str, str]] = field(default_factory=set)
    log: list[tuple[int, str, Action]] = field(default_factory=list)
    replies: list[tuple[str, object]] = field(default_factory=list)

    @classmethod
    def formed(
        cls, masters: int, replicas: Iterable[int] | None = None, seed: int = 7
    ) -> tuple[World, Topology]:
        per = list(replicas) if replicas is not None else [0] * masters
        topo = build_topology(random.Random(seed), masters, per)
        return cls(formed(topo)), topo

    def core(self, endpoint: str) -> ClusterCore:
        return self.cores[endpoint]

    def blocked(self, src: str, dst: str) -> bool:
        return (
            dst not in self.cores or dst in self.down or src in self.down or (src, dst) in self.cut
        )

    def handle(self, src: str, actions: list[Action]) -> None:
        """Carry out ``src``'s actions; deliveries happen now, breadth first."""
        queue: list[tuple[str, list[Action]]] = [(src, actions)]
        while queue:
            node, batch = queue.pop(0)
            for action in batch:
                self.log.append((self.now, node, action))
                if not isinstance(action, Send) or isinstance(action.message, CloseLink):
                    if not isinstance(action, Send | Persist | Emit):
                        self.replies.append((node, action))
                    continue
                to = action.to
                if to.startswith("in:"):
                    dst = to[3:].partition("@")[0]
                    event = Received(node, action.message)
                else:
                    dst = to
                    event = Received(f"in:{node}@{endpoint_ip(dst)}", action.message)
                if self.blocked(node, dst):
                    if not to.startswith("in:") and node not in self.down:
                        queue.append((node, self.cores[node].step(LinkDown(to), self.now)))
                    continue
                queue.append((dst, self.cores[dst].step(event, self.now)))

    def deliver(self, src: str, dst: str, message: Message, *, reply: bool = False) -> list[Action]:
        """Hand ``dst`` one frame from ``src`` (on its inbound link, or as a reply)."""
        link = src if reply else f"in:{src}@{endpoint_ip(dst)}"
        actions = self.cores[dst].step(Received(link, message), self.now)
        self.log += [(self.now, dst, a) for a in actions]
        return actions

    def request(self, endpoint: str, request: object) -> object:
        actions = self.cores[endpoint].step(ClientRequest("c", request), self.now)
        self.handle(endpoint, actions)
        return next(a.value for a in actions if isinstance(a, Reply))

    def tick(self) -> None:
        for endpoint in list(self.cores):
            if endpoint not in self.down:
                self.handle(endpoint, self.cores[endpoint].tick(self.now))

    def run(self, ms: int) -> None:
        """Tick every 100 ms for ``ms`` (starting with a tick at the current time + 100)."""
        end = self.now + ms
        while self.now + 100 <= end:
            self.now += 100
            self.tick()
        self.now = end

    def emitted(self, endpoint: str | None = None, since: int = 0) -> list[str]:
        return [
            a.event.name
            for t, node, a in self.log
            if isinstance(a, Emit) and t >= since and (endpoint is None or node == endpoint)
        ]

    def sent(self, endpoint: str, kind: type, since: int = 0) -> list[Send]:
        return [
            a
            for t, node, a in self.log
            if node == endpoint
            and t >= since
            and isinstance(a, Send)
            and isinstance(a.message, kind)
        ]


def conf_of(core: ClusterCore) -> NodesConf:
    return core.nodes_conf()
