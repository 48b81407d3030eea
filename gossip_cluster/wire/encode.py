"""``encode(message) -> bytes``: the exact frame Redis 7.0 would build for a message.

Derived fields are computed (``totlen``, ``ver`` = 1, ``type``, ``count``, the extension
count); reserved bytes, string tails and extension padding are zeros. A PING/PONG/MEET
with extensions always gets the EXT_DATA flag (the decoder then leaves it out of
``Header.mflags``, so both directions round-trip). Out-of-range values raise
:class:`BusEncodeError`.
"""

from __future__ import annotations

import struct
from typing import Final

from gossip_cluster.errors import BusEncodeError
from gossip_cluster.wire.constants import (
    CLUSTER_NAMELEN,
    CLUSTER_PROTO_VER,
    EXT_HEADER,
    FORGOTTEN_NODE_BODY,
    GOSSIP,
    HEADER,
    HEADER_SIZE,
    MODULE_FIXED,
    MODULE_FIXED_SIZE,
    NET_IP_STR_LEN,
    PUBLISH_FIXED,
    PUBLISH_FIXED_SIZE,
    SIGNATURE,
    UPDATE_FIXED,
    ExtensionType,
    MessageFlag,
    MessageType,
)
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

__all__ = ["encode", "encode_extension", "encode_gossip_entry"]

_NOTUSED: Final = bytes(30)
_MFLAGS_REST: Final = bytes(2)
_MAX_TOTLEN: Final = (1 << 32) - 1


def _name(value: str, what: str) -> bytes:
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raise BusEncodeError(f"{what} {value!r} is not Latin-1 text") from None
    if len(raw) != CLUSTER_NAMELEN:
        raise BusEncodeError(f"{what} must be {CLUSTER_NAMELEN} characters, not {len(raw)}")
    return raw


def _ip(value: str, what: str) -> bytes:
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raise BusEncodeError(f"{what} {value!r} is not Latin-1 text") from None
    if len(raw) > NET_IP_STR_LEN or 0 in raw:
        raise BusEncodeError(f"{what} {value!r} must be at most {NET_IP_STR_LEN} bytes, no NUL")
    return raw


def _pack(packer: struct.Struct, what: str, *values: object) -> bytes:
    try:
        return packer.pack(*values)
    except struct.error as exc:
        raise BusEncodeError(f"{what}: a field is out of range ({exc})") from None


def _header(
    header: Header, mtype: int, totlen: int, count: int = 0, n_ext: int = 0, mflags: int = 0
) -> bytes:
    if totlen > _MAX_TOTLEN:
        raise BusEncodeError(f"frame of {totlen} bytes does not fit a 32-bit totlen")
    if count > 0xFFFF or n_ext > 0xFFFF:
        raise BusEncodeError(f"{count} gossip entries / {n_ext} extensions exceed 65535")
    slaveof = bytes(CLUSTER_NAMELEN) if header.slaveof is None else _name(header.slaveof, "slaveof")
    return _pack(
        HEADER,
        "header",
        SIGNATURE,
        totlen,
        CLUSTER_PROTO_VER,
        header.port,
        mtype,
        count,
        header.current_epoch,
        header.config_epoch,
        header.offset,
        _name(header.sender, "sender"),
        header.myslots.to_bytes(),
        slaveof,
        _ip(header.myip, "myip"),
        n_ext,
        _NOTUSED,
        header.pport,
        header.cport,
        int(header.flags),
        int(header.state),
        int(header.mflags) | mflags,
        _MFLAGS_REST,
    )


def encode_gossip_entry(entry: GossipEntry) -> bytes:
    """The 104 bytes of one gossip entry."""
    return _pack(
        GOSSIP,
        "gossip entry",
        _name(entry.nodename, "gossip nodename"),
        entry.ping_sent,
        entry.pong_received,
        _ip(entry.ip, "gossip ip"),
        entry.port,
        entry.cport,
        int(entry.flags),
        entry.pport,
        0,
    )


