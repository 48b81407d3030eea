"""Decoding one complete frame: the length checks of ``clusterProcessPacket`` and more.

Redis 7.0.15 checks a frame in two places. The reader closes the link when the signature
is not ``RCmb`` or ``totlen`` is under the header size. ``clusterProcessPacket`` then drops
(without closing) a frame whose version is not 1 or whose ``totlen`` differs from the
length its type implies: header + 104 x count + extensions for PING/PONG/MEET (each
extension a multiple of 8 and inside the frame), + 40 for FAIL, + 8 + lengths for
PUBLISH/PUBLISHSHARD, + 0 for the auth and MFSTART types, + 2096 for UPDATE, + 13 + len
for MODULE, anything for unknown types.

This decoder is stricter where Redis would read out of bounds or loop: an extension
shorter than its 8-byte header, a known extension shorter than its fixed body, and an
extension count without the EXT_DATA flag are refused; the PUBLISH lengths are added
without Redis's 32-bit wrap-around, and extension lengths are not cut to 16 bits as
7.0's check does. Every failure is a :class:`BusProtocolError`; nothing else escapes
for any input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Final

from gossip_cluster.errors import BusProtocolError, ProtocolErrorReason
from gossip_cluster.wire.constants import (
    CLUSTER_PROTO_VER,
    EXT_HEADER,
    EXT_HEADER_SIZE,
    FAIL_SIZE,
    FORGOTTEN_NODE_BODY,
    GOSSIP,
    GOSSIP_SIZE,
    HEADER,
    HEADER_SIZE,
    MODULE_FIXED,
    MODULE_FIXED_SIZE,
    PREFIX,
    PUBLISH_FIXED,
    PUBLISH_FIXED_SIZE,
    SHARD_ID_BODY_SIZE,
    SIGNATURE,
    UPDATE_FIXED,
    UPDATE_SIZE,
    ExtensionType,
    MessageFlag,
    MessageType,
    NodeFlag,
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
from gossip_cluster.wire.slots import SlotBitmap

__all__ = ["check_prefix", "decode_frame"]

_R = ProtocolErrorReason
_NULL_NAME: Final = bytes(40)
_NO_LIMIT: Final = 1 << 32


def check_prefix(sig: bytes, totlen: int, max_frame_len: int) -> None:
    """Refuse a frame from its first 8 bytes, as Redis's reader does (fatal errors)."""
    if sig != SIGNATURE:
        raise BusProtocolError(_R.BAD_SIGNATURE, f"signature {sig!r} is not b'RCmb'", fatal=True)
    if totlen < HEADER_SIZE:
        raise BusProtocolError(
            _R.FRAME_TOO_SHORT,
            f"totlen {totlen} is below the {HEADER_SIZE}-byte header",
            fatal=True,
        )
    if totlen > max_frame_len:
        raise BusProtocolError(
            _R.FRAME_TOO_LONG, f"totlen {totlen} is above the limit {max_frame_len}", fatal=True
        )


def _cstr(raw: bytes) -> str:
    """The Latin-1 text before the first NUL."""
    end = raw.find(0)
    return (raw if end < 0 else raw[:end]).decode("latin-1")


def _utf8_cstr(raw: bytes) -> str:
    end = raw.find(0)
    return (raw if end < 0 else raw[:end]).decode("utf-8", "surrogateescape")


def _mismatch(kind: str, totlen: int, expected: int) -> BusProtocolError:
    return BusProtocolError(
        _R.LENGTH_MISMATCH, f"{kind} frame has totlen {totlen} but its content needs {expected}"
    )


def _decode_header(frame: bytes) -> tuple[Header, int, int, int, int]:
    """The header, plus totlen, type, count and the extension count."""
    (
        sig,
        totlen,
        ver,
        port,
        mtype,
        count,
        current_epoch,
        config_epoch,
        offset,
        sender,
        myslots,
        slaveof,
        myip,
        extensions,
        _notused,
        pport,
        cport,
        flags,
        state,
        mflags,
        _mflags_rest,
    ) = HEADER.unpack_from(frame)
    check_prefix(sig, totlen, _NO_LIMIT)
    if totlen != len(frame):
        raise BusProtocolError(
            _R.LENGTH_MISMATCH, f"frame is {len(frame)} bytes but its totlen says {totlen}"
        )
    if ver != CLUSTER_PROTO_VER:
        raise BusProtocolError(_R.BAD_VERSION, f"version {ver} is not {CLUSTER_PROTO_VER}")
    header = Header(
        sender=sender.decode("latin-1"),
        port=port,
        current_epoch=current_epoch,
        config_epoch=config_epoch,
        offset=offset,
        myslots=SlotBitmap(int.from_bytes(myslots, "little")),
        slaveof=None if slaveof == _NULL_NAME else slaveof.decode("latin-1"),
        myip=_cstr(myip),
        pport=pport,
        cport=cport,
        flags=NodeFlag(flags),
        state=state,
        mflags=MessageFlag(mflags),
    )
    return header, totlen, mtype, count, extensions


