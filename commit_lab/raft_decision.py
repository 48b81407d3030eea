"""The consensus-kept decision on a real redis_raft cluster: a write-once register.

Each transaction's decision is one key, ``commit-decision:<txid>``, in a 3-node
``python -m redis_raft`` cluster. Deciding is ``SET key commit|abort NX GET`` sent
through any node: Raft commits it on a majority (so it is linearizable), the first
value stored wins, and the reply is the value that was already there (``None``: ours
won). A coordinator proposes commit after the votes; an in-doubt participant, acting
as the recovery coordinator, proposes abort, so it either reads the earlier decision
or decides abort itself. Nobody waits for the coordinator, and a side of a partition
without a majority of the group decides nothing.

:class:`RaftGateway` is the world node ``g<i>``: it turns the cores' ``Propose`` into
that command on node ``i`` in a worker thread (a node cut off from the majority
answers ``-TIMEOUT`` only after the request timeout) and answers on a later tick.
:class:`DecisionCluster` starts the nodes, each peer link behind a fault proxy, and
turns the world's link cuts between ``g<i>`` and ``g<j>`` into real partitions.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis

from commit_lab.core.consensus_decision import DecisionResult, NotLeader, Propose
from commit_lab.core.participant import event
from commit_lab.errors import CommitLabError
from labkit.actions import Action, Send
from labkit.core import Input, Received
from labkit.faults import ProxyHub
from labkit.realredis import Lab
from labkit.realredis.labraft import RaftCluster, start_raft_cluster

__all__ = [
    "DECISION_PREFIX",
    "RAFT_ARGS",
    "DecisionCluster",
    "DecisionUnavailableError",
    "RaftGateway",
    "RaftRegister",
    "RegisterCorruptError",
    "decision_key",
    "register_problems",
]

DECISION_PREFIX = "commit-decision:"
RAFT_ARGS = ("--election-timeout", "500", "--heartbeat", "100", "--request-timeout", "1000")
"""Group timings for the demos: a new leader within about a second, -TIMEOUT after 1 s."""

OUTCOMES = {"commit": True, "abort": False}


def decision_key(txid: str) -> str:
    if not txid or any(c.isspace() for c in txid):
        raise CommitLabError(f"transaction id {txid!r} cannot name a decision key")
    return DECISION_PREFIX + txid


class DecisionUnavailableError(CommitLabError):
    """The cluster gave no answer (no leader, ``-TIMEOUT``, a broken link): the proposal
    may or may not have been stored; propose again to learn the decision."""


class RegisterCorruptError(CommitLabError):
    """The decision key holds something other than ``commit`` or ``abort``."""


def _unavailable(address: str, exc: redis.RedisError) -> str:
    # redis-py drops the first word of errors it has a class for (-CLUSTERDOWN, -MOVED)
    return f"{address}: {type(exc).__name__}: {exc}"


def _outcome(txid: str, value: object) -> bool:
    if value not in OUTCOMES:
        raise RegisterCorruptError(
            f"decision register for {txid} holds {value!r}; expected 'commit' or 'abort'"
        )
    return OUTCOMES[str(value)]


class RaftRegister:
    """The register seen through one redis_raft node (any node: followers proxy)."""

    def __init__(self, host: str, port: int, *, timeout_s: float = 2.0) -> None:
        self.address = f"{host}:{port}"
        self.client = redis.Redis(
            host=host,
            port=port,
            decode_responses=True,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )

    def decide(self, txid: str, commit: bool) -> tuple[bool, bool]:
        """Store ``commit`` unless a decision exists; (the decision, whether ours won)."""
        mine = "commit" if commit else "abort"
        try:
            before = self.client.set(decision_key(txid), mine, nx=True, get=True)
        except redis.RedisError as exc:
            raise DecisionUnavailableError(_unavailable(self.address, exc)) from exc
        if before is None:
            return commit, True
        return _outcome(txid, before), False

    def read(self, txid: str) -> bool | None:
        """The decision (a linearizable read through the leader), or None if none yet."""
        try:
            value = self.client.get(decision_key(txid))
        except redis.RedisError as exc:
            raise DecisionUnavailableError(_unavailable(self.address, exc)) from exc
        return None if value is None else _outcome(txid, value)

    def close(self) -> None:
        self.client.close()


@dataclass(frozen=True, slots=True)
class _Asked:
    sender: str
    txid: str
    commit: bool


class RaftGateway:
    """World node ``g<i>``: the cores' proposals, sent to redis_raft node ``i``.

    It has the core interface (``step``/``tick``/``durable_state``/``restore``) so
    the wall-clock driver runs it like an agent, but it does I/O: one command per
    proposal in a worker thread, one proposal per (sender, transaction) in flight.
    """

    def __init__(self, node_id: str, register: RaftRegister, *, workers: int = 4) -> None:
        self.id = node_id
        self.register = register
        self.pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix=node_id)
        self.inflight: dict[tuple[str, str], concurrent.futures.Future[tuple[bool, bool]]] = {}
        self.asked: dict[tuple[str, str], _Asked] = {}

    def step(self, event_in: Input, now_ms: int) -> list[Action]:
        if not isinstance(event_in, Received) or not isinstance(event_in.message, Propose):
            return []
        m = event_in.message
        key = (event_in.sender, m.txid)
        if key in self.inflight:
            return []  # the earlier proposal's answer will do
        self.asked[key] = _Asked(event_in.sender, m.txid, m.commit)
        self.inflight[key] = self.pool.submit(self.register.decide, m.txid, m.commit)
        return []

    def tick(self, now_ms: int) -> list[Action]:
        actions: list[Action] = []
        for key, future in list(self.inflight.items()):
            if not future.done():
                continue
            del self.inflight[key]
            asked = self.asked.pop(key)
            mine = "commit" if asked.commit else "abort"
            try:
                commit, won = future.result()
            except CommitLabError as exc:
                actions.append(
                    event(
                        self.id, "-raft-unavailable", now_ms, asked.txid, f"{asked.sender}: {exc}"
                    )
                )
                actions.append(Send(asked.sender, NotLeader(asked.txid, None)))
                continue
            stored = "commit" if commit else "abort"
            how = "stored first" if won else f"already decided {stored}"
            actions.append(
                event(
                    self.id,
                    "+raft-decision",
                    now_ms,
                    asked.txid,
                    f"{asked.sender}: SET NX {mine} -> {stored} ({how})",
                )
            )
            actions.append(Send(asked.sender, DecisionResult(asked.txid, commit)))
        return actions

    def durable_state(self) -> tuple[object, ...]:
        return ()  # the Raft cluster is the durable part

    def restore(self, durable_state: Sequence[object]) -> None:
        return None

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.register.close()


class DecisionCluster:
    """A real 3-node redis_raft cluster keeping decisions, its peer links behind proxies.

    ``members`` names the world nodes (``g1``...); member ``k`` is Raft node ``k+1``.
    As a link watcher of the world's bus, a cut between two members blackholes the
    Raft link between their nodes, and a heal heals every link.
    """

    def __init__(
        self,
        lab: Lab,
        members: Sequence[str],
        *,
        prefix: str = "decision",
        extra_args: Sequence[str] = RAFT_ARGS,
        seed: int = 0,
    ) -> None:
        self.members = tuple(members)
        self.ids = {m: str(i) for i, m in enumerate(self.members, start=1)}
        self.hub = ProxyHub(seed=seed)
        self.gateways: dict[str, RaftGateway] = {}
        try:
            self.raft: RaftCluster = start_raft_cluster(
                lab, len(self.members), hub=self.hub, extra_args=extra_args, prefix=prefix
            )
        except BaseException:
            self.hub.close()
            raise

    def wait_leader(self, timeout_s: float = 15.0) -> str:
        """The member whose node leads (waits until the nodes agree on one)."""
        leader = self.raft.leader(timeout_s=timeout_s)
        return next(m for m, i in self.ids.items() if i == leader)

    def gateway(self, member: str) -> RaftGateway:
        node = self.raft.node(self.ids[member])
        gateway = RaftGateway(member, RaftRegister(node.host, node.port))
        self.gateways[member] = gateway
        return gateway

    # -- the bus's link watcher --------------------------------------------------------
    def cut(self, src: str, dst: str) -> None:
        if src in self.ids and dst in self.ids and src != dst:
            self.hub.partition(f"{self.ids[src]}->{self.ids[dst]}")

    def heal(self) -> None:
        self.hub.heal()

    # -- reading the register ----------------------------------------------------------
    def stored(self, timeout_s: float = 10.0) -> dict[str, dict[str, str]]:
        """Every node's applied decisions, read from its backing redis-server once the
        nodes have caught up: ``{member: {txid: outcome}}``."""
        self.raft.wait_caught_up(timeout_s=timeout_s)
        out: dict[str, dict[str, str]] = {}
        for member, node_id in self.ids.items():
            contents = self.raft.backing_contents(node_id)
            out[member] = {
                str(k)[len(DECISION_PREFIX) :]: str(v)
                for k, v in contents.items()
                if str(k).startswith(DECISION_PREFIX)
            }
        return out

    def close(self) -> None:
        self.raft.close()  # first: a gateway's pending command then fails at once
        for gateway in self.gateways.values():
            gateway.close()
        self.hub.close()


def register_problems(
    stored: Mapping[str, Mapping[str, str]], applied: Mapping[str, Mapping[str, bool]]
) -> list[str]:
    """Split decisions: nodes that disagree, or shards that applied another outcome.

    ``applied`` is ``{shard: {txid: committed}}`` as the shards hold it.
    """
    problems: list[str] = []
    views = {member: dict(d) for member, d in stored.items()}
    txids = sorted({t for d in views.values() for t in d})
    for txid in txids:
        values = {m: d.get(txid) for m, d in views.items()}
        if len(set(values.values())) > 1:
            problems.append(f"split decision (in the Raft register): {txid} {values}")
    agreed = {t: next((d[t] for d in views.values() if t in d), None) for t in txids}
    for shard, outcomes in applied.items():
        for txid, committed in outcomes.items():
            kept = agreed.get(txid)
            if kept in OUTCOMES and OUTCOMES[str(kept)] != committed:
                problems.append(
                    f"split decision: {shard} {'committed' if committed else 'aborted'} "
                    f"{txid} but the register holds {kept}"
                )
    return problems
