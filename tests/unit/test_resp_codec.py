"""The reply parser and the encoder: round trips, chunking, garbage, limits."""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.resp import (
    NEED_DATA,
    Array,
    Attributed,
    BigNumber,
    Boolean,
    BulkError,
    BulkString,
    Double,
    Frame,
    Integer,
    Map,
    Null,
    Push,
    ReplyParser,
    RespEncodeError,
    RespParser,
    RespProtocolError,
    Set,
    SimpleError,
    SimpleString,
    VerbatimString,
    encode,
    encode_command,
    mapping,
    to_frame,
    to_python,
)

line_bytes = st.binary(max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b)
leaves: st.SearchStrategy[Frame] = st.one_of(
    st.builds(SimpleString, line_bytes),
    st.builds(SimpleError, line_bytes),
    st.builds(Integer, st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)),
    st.builds(BulkString, st.binary(max_size=60)),
    st.builds(Null, st.sampled_from(["bulk", "array"])),
    st.builds(Double, st.floats(allow_nan=True, allow_infinity=True)),
    st.builds(Boolean, st.booleans()),
    st.builds(BigNumber, st.integers(min_value=-(10**60), max_value=10**60)),
    st.builds(VerbatimString, st.binary(min_size=3, max_size=3), st.binary(max_size=40)),
    st.builds(BulkError, st.binary(max_size=40)),
)


def _aggregates(children: st.SearchStrategy[Frame]) -> st.SearchStrategy[Frame]:
    items = st.lists(children, max_size=4).map(tuple)
    pairs = st.lists(st.tuples(children, children), max_size=3).map(tuple)
    return st.one_of(
        st.builds(Array, items),
        st.builds(Set, items),
        st.builds(Push, items),
        st.builds(Map, pairs),
        st.builds(Attributed, pairs, children),
    )


frames: st.SearchStrategy[Frame] = st.recursive(leaves, _aggregates, max_leaves=12)


def parse_all(data: bytes, parser: ReplyParser | None = None) -> list[Frame]:
    parser = parser or ReplyParser()
    parser.feed(data)
    return list(parser)


def parse_one(data: bytes) -> Frame:
    out = parse_all(data)
    assert len(out) == 1
    return out[0]


def downgrade(frame: Frame) -> Frame:
    """What a RESP2 client reads back: a naive reference of Redis's downgrade."""
    match frame:
        case Map(pairs):
            return Array(tuple(downgrade(x) for pair in pairs for x in pair))
        case Array(items) | Set(items) | Push(items):
            return Array(tuple(downgrade(x) for x in items))
        case Double(value):
            return BulkString(repr(value).encode())
        case Boolean(value):
            return Integer(int(value))
        case BigNumber(value):
            return BulkString(str(value).encode())
        case VerbatimString(_, value):
            return BulkString(value)
        case BulkError(value):
            return SimpleError(value.replace(b"\r", b" ").replace(b"\n", b" "))
        case Attributed(_, value):
            return downgrade(value)
    return frame


@given(frames)
def test_resp3_round_trip(frame: Frame) -> None:
    assert parse_one(encode(frame, 3)) == frame


@given(frames)
def test_resp2_downgrade_round_trip(frame: Frame) -> None:
    assert parse_one(encode(frame, 2)) == downgrade(frame)


@given(st.lists(frames, min_size=1, max_size=4), st.sampled_from([2, 3]))
def test_whole_byte_by_byte_and_trailing_data(batch: list[Frame], proto: int) -> None:
    data = b"".join(encode(f, proto) for f in batch)
    whole = parse_all(data)
    assert len(whole) == len(batch)

    parser = ReplyParser()
    one_by_one: list[Frame] = []
    for i in range(len(data)):
        parser.feed(data[i : i + 1])
        one_by_one.extend(parser)
    assert one_by_one == whole
    assert parser.buffered == 0

    trailing = encode(batch[0], proto)[:-1]
    parser = ReplyParser()
    assert parse_all(data + trailing, parser) == whole
    assert parser.next_frame() is NEED_DATA
    parser.feed(b"\n")
    assert parser.next_frame() == whole[0]


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_garbage_parses_or_raises_protocol_error(data: bytes) -> None:
    parser = ReplyParser(max_depth=8)
    try:
        parse_all(data, parser)
    except RespProtocolError:
        with pytest.raises(RespProtocolError):
            parser.next_frame()  # poisoned