def _decode_extensions(frame: bytes, pos: int, n: int, kind: str) -> tuple[Extension, ...]:
    totlen = len(frame)
    out: list[Extension] = []
    for i in range(n):
        if totlen - pos < EXT_HEADER_SIZE:
            raise BusProtocolError(
                _R.TRUNCATED_EXTENSION,
                f"{kind} extension {i + 1} of {n} starts at {pos}, past the end of a {totlen}-byte frame",
            )
        length, etype, _unused = EXT_HEADER.unpack_from(frame, pos)
        if length % 8:
            raise BusProtocolError(
                _R.BAD_EXTENSION_PADDING,
                f"{kind} extension {i + 1} of {n} has length {length}, not a multiple of 8",
            )
        if length < EXT_HEADER_SIZE:
            raise BusProtocolError(
                _R.SHORT_EXTENSION,
                f"{kind} extension {i + 1} of {n} has length {length}, below its 8-byte header",
            )
        if length > totlen - pos:
            raise BusProtocolError(
                _R.TRUNCATED_EXTENSION,
                f"{kind} extension {i + 1} of {n} at {pos} has length {length}, past the end "
                f"of a {totlen}-byte frame",
            )
        body = frame[pos + EXT_HEADER_SIZE : pos + length]
        pos += length
        out.append(_decode_extension(etype, body, kind))
    if pos != totlen:
        raise _mismatch(kind, totlen, pos)
    return tuple(out)


def _decode_extension(etype: int, body: bytes, kind: str) -> Extension:
    if etype == ExtensionType.HOSTNAME:
        return HostnameExt(_utf8_cstr(body))
    if etype == ExtensionType.HUMAN_NODENAME:
        return HumanNodenameExt(_utf8_cstr(body))
    if etype == ExtensionType.FORGOTTEN_NODE:
        if len(body) < FORGOTTEN_NODE_BODY.size:
            raise BusProtocolError(
                _R.SHORT_EXTENSION,
                f"{kind} forgotten-node extension body is {len(body)} bytes, needs "
                f"{FORGOTTEN_NODE_BODY.size}",
            )
        name, ttl = FORGOTTEN_NODE_BODY.unpack_from(body)
        return ForgottenNodeExt(name.decode("latin-1"), ttl)
    if etype == ExtensionType.SHARDID:
        if len(body) < SHARD_ID_BODY_SIZE:
            raise BusProtocolError(
                _R.SHORT_EXTENSION,
                f"{kind} shard-id extension body is {len(body)} bytes, needs {SHARD_ID_BODY_SIZE}",
            )
        return ShardIdExt(body[:SHARD_ID_BODY_SIZE].decode("latin-1"))
    return UnknownExt(etype, body)


def _decode_ping(
    cls: type[Ping | Pong | Meet], frame: bytes, header: Header, count: int, n_ext: int
) -> Message:
    kind = cls.TYPE.name
    totlen = len(frame)
    end = HEADER_SIZE + GOSSIP_SIZE * count
    if end > totlen:
        raise BusProtocolError(
            _R.TRUNCATED_GOSSIP,
            f"{kind} frame of {totlen} bytes cannot hold {count} gossip entries ({end} bytes)",
        )
    gossip = tuple(
        GossipEntry(
            nodename.decode("latin-1"),
            ping_sent,
            pong_received,
            _cstr(ip),
            port,
            cport,
            NodeFlag(flags),
            pport,
        )
        for nodename, ping_sent, pong_received, ip, port, cport, flags, pport, _unused in (
            GOSSIP.iter_unpack(frame[HEADER_SIZE:end])
        )
    )
    if n_ext and not header.mflags & MessageFlag.EXT_DATA:
        raise BusProtocolError(
            _R.EXTENSIONS_WITHOUT_FLAG,
            f"{kind} frame announces {n_ext} extensions without the EXT_DATA flag",
        )
    if header.mflags & MessageFlag.EXT_DATA:
        extensions = _decode_extensions(frame, end, n_ext, kind)
        if extensions:  # then the flag is implied, and the encoder sets it
            header = replace(header, mflags=header.mflags & ~MessageFlag.EXT_DATA)
    elif end != totlen:
        raise _mismatch(kind, totlen, end)
    else:
        extensions = ()
    return cls(header, gossip, extensions)


