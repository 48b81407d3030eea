"""The cluster-bus codec: layout against cluster.h, round trips, chunked feeding, encoder errors."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gossip_cluster.errors import GossipClusterError
from gossip_cluster.wire import (
    FAIL_SIZE,
    GOSSIP_SIZE,
    HEADER_OFFSETS,
    HEADER_SIZE,
    NEED_DATA,
    UPDATE_SIZE,
    BusEncodeError,
    BusParser,
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
    MessageFlag,
    MessageType,
    MfStart,
    Module,
    NodeFlag,
    Ping,
    Pong,
    Publish,
    PublishShard,
    ShardIdExt,
    SlotBitmap,
    UnknownExt,
    UnknownMessage,
    Update,
    decode_frame,
    encode,
    encode_extension,
    encode_gossip_entry,
)
from labkit.errors import LabError

# -- strategies (also used by test_cluster_wire_badinput) ---------------------------------

hex_names = st.text(alphabet="0123456789abcdef", min_size=40, max_size=40)
any_names = st.binary(min_size=40, max_size=40).map(lambda b: b.decode("latin-1"))
names = st.one_of(hex_names, any_names)
slaveofs = st.one_of(st.none(), names.filter(lambda n: n != "\x00" * 40))
ips = st.one_of(
    st.sampled_from(["", "127.0.0.1", "10.0.0.255", "::1", "fe80::1ff:fe23:4567:890a%eth0"]),
    st.binary(max_size=46).filter(lambda b: 0 not in b).map(lambda b: b.decode("latin-1")),
)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, (1 << 64) - 1)
slot_bitmaps = st.one_of(
    st.just(SlotBitmap()),
    st.just(SlotBitmap.full()),
    st.sets(st.integers(0, 16383), max_size=40).map(SlotBitmap.of),
    st.integers(0, (1 << 16384) - 1).map(SlotBitmap),
)
text_no_nul = st.text(max_size=60).filter(lambda s: "\x00" not in s)


@st.composite
def headers(draw: st.DrawFn, ext_data: bool = False) -> Header:
    mflags = MessageFlag(draw(st.integers(0, 255)))
    if ext_data:  # implied by the extensions; the decoder leaves it out then
        mflags &= ~MessageFlag.EXT_DATA
    return Header(
        sender=draw(names),
        port=draw(u16),
        current_epoch=draw(u64),
        config_epoch=draw(u64),
        offset=draw(u64),
        myslots=draw(slot_bitmaps),
        slaveof=draw(slaveofs),
        myip=draw(ips),
        pport=draw(u16),
        cport=draw(u16),
        flags=NodeFlag(draw(u16)),
        state=draw(st.integers(0, 255)),
        mflags=mflags,
    )


gossip_entries = st.builds(
    GossipEntry,
    nodename=names,
    ping_sent=u32,
    pong_received=u32,
    ip=ips,
    port=u16,
    cport=u16,
    flags=u16.map(NodeFlag),
    pport=u16,
)
extensions: st.SearchStrategy[Extension] = st.one_of(
    st.builds(HostnameExt, text_no_nul),
    st.builds(HumanNodenameExt, text_no_nul),
    st.builds(ForgottenNodeExt, names, u64),
    st.builds(ShardIdExt, names),
    st.builds(
        UnknownExt,
        st.integers(4, 0xFFFF),
        st.integers(0, 6).flatmap(lambda n: st.binary(min_size=8 * n, max_size=8 * n)),
    ),
)


@st.composite
def pings(draw: st.DrawFn) -> Ping | Pong | Meet:
    kinds: list[type[Ping | Pong | Meet]] = [Ping, Pong, Meet]
    cls = draw(st.sampled_from(kinds))
    exts = tuple(draw(st.lists(extensions, max_size=4)))
    header = draw(headers(ext_data=bool(exts)))
    return cls(header, tuple(draw(st.lists(gossip_entries, max_size=12))), exts)


messages: st.SearchStrategy[Message] = st.one_of(
    pings(),
    st.builds(Fail, headers(), names),
    st.builds(Publish, headers(), st.binary(max_size=40), st.binary(max_size=200)),
    st.builds(PublishShard, headers(), st.binary(max_size=40), st.binary(max_size=200)),
    st.builds(FailoverAuthRequest, headers()),
    st.builds(FailoverAuthAck, headers()),
    st.builds(MfStart, headers()),
    st.builds(Update, headers(), u64, names, slot_bitmaps),
    st.builds(Module, headers(), u64, st.integers(0, 255), st.binary(max_size=200)),
    st.builds(UnknownMessage, headers(), st.integers(11, 0xFFFF), st.binary(max_size=100)),
)

NAME_A = "a" * 40
NAME_B = "0123456789abcdef0123456789abcdef01234567"
HEADER = Header(
    sender=NAME_A,
    port=7000,
    current_epoch=5,
    config_epoch=3,
    offset=1234,
    myslots=SlotBitmap.from_ranges([(0, 5460)]),
    myip="127.0.0.1",
    cport=17000,
    flags=NodeFlag.MASTER | NodeFlag.MYSELF,
)
SAMPLES: list[Message] = [
    Ping(HEADER),
    Ping(
        HEADER,
        (GossipEntry(NAME_B, 1, 2, "127.0.0.2", 7001, 17001, NodeFlag.SLAVE),),
        (HostnameExt("host-a"),),
    ),
    Pong(HEADER, (GossipEntry(NAME_B, 0, 99, "::1", 1, 2, NodeFlag.PFAIL, 3),)),
    Meet(HEADER, (), (ShardIdExt(NAME_B), ForgottenNodeExt(NAME_B, 60), HumanNodenameExt("x"))),
    Fail(HEADER, NAME_B),
    Publish(HEADER, b"chan", b"hello"),
    PublishShard(HEADER, b"", b""),
    FailoverAuthRequest(HEADER),
    FailoverAuthAck(HEADER),
    MfStart(HEADER),
    Update(HEADER, 7, NAME_B, SlotBitmap.of([1, 2, 16383])),
    Module(HEADER, 0x0102030405060708, 3, b"payload"),
    UnknownMessage(HEADER, 42, b"opaque"),
]

# -- layout ------------------------------------------------------------------------------


def test_sizes_match_cluster_h() -> None:
    assert HEADER_SIZE == 2256  # CLUSTERMSG_MIN_LEN == offsetof(clusterMsg, data)
    assert GOSSIP_SIZE == 104  # sizeof(clusterMsgDataGossip)
    assert FAIL_SIZE == 2296
    assert UPDATE_SIZE == 4352  # also sizeof(clusterMsg): UPDATE is the largest union member
    assert len(encode(Publish(HEADER, b"", b""))) == 2264  # + sizeof(publish) - 8
    assert len(encode(Module(HEADER, 0, 0, b""))) == 2269  # + sizeof(module) - 3


def test_offsets_follow_the_struct_format() -> None:
    """The offsets table (cluster.h's static asserts) agrees with the packing format."""
    fields = ["4s", "I", "H", "H", "H", "H", "Q", "Q", "Q", "40s", "2048s", "40s", "46s", "H"]
    fields += ["30s", "H", "H", "H", "B", "3s"]
    names = list(HEADER_OFFSETS)[:-1]
    for i, name in enumerate(names):
        assert struct.calcsize("!" + "".join(fields[:i])) == HEADER_OFFSETS[name], name
    assert struct.calcsize("!" + "".join(fields)) == HEADER_OFFSETS["data"] == HEADER_SIZE


def test_header_fields_land_at_their_offsets() -> None:
    header = Header(
        sender=NAME_B,
        port=0x1234,
        current_epoch=0x0102030405060708,
        config_epoch=0x1112131415161718,
        offset=0x2122232425262728,
        myslots=SlotBitmap.of([0, 9, 16383]),
        slaveof="s" * 40,
        myip="10.1.2.3",
        pport=0x4142,
        cport=0x5152,
        flags=NodeFlag.SLAVE | NodeFlag.NOFAILOVER,
        state=1,
        mflags=MessageFlag.PAUSED | MessageFlag.FORCEACK,
    )
    raw = encode(FailoverAuthRequest(header))
    off = HEADER_OFFSETS

    def u(fmt: str, name: str) -> int:
        value: int = struct.unpack_from("!" + fmt, raw, off[name])[0]
        return value

    assert raw[:4] == b"RCmb"
    assert u("I", "totlen") == 2256 and u("H", "ver") == 1 and u("H", "port") == 0x1234
    assert int(MessageType.FAILOVER_AUTH_REQUEST) == 5
    assert u("H", "type") == MessageType.FAILOVER_AUTH_REQUEST and u("H", "count") == 0
    assert u("Q", "currentEpoch") == 0x0102030405060708
    assert raw[16:24] == bytes.fromhex("0102030405060708")  # big-endian (htonu64)
    assert u("Q", "configEpoch") == 0x1112131415161718
    assert u("Q", "offset") == 0x2122232425262728
    assert raw[40:80] == NAME_B.encode()
    # Slot s is bit s&7 of byte s>>3 of myslots.
    assert raw[80] == 0b1 and raw[81] == 0b10 and raw[2127] == 0x80
    assert raw[82:2127] == bytes(2045)
    assert raw[2128:2168] == b"s" * 40
    assert raw[2168:2214] == b"10.1.2.3" + bytes(38)
    assert u("H", "extensions") == 0 and raw[2216:2246] == bytes(30)
    assert u("H", "pport") == 0x4142 and u("H", "cport") == 0x5152
    assert u("H", "flags") == 2 | 512 and raw[2252] == 1 and raw[2253:2256] == b"\x03\x00\x00"


def test_gossip_entry_layout() -> None:
    entry = GossipEntry(
        NAME_B, 0x01020304, 0x05060708, "127.0.0.1", 0x1112, 0x2122, NodeFlag(0x3132), 0x4142
    )
    raw = encode_gossip_entry(entry)
    assert len(raw) == 104
    assert raw[:40] == NAME_B.encode()
    assert raw[40:48] == bytes.fromhex("0102030405060708")
    assert raw[48:94] == b"127.0.0.1" + bytes(37)
    assert raw[94:104] == bytes.fromhex("11122122313241420000")


def test_extension_layout() -> None:
    # 7.0: sizeof(clusterMsgPingExt) + EIGHT_BYTE_ALIGN(strlen + 1); the NUL always fits.
    assert (
        encode_extension(HostnameExt("abcdefg"))
        == bytes.fromhex("0000001000000000") + b"abcdefg\x00"
    )
    assert encode_extension(HostnameExt("abcdefgh")) == (
        bytes.fromhex("0000001800000000") + b"abcdefgh" + bytes(8)
    )
    assert encode_extension(HostnameExt("")) == bytes.fromhex("0000001000000000") + bytes(8)
    forgotten = encode_extension(ForgottenNodeExt(NAME_B, 0x0102))
    assert forgotten[:8] == bytes.fromhex("0000003800020000") and forgotten[-8:] == bytes.fromhex(
        "0000000000000102"
    )
    assert encode_extension(ShardIdExt(NAME_B))[:8] == bytes.fromhex("0000003000030000")


def test_ping_with_extensions_gets_the_ext_data_flag() -> None:
    raw = encode(Ping(HEADER, (), (HostnameExt("h"),)))
    assert raw[2253] == MessageFlag.EXT_DATA and raw[2214:2216] == b"\x00\x01"
    assert decode_frame(raw) == Ping(HEADER, (), (HostnameExt("h"),))
    # Set explicitly, the flag gives the same bytes.
    flagged = Header(sender=NAME_A, mflags=MessageFlag.EXT_DATA | MessageFlag.PAUSED)
    raw = encode(Ping(flagged, (), (HostnameExt("h"),)))
    assert raw[2253] == MessageFlag.EXT_DATA | MessageFlag.PAUSED
    assert decode_frame(raw).header.mflags == MessageFlag.PAUSED
    # Without extensions the flag is kept as sent (legal, and Redis accepts it).
    assert decode_frame(encode(Ping(flagged))) == Ping(flagged)


def test_module_id_is_host_order() -> None:
    raw = encode(Module(HEADER, 0x0102030405060708, 9, b"xy"))
    assert raw[2256:2264] == bytes.fromhex("0807060504030201")  # copied as is on little-endian
    assert raw[2264:2269] == bytes.fromhex("0000000209") and raw[2269:] == b"xy"


# -- round trips ---------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(messages)
def test_round_trip(message: Message) -> None:
    raw = encode(message)
    assert decode_frame(raw) == message
    assert encode(decode_frame(raw)) == raw


@settings(max_examples=60, deadline=None)
@given(st.lists(messages, min_size=1, max_size=4), st.data())
def test_stream_split_anywhere(batch: list[Message], data: st.DataObject) -> None:
    stream = b"".join(encode(m) for m in batch)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(stream)), max_size=8)))
    parser = BusParser()
    out: list[Message] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        parser.feed(stream[start:end])
        out.extend(parser)
    assert out == batch and parser.buffered == 0


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_sample_whole_bytewise_and_with_trailing_data(message: Message) -> None:
    raw = encode(message)
    # Whole.
    parser = BusParser()
    parser.feed(raw)
    assert parser.next_message() == message and parser.next_message() is NEED_DATA
    # Byte by byte.
    parser = BusParser()
    for i in range(len(raw) - 1):
        parser.feed(raw[i : i + 1])
        assert parser.next_message() is NEED_DATA
    parser.feed(raw[-1:])
    assert parser.next_message() == message and parser.buffered == 0
    # Followed by another frame and a partial one.
    parser = BusParser()
    parser.feed(raw + encode(SAMPLES[0]) + raw[:7])
    assert parser.next_message() == message
    assert parser.next_message() == SAMPLES[0]
    assert parser.next_message() is NEED_DATA and parser.buffered == 7
    parser.feed(raw[7:])
    assert list(parser) == [message]


