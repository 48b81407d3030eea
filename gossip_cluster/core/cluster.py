"""``ClusterCore``: one Redis Cluster bus node as a sans-I/O core.

Feed it ``Received(link, message)`` for every bus frame (see :mod:`.inputs` for link
names), ``ClientRequest`` for CLUSTER commands, ``LinkDown`` when a connection breaks and
``ReplicationInfo`` with the backing server's replication state (``WritesPaused`` once
it ran a manual failover's ``CLIENT PAUSE``); call ``tick`` every
100 ms (clusterCron). It returns actions: ``Persist(NodesConf)`` first when Redis would
save nodes.conf (``sync`` when Redis fsyncs), then ``Send(link, message)`` with the wire
dataclasses (and ``CloseLink``), ``Emit`` with Redis's log lines, ``Reply`` to clients,
and ``RedisCommand(data_server, REPLICAOF ...)`` when a backing server is configured.

``now_ms`` should be Unix time in ms (Redis's mstime()) when talking to real nodes,
because gossip carries wall-clock seconds; the simulator's clock starting at 0 is fine
among simulated nodes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from gossip_cluster.config import ClusterConfig
from gossip_cluster.core.commands import execute, parse_command
from gossip_cluster.core.context import Context, FailEvidence, Policy, Todo
from gossip_cluster.core.cron import cron
from gossip_cluster.core.inputs import (
    ClusterCommand,
    CommandError,
    LinkDown,
    ReplicationInfo,
    WritesPaused,
)
from gossip_cluster.core.packets import process_packet, writes_paused
from gossip_cluster.core.persist import finish_load, load_conf, to_conf
from gossip_cluster.core.roles import handle_manual_failover, role_of
from gossip_cluster.core.slots import update_state
from gossip_cluster.core.table import ClusterNode, F, NodeTable
from gossip_cluster.nodes_conf import NodesConf
from gossip_cluster.wire.messages import (
    Fail,
    FailoverAuthAck,
    FailoverAuthRequest,
    Meet,
    MfStart,
    Ping,
    Pong,
    Update,
)
from labkit.actions import Action, Reply
from labkit.core import ClientRequest, Received, RedisPush, RedisReply

__all__ = ["ClusterCore", "CoreInput"]

CoreInput = (
    Received | ClientRequest | RedisReply | RedisPush | LinkDown | ReplicationInfo | WritesPaused
)
_HANDLED = (Ping, Pong, Meet, Fail, FailoverAuthRequest, FailoverAuthAck, Update, MfStart)


class ClusterCore:
    """A cluster bus node. ``ip``/``port``/``cport`` are what it announces in headers."""

    def __init__(
        self,
        rng: random.Random,
        *,
        config: ClusterConfig | None = None,
        ip: str = "",
        port: int = 6379,
        cport: int | None = None,
        pport: int = 0,
        hostname: str = "",
        announce_ip: str = "",
        initial: NodesConf | None = None,
        source: str = "",
        data_server: str | None = None,
        policy: Policy | None = None,
    ) -> None:
        self._identity = (ip, port, port + 10_000 if cport is None else cport, pport, hostname)
        myself = ClusterNode(
            name=f"{rng.getrandbits(160):040x}",
            flags=F.MYSELF | F.MASTER,
        )
        self.ctx = Context(
            config or ClusterConfig(),
            myself,
            rng,
            announce_ip=announce_ip,
            source=source,
            data_server=data_server,
            policy=policy,
        )
        self._apply_identity()
        self._initial = initial
        self._started = False
        self.ctx.save()  # clusterInit writes nodes.conf for a fresh node
        if initial is not None:
            load_conf(self.ctx, initial)
            self._apply_identity()

    def _apply_identity(self) -> None:
        me = self.ctx.myself
        ip, port, cport, pport, hostname = self._identity
        me.ip = ip or me.ip
        me.port, me.cport, me.pport = port, cport, pport
        me.hostname = hostname

    # -- introspection ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.ctx.myself.name

    @property
    def myself(self) -> ClusterNode:
        return self.ctx.myself

    @property
    def table(self) -> NodeTable:
        return self.ctx.table

    @property
    def current_epoch(self) -> int:
        return self.ctx.current_epoch

    @property
    def last_vote_epoch(self) -> int:
        return self.ctx.last_vote_epoch

    @property
    def evidence(self) -> dict[str, FailEvidence]:
        """Why this node marked each node FAIL (reports, size, quorum at that moment)."""
        return self.ctx.evidence

    def nodes_conf(self) -> NodesConf:
        """What nodes.conf would hold now."""
        return to_conf(self.ctx)

    # -- the core interface -----------------------------------------------------------------
    def durable_state(self) -> tuple[NodesConf, ...]:
        return (to_conf(self.ctx),)

    def restore(self, durable_state: Sequence[object]) -> None:
        """Load the last NodesConf record (clusterLoadConfig)."""
        confs = [r for r in durable_state if isinstance(r, NodesConf)]
        if not confs:
            return
        load_conf(self.ctx, confs[-1])
        self._apply_identity()
        self.ctx.todo &= ~(Todo.SAVE_CONFIG | Todo.FSYNC_CONFIG)

    def tick(self, now_ms: int) -> list[Action]:
        """clusterCron."""
        ctx = self._begin(now_ms)
        cron(ctx)
        return self._finish()

    def step(self, event: CoreInput, now_ms: int) -> list[Action]:
        """One input (never raises on a peer's message)."""
        ctx = self._begin(now_ms)
        if isinstance(event, Received):
            if isinstance(event.message, _HANDLED):
                process_packet(ctx, event.sender, event.message)
        elif isinstance(event, ClientRequest):
            request = event.request
            if isinstance(request, ClusterCommand):
                request = parse_command(request)
            reply: object
            if isinstance(request, CommandError):
                reply = request
            else:
                try:
                    reply = execute(ctx, request)  # type: ignore[arg-type]
                except (TypeError, AttributeError):
                    reply = CommandError("ERR unknown request")
            ctx.out.append(Reply(event.client, reply))
        elif isinstance(event, LinkDown):
            owner = ctx.table.link_owner(event.link)
            if owner is not None:
                ctx.table.free_link(owner)
            for node in ctx.table.nodes.values():
                if node.inbound_link == event.link:
                    node.inbound_link = None
        elif isinstance(event, ReplicationInfo):
            ctx.repl_offset = event.offset
            ctx.repl_link_up = event.master_link_up
            ctx.repl_since_ms = event.since_ms
        elif isinstance(event, WritesPaused):
            writes_paused(ctx, event.offset)
        return self._finish()

    # -- step framing ----------------------------------------------------------------------------
    def _begin(self, now_ms: int) -> Context:
        ctx = self.ctx
        ctx.now = now_ms
        if not self._started:
            self._started = True
            finish_load(ctx)
        return ctx

    def _finish(self) -> list[Action]:
        """clusterBeforeSleep: failover handling, state update, then save before sending."""
        ctx = self.ctx
        if not ctx.todo:
            return ctx.take_output(None)  # the common case: nothing deferred
        if ctx.todo & Todo.HANDLE_MANUALFAILOVER:
            ctx.todo &= ~(Todo.HANDLE_MANUALFAILOVER | Todo.HANDLE_FAILOVER)
            if ctx.myself.is_slave:
                handle_manual_failover(ctx)
                role_of(ctx).handle_failover(ctx)
        elif ctx.todo & Todo.HANDLE_FAILOVER:
            ctx.todo &= ~Todo.HANDLE_FAILOVER
            role_of(ctx).handle_failover(ctx)
        if ctx.todo & Todo.UPDATE_STATE:
            update_state(ctx)
        record = to_conf(ctx) if ctx.todo & Todo.SAVE_CONFIG else None
        return ctx.take_output(record)
