"""The pure Sentinel core: no I/O, no clock, no global randomness.

Module map (one concern each):

``config``     identity, per-master options, every timing constant
``errors``     the error root and typed errors
``quorum``     majority / ODOWN / election arithmetic
``replies``    typed reply values: ErrorReply, LinkError
``info``       the INFO parser
``hello``      the hello message codec
``messages``   typed messages between sentinels and client requests
``records``    the durable snapshot (what a config rewrite writes)
``instances``  the instance table's records and links
``context``    shared state and action helpers (emit, persist, commands)
``table``      create/find/reset instances, switch a master's address
``commands``   PING, hello, the SLAVEOF transaction
``monitor``    periodic commands, replies, SDOWN, acting on INFO
``election``   ODOWN, asking peers, votes, leader
``selection``  choosing the replica to promote
``failover``   the failover state machine
``wakeup``     deadlines the driver also runs the timer at
``discovery``  processing hellos
``query``      SENTINEL MASTERS/MASTER/... field lists
``admin``      SENTINEL MONITOR/REMOVE/RESET/SET
``debug``      SENTINEL DEBUG: show and set the timer's periods
``simfailure`` SENTINEL SIMULATE-FAILURE: flags and the crash action
``sentinel``   :class:`SentinelCore`, tying it together
"""

from sentinel_lab.core.config import HELLO_CHANNEL, MasterConfig, SentinelIdentity, Timing
from sentinel_lab.core.errors import (
    HelloFormatError,
    InfoFormatError,
    InvalidCoreConfigError,
    SentinelCoreError,
)
from sentinel_lab.core.hello import Hello, parse_hello
from sentinel_lab.core.info import InfoReport, ReplicaLine, parse_info
from sentinel_lab.core.instances import FailoverState, ReconfState
from sentinel_lab.core.messages import (
    FailoverRequest,
    HelloMessage,
    IsMasterDownReply,
    IsMasterDownRequest,
    MonitorRequest,
    PeerLinkError,
    RemoveRequest,
    ResetRequest,
    SentinelPing,
    SentinelPong,
    SetRequest,
)
from sentinel_lab.core.records import KnownReplica, KnownSentinel, MasterRecord, SentinelState
from sentinel_lab.core.replies import ErrorReply, LinkError
from sentinel_lab.core.sentinel import NO_SUCH_MASTER, SentinelCore

__all__ = [
    "HELLO_CHANNEL",
    "NO_SUCH_MASTER",
    "ErrorReply",
    "FailoverRequest",
    "FailoverState",
    "Hello",
    "HelloFormatError",
    "HelloMessage",
    "InfoFormatError",
    "InfoReport",
    "InvalidCoreConfigError",
    "IsMasterDownReply",
    "IsMasterDownRequest",
    "KnownReplica",
    "KnownSentinel",
    "LinkError",
    "MasterConfig",
    "MasterRecord",
    "MonitorRequest",
    "PeerLinkError",
    "ReconfState",
    "RemoveRequest",
    "ReplicaLine",
    "ResetRequest",
    "SentinelCore",
    "SentinelCoreError",
    "SentinelIdentity",
    "SentinelPing",
    "SentinelPong",
    "SentinelState",
    "SetRequest",
    "Timing",
    "parse_hello",
    "parse_info",
]