def test_next_frame_gives_raw_bytes() -> None:
    raws = [encode(m) for m in SAMPLES]
    parser = BusParser()
    parser.feed(b"".join(raws))
    assert [parser.next_frame() for _ in raws] == raws
    assert parser.next_frame() is NEED_DATA


def test_decoded_values_are_typed() -> None:
    message = decode_frame(encode(SAMPLES[2]))
    assert isinstance(message, Pong)
    assert type(message.header.flags) is NodeFlag and type(message.gossip[0].flags) is NodeFlag
    assert type(message.header.mflags) is MessageFlag
    assert message.header.slaveof is None


def test_unknown_flag_bits_survive() -> None:
    header = Header(sender=NAME_A, flags=NodeFlag(0x8001), mflags=MessageFlag(0x80))
    message = decode_frame(encode(MfStart(header)))
    assert int(message.header.flags) == 0x8001 and int(message.header.mflags) == 0x80


def test_reserved_bytes_and_string_tails_are_normalised() -> None:
    raw = bytearray(encode(Ping(HEADER, (GossipEntry(NAME_B, ip="1.2.3.4"),))))
    raw[2216] = 0xFF  # notused1
    raw[2254] = 0xFF  # mflags[1]
    raw[2168 + 20] = ord("x")  # after myip's NUL
    raw[2256 + 102] = 0xFF  # gossip notused1
    message = decode_frame(bytes(raw))
    assert message == decode_frame(encode(message)) and encode(message) != bytes(raw)
    assert message.header.myip == "127.0.0.1"