resp_tokens = st.sampled_from(
    [
        *(bytes([c]) for c in b"*$%~>|=!+-:_,#(?;.t"),
        *(b"\r\n", b"\r", b"\n", b"-1", b"0", b"1", b"2", b"3", b"4", b"x"),
        *(b"inf", b"nan", b"1.5e3", b"txt:", b"99999999999999999999", b"\x00", b"\xff"),
    ]
)


@settings(max_examples=500)
@given(st.lists(resp_tokens, max_size=60).map(b"".join))
def test_resp_shaped_garbage_parses_or_raises(data: bytes) -> None:
    for chunk in (len(data) or 1, 1, 7):
        parser = ReplyParser(max_depth=6)
        try:
            for i in range(0, len(data), chunk):
                parser.feed(data[i : i + chunk])
                list(parser)
        except RespProtocolError:
            pass


@given(frames, st.data())
def test_mutated_frames_parse_or_raise(frame: Frame, data: st.DataObject) -> None:
    wire = bytearray(encode(frame, 3))
    at = data.draw(st.integers(min_value=0, max_value=len(wire) - 1))
    op = data.draw(st.sampled_from(["flip", "delete", "insert"]))
    byte = data.draw(st.integers(min_value=0, max_value=255))
    if op == "flip":
        wire[at] = byte
    elif op == "delete":
        del wire[at]
    else:
        wire.insert(at, byte)
    with contextlib.suppress(RespProtocolError):
        parse_all(bytes(wire))


REPLY_ERRORS = [
    (b"?\r\n", 'Protocol error, got "?" as reply type byte'),
    (b"\r\n", 'Protocol error, got "\\r" as reply type byte'),
    (b"\x01\r\n", 'Protocol error, got "\\x01" as reply type byte'),
    (b":abc\r\n", "Bad integer value"),
    (b":9223372036854775808\r\n", "Bad integer value"),
    (b":+1\r\n", "Bad integer value"),
    (b"_x\r\n", "Bad nil value"),
    (b"#x\r\n", "Bad bool value"),
    (b",1.5.5\r\n", "Bad double value"),
    (b",1_0\r\n", "Bad double value"),
    (b", 1\r\n", "Bad double value"),
    (b"," + b"1" * 400 + b"\r\n", "Double value is too large"),
    (b"(12a\r\n", "Bad bignum value"),
    (b"+a\rb\r\n", "Bad simple string value"),
    (b"$x\r\n", "Bad bulk string length"),
    (b"$-2\r\n", "Bulk string length out of range"),
    (b"$536870913\r\n", "Bulk string length out of range"),
    (
        b"=3\r\ntxt\r\n",
        "Verbatim string 4 bytes of content type are missing or incorrectly encoded.",
    ),
    (
        b"=4\r\ntxt;\r\n",
        "Verbatim string 4 bytes of content type are missing or incorrectly encoded.",
    ),
    (b"*x\r\n", "Bad multi-bulk length"),
    (b"*-2\r\n", "Multi-bulk length out of range"),
    (b"*4294967296\r\n", "Multi-bulk length out of range"),
    (b"$1\r\nab\r\n", "Protocol error: bulk data not followed by CRLF"),
    (b".\r\n", 'Protocol error, got "." as reply type byte'),
    (b"%?\r\n+a\r\n.\r\n", "Protocol error: streamed aggregate ended mid-element"),
    (b"$?\r\n+a\r\n", 'Protocol error, got "+" as reply type byte'),
    (b"$?\r\n;-1\r\n", "Bulk string length out of range"),
]


@pytest.mark.parametrize(("data", "message"), REPLY_ERRORS)
def test_reply_error_texts(data: bytes, message: str) -> None:
    with pytest.raises(RespProtocolError) as info:
        parse_all(data)
    assert info.value.message == message
    assert str(info.value) == message


