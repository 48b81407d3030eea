"""Bad input to the cluster-bus decoder: a table of malformed frames, then fuzzing.

Every failure must be a ``BusProtocolError`` with the expected reason; after a non-fatal
one the parser goes on with the next frame, after a fatal one it stays poisoned.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gossip_cluster.errors import BusProtocolError, ProtocolErrorReason
from gossip_cluster.wire import (
    HEADER_SIZE,
    NEED_DATA,
    BusParser,
    Fail,
    FailoverAuthRequest,
    ForgottenNodeExt,
    Header,
    HostnameExt,
    Message,
    MessageFlag,
    MfStart,
    Module,
    Ping,
    Publish,
    ShardIdExt,
    Update,
    decode_frame,
    encode,
)
from tests.unit.test_cluster_wire_codec import NAME_B, SAMPLES, messages

R = ProtocolErrorReason
HEADER = Header(sender="c" * 40, port=7000, cport=17000)
PING = encode(Ping(HEADER))
VALID = encode(Fail(HEADER, NAME_B))


def patch(raw: bytes, offset: int, fmt: str, value: int) -> bytes:
    """``raw`` with one big-endian field overwritten."""
    out = bytearray(raw)
    struct.pack_into("!" + fmt, out, offset, value)
    return bytes(out)


def with_body(mtype: int, body: bytes, *, count: int = 0, n_ext: int = 0, mflags: int = 0) -> bytes:
    """A frame of ``mtype`` with a hand-written body and a consistent ``totlen``."""
    raw = patch(PING, 12, "H", mtype) + body
    raw = patch(raw, 4, "I", len(raw))
    raw = patch(raw, 14, "H", count)
    raw = patch(raw, 2214, "H", n_ext)
    return patch(raw, 2253, "B", mflags)


EXT = MessageFlag.EXT_DATA


def ext(length: int, etype: int, body: bytes = b"") -> bytes:
    return struct.pack("!IHH", length, etype, 0) + body


FATAL: list[tuple[str, bytes, ProtocolErrorReason]] = [
    ("bad signature", b"RCma" + PING[4:], R.BAD_SIGNATURE),
    ("lowercase signature", b"rcmb" + PING[4:], R.BAD_SIGNATURE),
    ("http", b"GET / HTTP/1.1\r\n\r\n", R.BAD_SIGNATURE),
    ("totlen zero", patch(PING, 4, "I", 0), R.FRAME_TOO_SHORT),
    ("totlen 8", patch(PING, 4, "I", 8), R.FRAME_TOO_SHORT),
    ("totlen one under header", patch(PING, 4, "I", HEADER_SIZE - 1), R.FRAME_TOO_SHORT),
    ("totlen 4 GiB", patch(PING, 4, "I", 0xFFFFFFFF), R.FRAME_TOO_LONG),
]

DROPPED: list[tuple[str, bytes, ProtocolErrorReason]] = [
    ("version 0", patch(PING, 8, "H", 0), R.BAD_VERSION),
    ("version 2", patch(PING, 8, "H", 2), R.BAD_VERSION),
    ("ping count 1, no entry", patch(PING, 14, "H", 1), R.TRUNCATED_GOSSIP),
    ("ping count 65535", patch(PING, 14, "H", 65535), R.TRUNCATED_GOSSIP),
    ("ping trailing bytes", with_body(0, bytes(104)), R.LENGTH_MISMATCH),
    ("pong half an entry", with_body(1, bytes(52), count=1), R.TRUNCATED_GOSSIP),
    ("meet entry and a half", with_body(2, bytes(156), count=1), R.LENGTH_MISMATCH),
    (
        "extensions without flag",
        with_body(0, ext(16, 0, b"host\0\0\0\0"), n_ext=1),
        R.EXTENSIONS_WITHOUT_FLAG,
    ),
    ("ext count without data", with_body(0, b"", n_ext=1, mflags=EXT), R.TRUNCATED_EXTENSION),
    ("ext header cut", with_body(0, b"\0\0\0\x10", n_ext=1, mflags=EXT), R.TRUNCATED_EXTENSION),
    (
        "ext length unpadded",
        with_body(0, ext(12, 0, b"abc\0"), n_ext=1, mflags=EXT),
        R.BAD_EXTENSION_PADDING,
    ),
    ("ext length zero", with_body(0, ext(0, 0), n_ext=1, mflags=EXT), R.SHORT_EXTENSION),
    (
        "ext past the end",
        with_body(0, ext(24, 0, b"abc\0\0\0\0\0"), n_ext=1, mflags=EXT),
        R.TRUNCATED_EXTENSION,
    ),
    (
        "ext length 4 GiB-8",
        with_body(0, ext(0xFFFFFFF8, 0), n_ext=1, mflags=EXT),
        R.TRUNCATED_EXTENSION,
    ),
    (
        "second ext missing",
        with_body(0, ext(16, 0, b"abc\0\0\0\0\0"), n_ext=2, mflags=EXT),
        R.TRUNCATED_EXTENSION,
    ),
    ("data after exts", with_body(0, ext(8, 9) + bytes(8), n_ext=1, mflags=EXT), R.LENGTH_MISMATCH),
    ("flag, no exts, data", with_body(0, bytes(8), mflags=EXT), R.LENGTH_MISMATCH),
    (
        "forgotten node short",
        with_body(0, ext(16, 2, bytes(8)), n_ext=1, mflags=EXT),
        R.SHORT_EXTENSION,
    ),
    ("shard id short", with_body(0, ext(40, 3, bytes(32)), n_ext=1, mflags=EXT), R.SHORT_EXTENSION),
    ("fail without name", with_body(3, b""), R.LENGTH_MISMATCH),
    ("fail long name", with_body(3, bytes(41)), R.LENGTH_MISMATCH),
    ("publish without lengths", with_body(4, bytes(4)), R.LENGTH_MISMATCH),
    ("publish lengths too big", with_body(4, struct.pack("!II", 5, 5) + b"abc"), R.LENGTH_MISMATCH),
    (
        "publish lengths too small",
        with_body(4, struct.pack("!II", 1, 1) + b"abc"),
        R.LENGTH_MISMATCH,
    ),
    # Redis adds the two lengths in 32 bits: these wrap to 3 there and would pass.
    (
        "publish lengths wrap",
        with_body(4, struct.pack("!II", 0xFFFFFFFF, 4) + b"abc"),
        R.LENGTH_MISMATCH,
    ),
    ("shard publish short", with_body(10, struct.pack("!II", 2, 2) + b"abc"), R.LENGTH_MISMATCH),
    ("auth request with body", with_body(5, bytes(8)), R.LENGTH_MISMATCH),
    ("auth ack with body", with_body(6, bytes(1)), R.LENGTH_MISMATCH),
    ("mfstart with body", with_body(8, bytes(104), count=1), R.LENGTH_MISMATCH),
    ("update short", with_body(7, bytes(2095)), R.LENGTH_MISMATCH),
    ("update long", with_body(7, bytes(2097)), R.LENGTH_MISMATCH),
    ("module without fields", with_body(9, bytes(12)), R.LENGTH_MISMATCH),
    (
        "module len too big",
        with_body(9, bytes(8) + struct.pack("!IB", 9, 0) + b"abc"),
        R.LENGTH_MISMATCH,
    ),
]


@pytest.mark.parametrize(
    ("raw", "reason"), [(r, why) for _, r, why in FATAL], ids=[n for n, _, _ in FATAL]
)
def test_fatal_frames_poison_the_parser(raw: bytes, reason: ProtocolErrorReason) -> None:
    parser = BusParser()
    parser.feed(raw + VALID)
    with pytest.raises(BusProtocolError) as info:
        parser.next_message()
    assert info.value.reason is reason and info.value.fatal
    assert str(info.value).startswith(reason.value + ": ")
    parser.feed(VALID)
    with pytest.raises(BusProtocolError) as again:
        parser.next_frame()
    assert again.value is info.value and parser.error is info.value


@pytest.mark.parametrize("raw", [r for _, r, _ in FATAL], ids=[n for n, _, _ in FATAL])
def test_fatal_prefix_is_seen_after_eight_bytes(raw: bytes) -> None:
    parser = BusParser()
    parser.feed(raw[:7])
    assert parser.next_message() is NEED_DATA
    parser.feed(raw[7:8])
    with pytest.raises(BusProtocolError):
        parser.next_message()


@pytest.mark.parametrize(
    ("raw", "reason"), [(r, why) for _, r, why in DROPPED], ids=[n for n, _, _ in DROPPED]
)
def test_dropped_frames_raise_and_parsing_goes_on(raw: bytes, reason: ProtocolErrorReason) -> None:
    assert struct.unpack_from("!I", raw, 4)[0] == len(raw)
    with pytest.raises(BusProtocolError) as direct:
        decode_frame(raw)
    assert direct.value.reason is reason and not direct.value.fatal
    parser = BusParser()
    parser.feed(raw + VALID)
    with pytest.raises(BusProtocolError) as info:
        parser.next_message()
    assert info.value.reason is reason
    assert parser.next_message() == Fail(HEADER, NAME_B)
    assert parser.next_message() is NEED_DATA


def test_frame_limit() -> None:
    parser = BusParser(max_frame_len=3000)
    parser.feed(encode(Publish(HEADER, b"c", bytes(800))))
    with pytest.raises(BusProtocolError) as info:
        parser.next_message()
    assert info.value.reason is R.FRAME_TOO_LONG and info.value.fatal
    with pytest.raises(ValueError):
        BusParser(max_frame_len=100)


def test_decode_frame_length_checks() -> None:
    for raw in [b"", b"RCmb", PING[:100], PING[:-1], PING + b"x"]:
        with pytest.raises(BusProtocolError):
            decode_frame(raw)
    with pytest.raises(BusProtocolError) as info:
        decode_frame(b"XXXX" + PING[4:100])
    assert info.value.reason is R.BAD_SIGNATURE


def test_unknown_extensions_are_skipped_by_length() -> None:
    body = ext(24, 77, bytes(16)) + ext(16, 0, b"host\0\0\0\0")
    message = decode_frame(with_body(0, body, n_ext=2, mflags=EXT))
    assert isinstance(message, Ping)
    assert [type(e).__name__ for e in message.extensions] == ["UnknownExt", "HostnameExt"]
    assert message.extensions[1] == HostnameExt("host")


def test_lenient_where_redis_is() -> None:
    # A hostname without its NUL, longer fixed-size bodies, reserved bits: accepted.
    body = (
        ext(16, 0, b"12345678")
        + ext(64, 2, NAME_B.encode() + bytes(16))
        + ext(56, 3, NAME_B.encode() + bytes(8))
    )
    message = decode_frame(with_body(1, body, n_ext=3, mflags=EXT))
    assert isinstance(message, Message)
    assert message.extensions == (  # type: ignore[union-attr]
        HostnameExt("12345678"),
        ForgottenNodeExt(NAME_B, 0),
        ShardIdExt(NAME_B),
    )
    # Extension counts and gossip counts on other types are ignored, as Redis does.
    odd = patch(patch(encode(MfStart(HEADER)), 14, "H", 3), 2214, "H", 2)
    assert decode_frame(odd) == MfStart(HEADER)


# -- fuzzing ---------------------------------------------------------------------------------


def _drain(parser: BusParser) -> list[Message]:
    """Parse until NEED_DATA or a fatal error; only BusProtocolError may escape the parser."""
    out: list[Message] = []
    while True:
        try:
            message = parser.next_message()
        except BusProtocolError as exc:
            if exc.fatal:
                return out
            continue
        if message is NEED_DATA:
            return out
        out.append(message)


def _check_decodes_or_refuses(raw: bytes) -> None:
    try:
        message = decode_frame(raw)
    except BusProtocolError:
        return
    again = encode(message)  # whatever decodes can be written back
    assert decode_frame(again) == message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_fuzz_random_bytes(data: bytes) -> None:
    parser = BusParser()
    parser.feed(data)
    _drain(parser)
    _check_decodes_or_refuses(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2600), st.integers(0, 10), st.integers(0, 3))
def test_fuzz_random_bytes_behind_a_valid_prefix(tail: bytes, mtype: int, n_ext: int) -> None:
    raw = bytearray(b"RCmb" + struct.pack("!IHHHH", 0, 1, 7000, mtype, 0) + tail)
    raw += bytes(max(0, HEADER_SIZE - len(raw)))
    struct.pack_into("!I", raw, 4, len(raw))
    struct.pack_into("!H", raw, 2214, n_ext)
    parser = BusParser()
    parser.feed(bytes(raw))
    _drain(parser)
    _check_decodes_or_refuses(bytes(raw))


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    raw = bytearray(encode(draw(messages)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "byte", "field", "cut", "grow"]))
        if kind == "flip":
            at = draw(st.integers(0, len(raw) - 1))
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        elif kind == "field":
            offset, fmt = draw(
                st.sampled_from(
                    [
                        (4, "I"),
                        (8, "H"),
                        (12, "H"),
                        (14, "H"),
                        (2214, "H"),
                        (2253, "B"),
                        (2256, "I"),
                        (2260, "I"),
                        (2264, "I"),
                    ]
                )
            )
            if offset + struct.calcsize(fmt) <= len(raw):
                struct.pack_into(
                    "!" + fmt, raw, offset, draw(st.integers(0, 256 ** struct.calcsize(fmt) - 1))
                )
        elif kind == "cut":
            del raw[draw(st.integers(8, len(raw))) :]
        else:
            raw += draw(st.binary(min_size=1, max_size=64))
    if draw(st.booleans()) and len(raw) >= 8:
        struct.pack_into("!I", raw, 4, len(raw))  # keep the frame self-consistent
    return bytes(raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_frames())
def test_fuzz_mutated_valid_frames(raw: bytes) -> None:
    _check_decodes_or_refuses(raw)
    for chunk in (len(raw), 1000, 7):
        parser = BusParser()
        for i in range(0, len(raw), chunk):
            parser.feed(raw[i : i + chunk])
            _drain(parser)


def test_samples_survive_every_single_byte_corruption() -> None:
    """Each header byte of a few frames set to 0xFF and to 0x00 in turn."""
    for message in [
        SAMPLES[1],
        SAMPLES[3],
        encode(Update(HEADER, 1, NAME_B, HEADER.myslots)),
        encode(Module(HEADER, 1, 2, b"xyz")),
        encode(FailoverAuthRequest(HEADER)),
    ]:
        raw = message if isinstance(message, bytes) else encode(message)
        for at in range(0, min(len(raw), 2400), 3):
            for value in (0x00, 0xFF):
                mutated = bytearray(raw)
                mutated[at] = value
                _check_decodes_or_refuses(bytes(mutated))
