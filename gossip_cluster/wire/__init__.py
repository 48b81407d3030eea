"""Sans-I/O codec of the Redis 7.0 cluster bus (``clusterMsg``).

``BusParser`` turns received bytes into messages (``feed``, ``next_message`` ->
message or ``NEED_DATA``); ``encode`` turns a message into bytes. Bad input raises
:class:`~gossip_cluster.errors.BusProtocolError` and nothing else.
"""

from __future__ import annotations

from gossip_cluster.errors import BusEncodeError, BusProtocolError, ProtocolErrorReason
from gossip_cluster.wire.constants import (
    CLUSTER_NAMELEN,
    CLUSTER_SLOTS,
    DEFAULT_MAX_FRAME_LEN,
    FAIL_SIZE,
    GOSSIP_SIZE,
    HEADER_OFFSETS,
    HEADER_SIZE,
    NET_IP_STR_LEN,
    UPDATE_SIZE,
    ClusterState,
    ExtensionType,
    MessageFlag,
    MessageType,
    NodeFlag,
)
from gossip_cluster.wire.decode import decode_frame
from gossip_cluster.wire.encode import encode, encode_extension, encode_gossip_entry
from gossip_cluster.wire.messages import (
    Extension,
    Fail,
    FailoverAuthAck,
    FailoverAuthRequest,
    ForgottenNodeExt,
    GossipEntry,
    Header,
    HostnameExt,
    HumanNodenameExt,
    Meet,
    Message,
    MfStart,
    Module,
    Ping,
    Pong,
    Publish,
    PublishShard,
    ShardIdExt,
    UnknownExt,
    UnknownMessage,
    Update,
)
from gossip_cluster.wire.parser import NEED_DATA, BusParser, NeedData
from gossip_cluster.wire.slots import EMPTY_SLOTS, SlotBitmap

__all__ = [
    "CLUSTER_NAMELEN",
    "CLUSTER_SLOTS",
    "DEFAULT_MAX_FRAME_LEN",
    "EMPTY_SLOTS",
    "FAIL_SIZE",
    "GOSSIP_SIZE",
    "HEADER_OFFSETS",
    "HEADER_SIZE",
    "NEED_DATA",
    "NET_IP_STR_LEN",
    "UPDATE_SIZE",
    "BusEncodeError",
    "BusParser",
    "BusProtocolError",
    "ClusterState",
    "Extension",
    "ExtensionType",
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
    "MessageFlag",
    "MessageType",
    "MfStart",
    "Module",
    "NeedData",
    "NodeFlag",
    "Ping",
    "Pong",
    "ProtocolErrorReason",
    "Publish",
    "PublishShard",
    "ShardIdExt",
    "SlotBitmap",
    "UnknownExt",
    "UnknownMessage",
    "Update",
    "decode_frame",
    "encode",
    "encode_extension",
    "encode_gossip_entry",
]