def test_every_type_from_literal_bytes() -> None:
    data = (
        b"+OK\r\n-ERR x\r\n:-5\r\n$3\r\nfoo\r\n$0\r\n\r\n$-1\r\n*-1\r\n_\r\n"
        b",3.25\r\n,inf\r\n,-inf\r\n,nan\r\n,-nan\r\n,1e3\r\n#t\r\n#f\r\n"
        b"(-123456789012345678901234567890\r\n=8\r\nmkd:# hi\r\n!5\r\nOOPS!\r\n"
        b"%1\r\n+k\r\n:1\r\n~2\r\n:1\r\n:2\r\n>2\r\n+message\r\n$1\r\nx\r\n*0\r\n"
    )
    assert parse_all(data) == [
        SimpleString(b"OK"),
        SimpleError(b"ERR x"),
        Integer(-5),
        BulkString(b"foo"),
        BulkString(b""),
        Null(),
        Null(),
        Null(),
        Double(3.25),
        Double(math.inf),
        Double(-math.inf),
        Double(math.nan),
        Double(math.nan),
        Double(1000.0),
        Boolean(True),
        Boolean(False),
        BigNumber(-123456789012345678901234567890),
        VerbatimString(b"mkd", b"# hi"),
        BulkError(b"OOPS!"),
        Map(((SimpleString(b"k"), Integer(1)),)),
        Set((Integer(1), Integer(2))),
        Push((SimpleString(b"message"), BulkString(b"x"))),
        Array(()),
    ]


def test_null_kinds() -> None:
    bulk_null, array_null = parse_all(b"$-1\r\n*-1\r\n")
    assert isinstance(bulk_null, Null) and bulk_null.kind == "bulk"
    assert isinstance(array_null, Null) and array_null.kind == "array"
    assert encode(array_null, 2) == b"*-1\r\n"
    assert encode(bulk_null, 2) == b"$-1\r\n"
    assert encode(array_null, 3) == encode(bulk_null, 3) == b"_\r\n"


def test_attributes_attach_to_the_next_frame() -> None:
    data = b"|1\r\n+ttl\r\n:3\r\n*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n"
    assert parse_all(data) == [
        Attributed(
            ((SimpleString(b"ttl"), Integer(3)),),
            Array(
                (Attributed(((SimpleString(b"a"), SimpleString(b"b")),), Integer(1)), Integer(2))
            ),
        )
    ]
    assert parse_all(b"|0\r\n|0\r\n:1\r\n") == [Attributed((), Attributed((), Integer(1)))]


def test_streamed_types_join_into_plain_frames() -> None:
    data = (
        b"$?\r\n;4\r\nHell\r\n;1\r\no\r\n;0\r\n"
        b"*?\r\n:1\r\n*?\r\n.\r\n.\r\n%?\r\n+a\r\n:1\r\n.\r\n~?\r\n.\r\n>?\r\n+x\r\n.\r\n"
    )
    assert parse_all(data) == [
        BulkString(b"Hello"),
        Array((Integer(1), Array(()))),
        Map(((SimpleString(b"a"), Integer(1)),)),
        Set(()),
        Push((SimpleString(b"x"),)),
    ]


def test_nesting_limit() -> None:
    ok = b"*1\r\n" * 128 + b":1\r\n"
    frame = parse_one(ok)
    for _ in range(128):
        assert isinstance(frame, Array)
        frame = frame.items[0]
    assert frame == Integer(1)
    with pytest.raises(RespProtocolError, match="nested deeper than 128"):
        parse_all(b"*1\r\n" * 129 + b":1\r\n")
    with pytest.raises(RespProtocolError, match="nested deeper than 3"):
        parse_all(b"|1\r\n" * 10, ReplyParser(max_depth=3))


def test_very_deep_nesting_fails_fast_without_recursion() -> None:
    with pytest.raises(RespProtocolError):
        parse_all(b"*1\r\n" * 200_000)
    with pytest.raises(RespProtocolError):
        parse_all(b"%1\r\n" * 200_000)


def test_absurd_lengths_do_not_allocate() -> None:
    parser = ReplyParser()
    parser.feed(b"$536870912\r\nabc")  # exactly the limit: accepted, waits for data
    assert parser.next_frame() is NEED_DATA
    assert parser.buffered == 3
    parser = ReplyParser()
    parser.feed(b"*4294967295\r\n:1\r\n")
    assert parser.next_frame() is NEED_DATA
    for data in (b"$99999999999999999999999\r\n", b"*99999999999999999999\r\n"):
        with pytest.raises(RespProtocolError):
            parse_all(data)
    with pytest.raises(RespProtocolError, match="Bulk string length out of range"):
        parse_all(b"$11\r\n", ReplyParser(max_bulk_len=10))
    with pytest.raises(RespProtocolError, match="Multi-bulk length out of range"):
        parse_all(b"~11\r\n", ReplyParser(max_aggregate_len=10))


