"""The pure Raft core: no I/O, no clock, no global randomness.

A driver feeds :class:`RaftCore` peer messages (``Received``), client requests
(``ClientRequest`` with :class:`Write`, :class:`Read`, membership and transfer
requests) and its own feedback (:class:`Applied`, :class:`QueryDone`,
:class:`SnapshotTaken`), calls ``tick(now_ms)`` often (every 10-50 ms), and carries
out the returned actions in order: ``Persist``, then ``Send``, ``Apply``, ``Reply``,
``Emit``. See :mod:`redis_raft.core.api` for the apply/reply protocol.
"""

from __future__ import annotations

from redis_raft.core.api import (
    CLUSTERDOWN,
    NOREPLICAS,
    TIMEOUT,
    AddLearner,
    Applied,
    ApplyEntry,
    ApplySnapshot,
    ErrorReply,
    PromoteLearner,
    QueryDone,
    Read,
    Redirect,
    RemoveNode,
    RunQuery,
    SnapshotTaken,
    TransferLeadership,
    Write,
)
from redis_raft.core.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
)
from redis_raft.core.node import BUGS, RaftCore, RaftInput
from redis_raft.core.records import (
    Config,
    Entry,
    EntryData,
    HardState,
    LogAppend,
    SnapshotMeta,
    SnapshotRecord,
)
from redis_raft.core.settings import RaftConfig

__all__ = [
    "BUGS",
    "CLUSTERDOWN",
    "NOREPLICAS",
    "TIMEOUT",
    "AddLearner",
    "AppendEntries",
    "AppendEntriesResponse",
    "Applied",
    "ApplyEntry",
    "ApplySnapshot",
    "Config",
    "Entry",
    "EntryData",
    "ErrorReply",
    "HardState",
    "Heartbeat",
    "HeartbeatResponse",
    "InstallSnapshot",
    "InstallSnapshotResponse",
    "LogAppend",
    "Message",
    "PromoteLearner",
    "QueryDone",
    "RaftConfig",
    "RaftCore",
    "RaftInput",
    "Read",
    "Redirect",
    "RemoveNode",
    "RequestVote",
    "RequestVoteResponse",
    "RunQuery",
    "SnapshotMeta",
    "SnapshotRecord",
    "SnapshotTaken",
    "TimeoutNow",
    "TransferLeadership",
    "Write",
]
