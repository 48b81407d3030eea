"""What a driver exchanges with a core besides peer messages.

Client requests arrive as ``ClientRequest(client, request)`` with one of the request
types below, and are answered with ``Reply(client, value)``.

The state machine lives in the driver. The core asks for work with ``Apply(payload)``:

* :class:`ApplyEntry`: a committed entry, in log order; the driver applies it and
  feeds back :class:`Applied` (``index``, the state machine's result);
* :class:`ApplySnapshot`: replace the state with a snapshot (a lagging follower got
  one); the driver loads it and feeds back ``Applied(meta.index, None)``;
* :class:`RunQuery`: a linearizable read whose read index is applied; the driver runs
  the read-only command now and feeds back :class:`QueryDone`.

Every ``Applied`` must answer the oldest outstanding ``ApplyEntry``/``ApplySnapshot``
(in order). The core replies to a write's client when its ``Applied`` arrives, and to
a read's client on ``QueryDone``. The driver takes snapshots of its state at an
applied index and hands them over with :class:`SnapshotTaken`.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis_raft.core.records import Entry, SnapshotMeta

__all__ = [
    "CLUSTERDOWN",
    "CONFIG_PENDING",
    "NOREPLICAS",
    "TIMEOUT",
    "TRYAGAIN_READ",
    "TRYAGAIN_TRANSFER",
    "AddLearner",
    "Applied",
    "ApplyEntry",
    "ApplySnapshot",
    "ErrorReply",
    "PromoteLearner",
    "QueryDone",
    "Read",
    "Redirect",
    "RemoveNode",
    "RunQuery",
    "SnapshotTaken",
    "TransferLeadership",
    "Write",
]

NOREPLICAS = "NOREPLICAS Not enough good replicas to write."
"""Redis's exact min-replicas refusal (the command did not run)."""
CLUSTERDOWN = "CLUSTERDOWN No Raft leader"
"""RedisRaft's answer when no leader is known (the command did not run)."""
TIMEOUT = "TIMEOUT the write may or may not have been applied"
"""Leadership was lost after the write was appended and before it committed."""
TRYAGAIN_TRANSFER = "TRYAGAIN leadership transfer in progress"
"""A write or config change refused while leadership moves (outcome: retry)."""
TRYAGAIN_READ = "TRYAGAIN leadership lost before the read was served"
"""A read dropped by a leader that stepped down (it had no effect)."""
CONFIG_PENDING = "ERR a configuration change is already in progress"
"""Single-server changes go one at a time: the previous one has not committed."""


# -- client requests ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Write:
    """Replicate ``command`` and answer with its result once applied."""

    command: bytes


@dataclass(frozen=True, slots=True)
class Read:
    """Run the read-only ``command`` linearizably (ReadIndex, or a lease if enabled)."""

    command: bytes


@dataclass(frozen=True, slots=True)
class AddLearner:
    """Add ``node`` as a non-voting learner; answered ``"OK"`` once applied."""

    node: str


@dataclass(frozen=True, slots=True)
class PromoteLearner:
    """Make the learner ``node`` a voter; refused until it has caught up."""

    node: str


@dataclass(frozen=True, slots=True)
class RemoveNode:
    """Remove the voter or learner ``node`` (a leader may remove itself)."""

    node: str


@dataclass(frozen=True, slots=True)
class TransferLeadership:
    """Hand leadership to the voter ``node``; answered ``"OK"`` when started."""

    node: str


# -- replies -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ErrorReply:
    """A Redis error reply; ``text`` has no leading ``-`` (``"NOREPLICAS ..."``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Redirect:
    """This node is not the leader; ``leader`` is (as of ``term``).

    The driver answers ``-MOVED <slot> <addr>`` or proxies the request there.
    """

    leader: str
    term: int


# -- state machine work and its feedback -------------------------------------------
@dataclass(frozen=True, slots=True)
class ApplyEntry:
    """Apply this committed entry (a no-op or a config entry changes no data)."""

    entry: Entry


@dataclass(frozen=True, slots=True)
class ApplySnapshot:
    """Replace the state-machine state with ``data``, which covers up to ``meta.index``."""

    meta: SnapshotMeta
    data: bytes


@dataclass(frozen=True, slots=True)
class RunQuery:
    """Run the read-only ``command`` now and report it as ``QueryDone(query_id, ...)``."""

    query_id: int
    command: bytes


@dataclass(frozen=True, slots=True)
class Applied:
    """The driver applied the entry (or snapshot) at ``index``; ``result`` is its reply."""

    index: int
    result: object = None


@dataclass(frozen=True, slots=True)
class QueryDone:
    """The driver ran query ``query_id``; ``result`` is the reply for its client."""

    query_id: int
    result: object


@dataclass(frozen=True, slots=True)
class SnapshotTaken:
    """The driver saved the state at the applied ``index`` as ``data``; compact the log."""

    index: int
    data: bytes