def _fixed(kind: str, frame: bytes, size: int) -> None:
    if len(frame) != size:
        raise _mismatch(kind, len(frame), size)


def _decode_publish(
    cls: type[Publish | PublishShard], frame: bytes, header: Header
) -> Publish | PublishShard:
    kind = cls.TYPE.name
    totlen = len(frame)
    if totlen < HEADER_SIZE + PUBLISH_FIXED_SIZE:
        raise _mismatch(kind, totlen, HEADER_SIZE + PUBLISH_FIXED_SIZE)
    channel_len, message_len = PUBLISH_FIXED.unpack_from(frame, HEADER_SIZE)
    start = HEADER_SIZE + PUBLISH_FIXED_SIZE
    _fixed(kind, frame, start + channel_len + message_len)
    split = start + channel_len
    return cls(header, frame[start:split], frame[split:])


def _decode_update(frame: bytes, header: Header) -> Update:
    _fixed("UPDATE", frame, UPDATE_SIZE)
    config_epoch, nodename, slots = UPDATE_FIXED.unpack_from(frame, HEADER_SIZE)
    bitmap = SlotBitmap(int.from_bytes(slots, "little"))
    return Update(header, config_epoch, nodename.decode("latin-1"), bitmap)


def _decode_module(frame: bytes, header: Header) -> Module:
    totlen = len(frame)
    if totlen < HEADER_SIZE + MODULE_FIXED_SIZE:
        raise _mismatch("MODULE", totlen, HEADER_SIZE + MODULE_FIXED_SIZE)
    module_id, length, module_type = MODULE_FIXED.unpack_from(frame, HEADER_SIZE)
    start = HEADER_SIZE + MODULE_FIXED_SIZE
    _fixed("MODULE", frame, start + length)
    return Module(header, int.from_bytes(module_id, "little"), module_type, frame[start:])


_HEADER_ONLY: Final[dict[int, Callable[[Header], Message]]] = {
    MessageType.FAILOVER_AUTH_REQUEST: FailoverAuthRequest,
    MessageType.FAILOVER_AUTH_ACK: FailoverAuthAck,
    MessageType.MFSTART: MfStart,
}
_PINGS: Final[dict[int, type[Ping | Pong | Meet]]] = {
    MessageType.PING: Ping,
    MessageType.PONG: Pong,
    MessageType.MEET: Meet,
}


def decode_frame(frame: bytes) -> Message:
    """Decode one whole frame (exactly ``totlen`` bytes) or raise ``BusProtocolError``."""
    if len(frame) < HEADER_SIZE:
        if len(frame) >= PREFIX.size:
            sig, totlen = PREFIX.unpack_from(frame)
            check_prefix(sig, totlen, _NO_LIMIT)
        raise BusProtocolError(
            _R.LENGTH_MISMATCH, f"frame is {len(frame)} bytes, below the {HEADER_SIZE}-byte header"
        )
    header, _totlen, mtype, count, n_ext = _decode_header(frame)
    ping_cls = _PINGS.get(mtype)
    if ping_cls is not None:
        return _decode_ping(ping_cls, frame, header, count, n_ext)
    header_only = _HEADER_ONLY.get(mtype)
    if header_only is not None:
        _fixed(MessageType(mtype).name, frame, HEADER_SIZE)
        return header_only(header)
    if mtype == MessageType.FAIL:
        _fixed("FAIL", frame, FAIL_SIZE)
        return Fail(header, frame[HEADER_SIZE:FAIL_SIZE].decode("latin-1"))
    if mtype == MessageType.PUBLISH:
        return _decode_publish(Publish, frame, header)
    if mtype == MessageType.PUBLISHSHARD:
        return _decode_publish(PublishShard, frame, header)
    if mtype == MessageType.UPDATE:
        return _decode_update(frame, header)
    if mtype == MessageType.MODULE:
        return _decode_module(frame, header)
    return UnknownMessage(header, mtype, frame[HEADER_SIZE:])
