"""The messages of the cluster bus as frozen dataclasses.

A message is its :class:`Header` plus the body of its type. Fields that the frame layout
derives (``sig``, ``totlen``, ``ver``, ``type``, ``count``, ``extensions``) are not stored:
the encoder computes them. Reserved bytes and the bytes after a NUL terminator are not
stored either; the encoder writes zeros there, as Redis does.

Node names are ``str`` of 40 characters decoded as Latin-1, so any 40 bytes survive a
round trip; real names are 40 lowercase hex digits. IPs are the text before the first NUL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from gossip_cluster.wire.constants import ClusterState, MessageFlag, MessageType, NodeFlag
from gossip_cluster.wire.slots import EMPTY_SLOTS, SlotBitmap

__all__ = [
    "Extension",
    "Fail",
    "FailoverAuthAck",
    "FailoverAuthRequest",
    "ForgottenNodeExt",
    "GossipEntry",
    "Header",
    "HostnameExt",
    "HumanNodenameExt",
    "Meet",
    "Message",
    "MfStart",
    "Module",
    "Ping",
    "Pong",
    "Publish",
    "PublishShard",
    "ShardIdExt",
    "UnknownExt",
    "UnknownMessage",
    "Update",
]

_NO_FLAGS: Final = NodeFlag(0)
_NO_MFLAGS: Final = MessageFlag(0)


@dataclass(frozen=True, slots=True)
class Header:
    """The common ``clusterMsg`` header, as the sender fills it in."""

    sender: str
    """The sender's node name (40 characters)."""
    port: int = 0
    """Client port (TLS port when TLS is on)."""
    current_epoch: int = 0
    config_epoch: int = 0
    """The sender's configEpoch, or its master's if it is a replica."""
    offset: int = 0
    """Replication offset."""
    myslots: SlotBitmap = EMPTY_SLOTS
    """The sender's slots, or its master's if it is a replica."""
    slaveof: str | None = None
    """The master's name; None (40 zero bytes on the wire) for a master."""
    myip: str = ""
    """Announced IP; empty means "use the socket's peer address"."""
    pport: int = 0
    """The other client port (plaintext when ``port`` is TLS)."""
    cport: int = 0
    """Cluster bus port."""
    flags: NodeFlag = _NO_FLAGS
    state: int = ClusterState.OK
    """``CLUSTER_OK`` (0) or ``CLUSTER_FAIL`` (1) as the sender sees the cluster."""
    mflags: MessageFlag = _NO_MFLAGS
    """``mflags[0]``. EXT_DATA is implied when a ping carries extensions: the encoder
    sets it then, and the decoder leaves it out of this field."""


@dataclass(frozen=True, slots=True)
class GossipEntry:
    """One ``clusterMsgDataGossip``: what the sender knows about another node."""

    nodename: str
    ping_sent: int = 0
    """Seconds (Unix time) the sender last pinged the node, 0 if no ping is pending."""
    pong_received: int = 0
    """Seconds (Unix time) of the last pong the sender got from the node."""
    ip: str = ""
    port: int = 0
    cport: int = 0
    flags: NodeFlag = _NO_FLAGS
    pport: int = 0


@dataclass(frozen=True, slots=True)
class HostnameExt:
    """Extension type 0 (7.0): the sender's announced hostname."""

    hostname: str


@dataclass(frozen=True, slots=True)
class HumanNodenameExt:
    """Extension type 1 (7.2): the sender's human-readable node name."""

    human_nodename: str


@dataclass(frozen=True, slots=True)
class ForgottenNodeExt:
    """Extension type 2 (7.2): a node that CLUSTER FORGET removed, and for how long."""

    name: str
    ttl: int
    """Seconds the receiver should keep the node out of its table."""


@dataclass(frozen=True, slots=True)
class ShardIdExt:
    """Extension type 3 (7.2): the sender's shard id (40 characters)."""

    shard_id: str


@dataclass(frozen=True, slots=True)
class UnknownExt:
    """An extension of a type this codec does not know; Redis skips these too."""

    type: int
    body: bytes
    """Everything after the 8-byte extension header, padding included."""


Extension = HostnameExt | HumanNodenameExt | ForgottenNodeExt | ShardIdExt | UnknownExt


@dataclass(frozen=True, slots=True)
class _PingBase:
    header: Header
    gossip: tuple[GossipEntry, ...] = ()
    extensions: tuple[Extension, ...] = ()


@dataclass(frozen=True, slots=True)
class Ping(_PingBase):
    """PING (type 0)."""

    TYPE: ClassVar[MessageType] = MessageType.PING


@dataclass(frozen=True, slots=True)
class Pong(_PingBase):
    """PONG (type 1): the reply to PING and MEET, also broadcast after a failover."""

    TYPE: ClassVar[MessageType] = MessageType.PONG


@dataclass(frozen=True, slots=True)
class Meet(_PingBase):
    """MEET (type 2): a PING that makes the receiver add the sender."""

    TYPE: ClassVar[MessageType] = MessageType.MEET


@dataclass(frozen=True, slots=True)
class Fail:
    """FAIL (type 3): ``nodename`` is failing."""

    header: Header
    nodename: str

    TYPE: ClassVar[MessageType] = MessageType.FAIL


@dataclass(frozen=True, slots=True)
class _PublishBase:
    header: Header
    channel: bytes
    message: bytes


@dataclass(frozen=True, slots=True)
class Publish(_PublishBase):
    """PUBLISH (type 4): a Pub/Sub message to deliver on every node."""

    TYPE: ClassVar[MessageType] = MessageType.PUBLISH


@dataclass(frozen=True, slots=True)
class PublishShard(_PublishBase):
    """PUBLISHSHARD (type 10): a shard Pub/Sub message for the sender's shard."""

    TYPE: ClassVar[MessageType] = MessageType.PUBLISHSHARD


@dataclass(frozen=True, slots=True)
class FailoverAuthRequest:
    """FAILOVER_AUTH_REQUEST (type 5): a replica asks for a vote; FORCEACK for a manual one."""

    header: Header

    TYPE: ClassVar[MessageType] = MessageType.FAILOVER_AUTH_REQUEST


@dataclass(frozen=True, slots=True)
class FailoverAuthAck:
    """FAILOVER_AUTH_ACK (type 6): a master's vote."""

    header: Header

    TYPE: ClassVar[MessageType] = MessageType.FAILOVER_AUTH_ACK


@dataclass(frozen=True, slots=True)
class Update:
    """UPDATE (type 7): ``nodename`` owns ``slots`` at ``config_epoch``."""

    header: Header
    config_epoch: int
    nodename: str
    slots: SlotBitmap

    TYPE: ClassVar[MessageType] = MessageType.UPDATE


@dataclass(frozen=True, slots=True)
class MfStart:
    """MFSTART (type 8): a replica asks its master to pause clients for a manual failover."""

    header: Header

    TYPE: ClassVar[MessageType] = MessageType.MFSTART


@dataclass(frozen=True, slots=True)
class Module:
    """MODULE (type 9): a module's message.

    ``module_id`` is the 8 bytes Redis copies in host byte order, read as little-endian.
    """

    header: Header
    module_id: int
    module_type: int
    payload: bytes

    TYPE: ClassVar[MessageType] = MessageType.MODULE


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    """A frame of a type above 10. Redis takes it as well formed and ignores it."""

    header: Header
    type: int
    payload: bytes
    """Everything after the header."""


Message = (
    Ping
    | Pong
    | Meet
    | Fail
    | Publish
    | PublishShard
    | FailoverAuthRequest
    | FailoverAuthAck
    | Update
    | MfStart
    | Module
    | UnknownMessage
)