def test_line_length_limit() -> None:
    parser = ReplyParser(max_line_len=16)
    parser.feed(b"+" + b"a" * 15)
    assert parser.next_frame() is NEED_DATA
    parser.feed(b"a" * 10)
    with pytest.raises(RespProtocolError, match="line longer than 16 bytes"):
        parser.next_frame()
    with pytest.raises(RespProtocolError, match="line longer than 16 bytes"):
        parser.next_frame()


def test_resp_parser_is_the_reply_parser() -> None:
    assert RespParser is ReplyParser


ENCODINGS: list[tuple[Frame, bytes, bytes]] = [
    (SimpleString(b"OK"), b"+OK\r\n", b"+OK\r\n"),
    (Null("bulk"), b"_\r\n", b"$-1\r\n"),
    (Null("array"), b"_\r\n", b"*-1\r\n"),
    (Double(1.5), b",1.5\r\n", b"$3\r\n1.5\r\n"),
    (Double(math.inf), b",inf\r\n", b"$3\r\ninf\r\n"),
    (Double(-math.inf), b",-inf\r\n", b"$4\r\n-inf\r\n"),
    (Double(math.nan), b",nan\r\n", b"$3\r\nnan\r\n"),
    (Boolean(True), b"#t\r\n", b":1\r\n"),
    (Boolean(False), b"#f\r\n", b":0\r\n"),
    (BigNumber(10**20), b"(100000000000000000000\r\n", b"$21\r\n100000000000000000000\r\n"),
    (VerbatimString(b"txt", b"hi"), b"=6\r\ntxt:hi\r\n", b"$2\r\nhi\r\n"),
    (BulkError(b"ERR a\r\nb"), b"!8\r\nERR a\r\nb\r\n", b"-ERR a  b\r\n"),
    (Set((Integer(1),)), b"~1\r\n:1\r\n", b"*1\r\n:1\r\n"),
    (Push((BulkString(b"m"),)), b">1\r\n$1\r\nm\r\n", b"*1\r\n$1\r\nm\r\n"),
    (mapping({"a": 1}), b"%1\r\n$1\r\na\r\n:1\r\n", b"*2\r\n$1\r\na\r\n:1\r\n"),
    (Attributed(((Integer(1), Integer(2)),), Integer(3)), b"|1\r\n:1\r\n:2\r\n:3\r\n", b":3\r\n"),
]


@pytest.mark.parametrize(("frame", "resp3", "resp2"), ENCODINGS)
def test_encodings(frame: Frame, resp3: bytes, resp2: bytes) -> None:
    assert encode(frame, 3) == resp3
    assert encode(frame, 2) == resp2


@pytest.mark.parametrize(
    "frame",
    [
        SimpleString(b"a\r\nb"),
        SimpleError(b"ERR\n"),
        Integer(1 << 63),
        VerbatimString(b"text", b"x"),
        BigNumber(10**5000),
    ],
)
def test_unencodable_frames(frame: Frame) -> None:
    with pytest.raises(RespEncodeError):
        encode(frame)


def test_encode_rejects_bad_protocol_and_objects() -> None:
    with pytest.raises(RespEncodeError):
        encode(Integer(1), 4)
    with pytest.raises(RespEncodeError):
        encode("not a frame")  # type: ignore[arg-type]


def test_encode_command() -> None:
    assert encode_command("SET", b"k", 1, 1.5) == (
        b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n$3\r\n1.5\r\n"
    )
    with pytest.raises(RespEncodeError):
        encode_command("SET", True)


def test_to_frame_and_back() -> None:
    value = {"a": [1, 2.5, None, True], "b": {"c"}}
    frame = to_frame(value)
    assert isinstance(frame, Map)
    assert frame.get("a") == Array((Integer(1), Double(2.5), Null(), Boolean(True)))
    assert to_python(frame) == {b"a": [1, 2.5, None, True], b"b": [b"c"]}
    with pytest.raises(TypeError):
        to_frame(object())