def _text_body(value: str, what: str) -> bytes:
    raw = value.encode("utf-8", "surrogateescape")
    if 0 in raw:
        raise BusEncodeError(f"{what} {value!r} contains a NUL")
    return raw + bytes(8 - len(raw) % 8)  # NUL-terminated, padded to 8


def encode_extension(ext: Extension) -> bytes:
    """One ping extension: its 8-byte header and its body padded to 8."""
    match ext:
        case HostnameExt(hostname):
            etype, body = ExtensionType.HOSTNAME, _text_body(hostname, "hostname")
        case HumanNodenameExt(human_nodename):
            etype = ExtensionType.HUMAN_NODENAME
            body = _text_body(human_nodename, "human nodename")
        case ForgottenNodeExt(name, ttl):
            etype = ExtensionType.FORGOTTEN_NODE
            body = _pack(FORGOTTEN_NODE_BODY, "forgotten node", _name(name, "forgotten name"), ttl)
        case ShardIdExt(shard_id):
            etype, body = ExtensionType.SHARDID, _name(shard_id, "shard id")
        case UnknownExt(etype, body):
            if len(body) % 8:
                raise BusEncodeError(f"extension body of {len(body)} bytes is not padded to 8")
        case _:
            raise BusEncodeError(f"not an extension: {ext!r}")
    return _pack(EXT_HEADER, "extension", EXT_HEADER.size + len(body), etype, 0) + body


def _encode_ping(message: Ping | Pong | Meet) -> bytes:
    parts = [encode_gossip_entry(entry) for entry in message.gossip]
    parts += [encode_extension(ext) for ext in message.extensions]
    body = b"".join(parts)
    ext_flag = MessageFlag.EXT_DATA if message.extensions else 0
    head = _header(
        message.header,
        message.TYPE,
        HEADER_SIZE + len(body),
        len(message.gossip),
        len(message.extensions),
        ext_flag,
    )
    return head + body


def _encode_publish(message: Publish | PublishShard) -> bytes:
    channel, text = bytes(message.channel), bytes(message.message)
    totlen = HEADER_SIZE + PUBLISH_FIXED_SIZE + len(channel) + len(text)
    fixed = _pack(PUBLISH_FIXED, "publish", len(channel), len(text))
    return _header(message.header, message.TYPE, totlen) + fixed + channel + text


def _encode_module(message: Module) -> bytes:
    payload = bytes(message.payload)
    if not 0 <= message.module_id < 1 << 64:
        raise BusEncodeError(f"module id {message.module_id} is not a 64-bit unsigned integer")
    module_id = message.module_id.to_bytes(8, "little")
    fixed = _pack(MODULE_FIXED, "module", module_id, len(payload), message.module_type)
    totlen = HEADER_SIZE + MODULE_FIXED_SIZE + len(payload)
    return _header(message.header, MessageType.MODULE, totlen) + fixed + payload


def encode(message: Message) -> bytes:
    """The wire bytes of ``message``."""
    match message:
        case Ping() | Pong() | Meet():
            return _encode_ping(message)
        case Fail(header, nodename):
            raw = _name(nodename, "FAIL nodename")
            return _header(header, MessageType.FAIL, HEADER_SIZE + len(raw)) + raw
        case Publish() | PublishShard():
            return _encode_publish(message)
        case FailoverAuthRequest(header) | FailoverAuthAck(header) | MfStart(header):
            return _header(header, message.TYPE, HEADER_SIZE)
        case Update(header, config_epoch, nodename, slots):
            body = _pack(
                UPDATE_FIXED,
                "UPDATE",
                config_epoch,
                _name(nodename, "UPDATE nodename"),
                slots.to_bytes(),
            )
            return _header(header, MessageType.UPDATE, HEADER_SIZE + len(body)) + body
        case Module():
            return _encode_module(message)
        case UnknownMessage(header, mtype, payload):
            if mtype in MessageType.__members__.values():
                raise BusEncodeError(f"type {mtype} is a known type; use its message class")
            payload = bytes(payload)
            return _header(header, mtype, HEADER_SIZE + len(payload)) + payload
    raise BusEncodeError(f"not a cluster-bus message: {message!r}")