# -- encoder errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        Ping(Header(sender="short")),
        Ping(Header(sender="é" * 39 + "€")),
        Ping(Header(sender=NAME_A, slaveof="x")),
        Ping(Header(sender=NAME_A, port=65536)),
        Ping(Header(sender=NAME_A, current_epoch=-1)),
        Ping(Header(sender=NAME_A, current_epoch=1 << 64)),
        Ping(Header(sender=NAME_A, myip="1" * 47)),
        Ping(Header(sender=NAME_A, myip="1.2\x003")),
        Ping(Header(sender=NAME_A, state=256)),
        Ping(Header(sender=NAME_A), (GossipEntry("n"),)),
        Ping(Header(sender=NAME_A), (GossipEntry(NAME_B, ping_sent=1 << 32),)),
        Ping(Header(sender=NAME_A), (), (HostnameExt("a\x00b"),)),
        Ping(Header(sender=NAME_A), (), (UnknownExt(9, b"123"),)),
        Ping(Header(sender=NAME_A), (), (ForgottenNodeExt(NAME_B, -1),)),
        Ping(Header(sender=NAME_A), (GossipEntry(NAME_B),) * 65536),
        Fail(Header(sender=NAME_A), "x"),
        Update(Header(sender=NAME_A), 1 << 64, NAME_B, SlotBitmap()),
        Module(Header(sender=NAME_A), 1 << 64, 0, b""),
        Module(Header(sender=NAME_A), 0, 256, b""),
        UnknownMessage(Header(sender=NAME_A), 3, b""),
        UnknownMessage(Header(sender=NAME_A), 1 << 16, b""),
    ],
)
def test_encode_refuses_bad_values(message: Message) -> None:
    with pytest.raises(BusEncodeError) as info:
        encode(message)
    assert isinstance(info.value, ValueError | GossipClusterError | LabError)


def test_encode_refuses_non_messages() -> None:
    with pytest.raises(BusEncodeError):
        encode("PING")  # type: ignore[arg-type]
    with pytest.raises(BusEncodeError):
        encode_extension("hostname")  # type: ignore[arg-type]
