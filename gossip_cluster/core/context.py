"""The mutable state one core step works on, and the helpers every module shares.

``Context`` holds what ``server.cluster`` holds in Redis (node table, epochs, state,
election and manual-failover state) plus the step's output: actions are appended to
``out`` as they happen, and ``todo`` collects clusterDoBeforeSleep flags that
:meth:`Context.before_sleep` turns into one ``Persist`` placed *before* every send of
the step (Redis saves nodes.conf in beforeSleep, before the event loop writes).
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field

from gossip_cluster.config import ClusterConfig
from gossip_cluster.core.inputs import CloseLink
from gossip_cluster.core.quorum import needed_quorum
from gossip_cluster.core.table import ClusterNode, F, NodeTable, wire_flags
from gossip_cluster.wire.constants import ClusterState, MessageFlag
from gossip_cluster.wire.messages import Header, Message
from gossip_cluster.wire.slots import SlotBitmap
from labkit.actions import Action, Emit, Persist, RedisCommand, Send
from labkit.events import Event

_NO_MFLAGS = MessageFlag(0)
BLACKLIST_TTL_MS = 60_000
"""CLUSTER_BLACKLIST_TTL: how long a forgotten node stays out of gossip."""
_NOT_BROADCAST = F.MYSELF | F.HANDSHAKE

__all__ = [
    "CantFailover",
    "Context",
    "Election",
    "FailEvidence",
    "Level",
    "ManualFailover",
    "Policy",
    "Todo",
]


class Todo(enum.IntFlag):
    """CLUSTER_TODO_*: work deferred to the end of the step (clusterBeforeSleep)."""

    HANDLE_FAILOVER = 1
    UPDATE_STATE = 2
    SAVE_CONFIG = 4
    FSYNC_CONFIG = 8
    HANDLE_MANUALFAILOVER = 16


class Level(enum.StrEnum):
    """Redis log levels as the log line marks them."""

    VERBOSE = "-"
    NOTICE = "*"
    WARNING = "#"


class CantFailover(enum.IntEnum):
    """CLUSTER_CANT_FAILOVER_*: why a replica is not failing over right now."""

    NONE = 0
    DATA_AGE = 1
    WAITING_DELAY = 2
    EXPIRED = 3
    WAITING_VOTES = 4


@dataclass(frozen=True, slots=True)
class FailEvidence:
    """Why this node marked ``node`` FAIL: the reports it counted and the quorum."""

    node: str
    time_ms: int
    reporters: tuple[str, ...]
    myself_counted: bool
    size: int
    needed: int


@dataclass(slots=True)
class Election:
    """The replica's election state (failover_auth_*)."""

    auth_time: int | None = None
    """When the election starts (or started); None: never scheduled."""
    auth_sent: bool = False
    auth_rank: int = 0
    auth_epoch: int = 0
    voters: dict[str, None] = field(default_factory=dict)
    """Masters whose ACK counted (a set: a duplicated ACK counts once)."""
    cant_failover_reason: CantFailover = CantFailover.NONE
    last_cant_log_ms: int | None = None


@dataclass(slots=True)
class ManualFailover:
    """The manual failover state (mf_*)."""

    end_ms: int = 0
    """0: none in progress."""
    can_start: bool = False
    slave: str | None = None
    """On a master: the replica that asked (MFSTART)."""
    master_offset: int = -1
    paused: bool = False
    """On a master with a backing server: the server confirmed the write pause
    (``WritesPaused``), so the offset in our headers is final and they carry PAUSED."""


class Policy:
    """Rules a planted bug may override (the simulator's checkers must catch it)."""

    def fail_quorum(self, size: int) -> int:
        """Reports (myself included) needed to mark a node FAIL."""
        return needed_quorum(size)

    def already_voted(self, last_vote_epoch: int, current_epoch: int) -> bool:
        """Whether the one vote of ``current_epoch`` is spent."""
        return last_vote_epoch == current_epoch

    def voted_recently(self, since_last_vote_ms: int | None, vote_again_ms: int) -> bool:
        """Whether a replica of this master got our vote too recently."""
        return since_last_vote_ms is not None and since_last_vote_ms < vote_again_ms


