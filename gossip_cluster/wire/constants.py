"""Sizes, offsets, enums and precompiled structs of the Redis 7.0 cluster bus.

All facts come from ``src/cluster.h`` / ``src/cluster.c`` of Redis 7.0.15 (and 7.2 for
the later ping extensions). Multi-byte integers are big-endian on the wire (``htons``,
``htonl``, ``htonu64``) except the MODULE message's module id, which Redis copies in
host order (little-endian on the x86-64 and arm64 builds we meet).
"""

from __future__ import annotations

import enum
import struct
from typing import Final

__all__ = [
    "CLUSTER_NAMELEN",
    "CLUSTER_PROTO_VER",
    "CLUSTER_SLOTS",
    "DEFAULT_MAX_FRAME_LEN",
    "EXT_HEADER",
    "EXT_HEADER_SIZE",
    "FAIL_SIZE",
    "FORGOTTEN_NODE_BODY",
    "GOSSIP",
    "GOSSIP_SIZE",
    "HEADER",
    "HEADER_OFFSETS",
    "HEADER_SIZE",
    "MODULE_FIXED",
    "MODULE_FIXED_SIZE",
    "NET_IP_STR_LEN",
    "PREFIX",
    "PUBLISH_FIXED",
    "PUBLISH_FIXED_SIZE",
    "SHARD_ID_BODY_SIZE",
    "SIGNATURE",
    "SLOTS_BYTES",
    "UPDATE_FIXED",
    "UPDATE_SIZE",
    "ClusterState",
    "ExtensionType",
    "MessageFlag",
    "MessageType",
    "NodeFlag",
]

SIGNATURE: Final = b"RCmb"
CLUSTER_PROTO_VER: Final = 1
CLUSTER_SLOTS: Final = 16384
SLOTS_BYTES: Final = CLUSTER_SLOTS // 8
CLUSTER_NAMELEN: Final = 40
NET_IP_STR_LEN: Final = 46

# sig, totlen, ver, port, type, count, currentEpoch, configEpoch, offset, sender, myslots,
# slaveof, myip, extensions, notused1, pport, cport, flags, state, mflags[0], mflags[1..2].
# "!" means big-endian with no padding: the C struct has none either (cluster.h asserts
# every offset), so the two layouts coincide.
HEADER: Final = struct.Struct("!4sIHHHHQQQ40s2048s40s46sH30sHHHBB2s")
HEADER_SIZE: Final = HEADER.size  # CLUSTERMSG_MIN_LEN
assert HEADER_SIZE == 2256

HEADER_OFFSETS: Final[dict[str, int]] = {
    "sig": 0,
    "totlen": 4,
    "ver": 8,
    "port": 10,
    "type": 12,
    "count": 14,
    "currentEpoch": 16,
    "configEpoch": 24,
    "offset": 32,
    "sender": 40,
    "myslots": 80,
    "slaveof": 2128,
    "myip": 2168,
    "extensions": 2214,
    "notused1": 2216,
    "pport": 2246,
    "cport": 2248,
    "flags": 2250,
    "state": 2252,
    "mflags": 2253,
    "data": 2256,
}
"""Field offsets of ``clusterMsg``, as the static asserts in cluster.h state them."""

PREFIX: Final = struct.Struct("!4sI")
"""The 8 bytes a reader needs first: signature and ``totlen``."""

# nodename, ping_sent, pong_received, ip, port, cport, flags, pport, notused1.
GOSSIP: Final = struct.Struct("!40sII46sHHHHH")
GOSSIP_SIZE: Final = GOSSIP.size
assert GOSSIP_SIZE == 104

FAIL_SIZE: Final = HEADER_SIZE + CLUSTER_NAMELEN

# channel_len, message_len; the 8-byte bulk_data placeholder is not counted.
PUBLISH_FIXED: Final = struct.Struct("!II")
PUBLISH_FIXED_SIZE: Final = PUBLISH_FIXED.size

# configEpoch, nodename, slots.
UPDATE_FIXED: Final = struct.Struct("!Q40s2048s")
UPDATE_SIZE: Final = HEADER_SIZE + UPDATE_FIXED.size
assert UPDATE_SIZE == 4352

# module_id (8 raw bytes: host order, little-endian here), len, type; the 3-byte
# bulk_data placeholder is not counted.
MODULE_FIXED: Final = struct.Struct("!8sIB")
MODULE_FIXED_SIZE: Final = MODULE_FIXED.size
assert MODULE_FIXED_SIZE == 13

# length (including this header), type, unused.
EXT_HEADER: Final = struct.Struct("!IHH")
EXT_HEADER_SIZE: Final = EXT_HEADER.size

# name, ttl in seconds (7.2).
FORGOTTEN_NODE_BODY: Final = struct.Struct("!40sQ")
SHARD_ID_BODY_SIZE: Final = CLUSTER_NAMELEN

DEFAULT_MAX_FRAME_LEN: Final = 64 * 1024 * 1024
"""Our cap on ``totlen``. Redis has none (a PUBLISH can be as large as a bulk string)."""


class MessageType(enum.IntEnum):
    """``CLUSTERMSG_TYPE_*``."""

    PING = 0
    PONG = 1
    MEET = 2
    FAIL = 3
    PUBLISH = 4
    FAILOVER_AUTH_REQUEST = 5
    FAILOVER_AUTH_ACK = 6
    UPDATE = 7
    MFSTART = 8
    MODULE = 9
    PUBLISHSHARD = 10


class NodeFlag(enum.IntFlag):
    """``CLUSTER_NODE_*``: the sender's flags in a header, a node's flags in gossip."""

    MASTER = 1
    SLAVE = 2
    PFAIL = 4
    FAIL = 8
    MYSELF = 16
    HANDSHAKE = 32
    NOADDR = 64
    MEET = 128
    MIGRATE_TO = 256
    NOFAILOVER = 512


class MessageFlag(enum.IntFlag):
    """``CLUSTERMSG_FLAG0_*``: bits of ``mflags[0]``."""

    PAUSED = 1
    FORCEACK = 2
    EXT_DATA = 4


class ExtensionType(enum.IntEnum):
    """``CLUSTERMSG_EXT_TYPE_*``: 7.0 knows HOSTNAME; 7.2 added the other three."""

    HOSTNAME = 0
    HUMAN_NODENAME = 1
    FORGOTTEN_NODE = 2
    SHARDID = 3


class ClusterState(enum.IntEnum):
    """The header's ``state`` byte: ``CLUSTER_OK`` or ``CLUSTER_FAIL``."""

    OK = 0
    FAIL = 1