class Context:
    """One node's cluster state (``server.cluster``) and the current step's output."""

    def __init__(
        self,
        config: ClusterConfig,
        myself: ClusterNode,
        rng: random.Random,
        *,
        announce_ip: str = "",
        source: str = "",
        data_server: str | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.config = config
        self.rng = rng
        self.table = NodeTable(myself)
        self.announce_ip = announce_ip
        if announce_ip:  # as Redis's cron does: myself is known by the announced address
            myself.ip = announce_ip
        self.source = source
        self.data_server = data_server
        self.policy = policy or Policy()
        self.current_epoch = 0
        self.last_vote_epoch = 0
        self.state = ClusterState.FAIL
        self.now = 0
        self.todo = Todo(0)
        self.out: list[Action] = []
        self.iteration = 0
        self.pings_sent = 0
        self.stats_pfail_nodes = 0
        self.repl_offset = 0
        self.repl_link_up = True
        self.repl_since_ms = 0
        self.election = Election()
        self.mf = ManualFailover()
        self.first_call_ms: int | None = None
        self.among_minority_ms: int | None = None
        self.evidence: dict[str, FailEvidence] = {}
        """Why each node was marked FAIL by this node, most recent marking."""
        self.migrating: dict[int, str] = {}
        """migrating_slots_to: slot -> the node its keys are moving to."""
        self.importing: dict[int, str] = {}
        """importing_slots_from: slot -> the node its keys come from."""
        self._header_key: tuple[object, ...] = ()
        self._header: Header | None = None
        self.blacklist: dict[str, int] = {}
        """nodes_black_list: node name -> when (ms) CLUSTER FORGET stops refusing it."""

    @property
    def myself(self) -> ClusterNode:
        return self.table.myself

    @property
    def role_char(self) -> str:
        """Redis's role character in log lines: M for a master, S for a replica."""
        return "M" if self.myself.is_master else "S"

    def close_all_slots(self) -> None:
        """clusterCloseAllSlots: no slot is migrating or importing any more."""
        self.migrating.clear()
        self.importing.clear()

    def delete_node(self, node: ClusterNode) -> None:
        """clusterDelNode: also closes the slots that were moving to or from it."""
        for states in (self.migrating, self.importing):
            for slot in [s for s, name in states.items() if name == node.name]:
                del states[slot]
        self.table.delete(node)

    def importing_bits(self) -> int:
        """The importing slots as a bitmap."""
        bits = 0
        for slot in self.importing:
            bits |= 1 << slot
        return bits

    def blacklist_node(self, name: str) -> None:
        """clusterBlacklistAddNode: gossip about ``name`` adds nothing for a minute."""
        self._blacklist_cleanup()
        self.blacklist[name] = self.now + BLACKLIST_TTL_MS

    def blacklisted(self, name: str) -> bool:
        """clusterBlacklistExists."""
        self._blacklist_cleanup()
        return name in self.blacklist

    def _blacklist_cleanup(self) -> None:
        for name, until in list(self.blacklist.items()):
            if until < self.now:
                del self.blacklist[name]

    # -- output ----------------------------------------------------------------------------
    def log(self, level: Level, text: str) -> None:
        """Emit one Redis log line (the message part is the event name)."""
        event = Event(
            source=self.source,
            name=text,
            wall_ns=self.now * 1_000_000,
            level=level.value,
            role=self.role_char,
        )
        self.out.append(Emit(event))

    def send(self, link: str, message: Message) -> None:
        self.out.append(Send(link, message))

    def send_to_node(self, node: ClusterNode, message: Message) -> None:
        """clusterSendMessage(node->link, ...): dropped when there is no outbound link."""
        if node.link_ctime is not None:
            self.out.append(Send(node.link_address, message))

    def close_link(self, node: ClusterNode) -> None:
        """freeClusterLink(node->link)."""
        link = self.table.free_link(node)
        if link is not None:
            self.out.append(Send(link, CloseLink()))

    def broadcast(self, message: Message) -> None:
        """clusterBroadcastMessage: every linked node but myself and handshake nodes."""
        for node in self.table.nodes.values():
            if node.flags & _NOT_BROADCAST:
                continue
            self.send_to_node(node, message)

    def redis(self, *args: str | int) -> None:
        """A command for the backing redis-server, if the core drives one."""
        if self.data_server is not None:
            self.out.append(RedisCommand(self.data_server, tuple(args)))

    def do(self, flags: Todo) -> None:
        """clusterDoBeforeSleep."""
        self.todo |= flags

    def save(self, *, fsync: bool = True) -> None:
        """clusterSaveConfigOrDie: written before the step's sends go out."""
        self.todo |= Todo.SAVE_CONFIG | (Todo.FSYNC_CONFIG if fsync else Todo(0))

    def take_output(self, record: object | None) -> list[Action]:
        """The step's actions: the Persist (if a save is due) first, then the rest."""
        actions: list[Action] = []
        if record is not None:
            actions.append(Persist(record, sync=bool(self.todo & Todo.FSYNC_CONFIG)))
        actions += self.out
        self.out = []
        if self.todo:
            self.todo &= ~(Todo.SAVE_CONFIG | Todo.FSYNC_CONFIG)
        return actions

    # -- the header every message starts with ----------------------------------------------
    def header(self, mflags: MessageFlag = _NO_MFLAGS) -> Header:
        """clusterBuildMessageHdr: a replica sends its master's slots and configEpoch."""
        me = self.myself
        master = me
        if me.is_slave and me.slaveof is not None:
            master = self.table.get(me.slaveof) or me
        mf = self.mf
        if me.is_master and mf.end_ms and (mf.paused or self.data_server is None):
            mflags |= MessageFlag.PAUSED
        key = (
            me.name,
            me.port,
            self.current_epoch,
            master.config_epoch,
            self.repl_offset,
            master.slots,
            me.slaveof,
            self.announce_ip,
            me.pport,
            me.cport,
            me.flags,
            self.state,
            mflags,
        )
        if key == self._header_key and self._header is not None:
            return self._header  # headers are frozen: the step's pings share one
        header = Header(
            sender=me.name,
            port=me.port,
            current_epoch=self.current_epoch,
            config_epoch=master.config_epoch,
            offset=self.repl_offset,
            myslots=SlotBitmap(master.slots),
            slaveof=me.slaveof,
            myip=self.announce_ip,
            pport=me.pport,
            cport=me.cport,
            flags=wire_flags(me.flags),
            state=self.state,
            mflags=mflags,
        )
        self._header_key, self._header = key, header
        return header
