"""The request parser (Redis 7.0 networking.c rules) and inline argument splitting.

The expected error texts and behaviours in the tables were checked against a real
redis-server 7.0.15 over a raw socket.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.resp import (
    NEED_DATA,
    Request,
    RequestParser,
    RespProtocolError,
    encode_command,
    quote_arg,
    split_args,
    string_to_ll,
)

args_strategy = st.lists(st.binary(max_size=30), min_size=1, max_size=6)


def requests(data: bytes, parser: RequestParser | None = None) -> list[tuple[bytes, ...]]:
    parser = parser or RequestParser()
    parser.feed(data)
    return [request.args for request in parser]


def protocol_error(data: bytes, parser: RequestParser | None = None) -> str:
    with pytest.raises(RespProtocolError) as info:
        requests(data, parser)
    return info.value.message


@given(st.lists(args_strategy, min_size=1, max_size=5))
def test_multibulk_round_trip_whole_and_byte_by_byte(batch: list[list[bytes]]) -> None:
    data = b"".join(encode_command(*args) for args in batch)
    expected = [tuple(args) for args in batch]
    assert requests(data) == expected
    parser = RequestParser()
    got: list[tuple[bytes, ...]] = []
    for i in range(len(data)):
        parser.feed(data[i : i + 1])
        got.extend(request.args for request in parser)
    assert got == expected
    assert parser.buffered == 0


@given(args_strategy)
def test_trailing_partial_request_waits(args: list[bytes]) -> None:
    data = encode_command(*args)
    parser = RequestParser()
    parser.feed(data + data[:-1])
    assert parser.next_frame() == Request(tuple(args))
    assert parser.next_frame() is NEED_DATA
    parser.feed(data[-1:])
    assert parser.next_frame() == Request(tuple(args))


@given(st.lists(st.binary(min_size=1, max_size=20), min_size=1, max_size=5))
def test_inline_round_trip_through_quote_arg(args: list[bytes]) -> None:
    line = b" ".join(quote_arg(arg) for arg in args) + b"\r\n"
    parser = RequestParser()
    parser.feed(line)
    assert parser.next_frame() == Request(tuple(args), inline=True)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_garbage_parses_or_raises_protocol_error(data: bytes) -> None:
    for authenticated in (True, False):
        parser = RequestParser(max_inline_len=64)
        parser.authenticated = authenticated
        try:
            requests(data, parser)
        except RespProtocolError:
            with pytest.raises(RespProtocolError):
                parser.next_frame()


tokens = st.sampled_from(
    [
        *(b"*", b"$", b"\r\n", b"\r", b"\n", b"-1", b"0", b"1", b"2", b"3", b"PING", b'"', b"'"),
        *(b"\\x41", b"\\", b" ", b"\x00", b"99999999999", b":", b"+", b"a"),
    ]
)


@settings(max_examples=500)
@given(st.lists(tokens, max_size=50).map(b"".join), st.integers(min_value=1, max_value=8))
def test_request_shaped_garbage_parses_or_raises(data: bytes, chunk: int) -> None:
    parser = RequestParser(max_inline_len=32)
    try:
        for i in range(0, len(data), chunk):
            parser.feed(data[i : i + chunk])
            list(parser)
    except RespProtocolError:
        pass


def _outcome(data: bytes, chunk: int) -> tuple[list[tuple[bytes, ...]], str | None]:
    """The requests parsed and the error met, feeding ``data`` in ``chunk``-byte pieces."""
    parser = RequestParser(max_inline_len=32)
    parsed: list[tuple[bytes, ...]] = []
    try:
        for i in range(0, len(data), chunk):
            parser.feed(data[i : i + chunk])
            for request in parser:
                parsed.append(request.args)
    except RespProtocolError as exc:
        return parsed, exc.message
    return parsed, None


@settings(max_examples=1000)
@given(st.lists(tokens, max_size=50).map(b"".join))
def test_whole_buffer_fast_path_agrees_with_byte_by_byte(data: bytes) -> None:
    # Fed whole, complete requests take the one-go path; fed a byte at a time, every one
    # goes through the step-by-step parser. Both must see the same requests and errors.
    assert _outcome(data, max(1, len(data))) == _outcome(data, 1)


REDIS_ERRORS = [
    (b"*x\r\n", "Protocol error: invalid multibulk length"),
    (b"*3000000000\r\n", "Protocol error: invalid multibulk length"),
    (b"*99999999999999999999999\r\n", "Protocol error: invalid multibulk length"),
    (b"*01\r\n", "Protocol error: invalid multibulk length"),
    (b"*2147483648\r\n", "Protocol error: invalid multibulk length"),
    (b"*1\r\n*1\r\n", "Protocol error: expected '$', got '*'"),
    (b"*1\r\n:5\r\n", "Protocol error: expected '$', got ':'"),
    (b"*1\r\n\r\n", "Protocol error: expected '$', got ' '"),
    (b"*1\r\n\x00\r\n", "Protocol error: expected '$', got '"),
    (b"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"),
    (b"*1\r\n$x\r\n", "Protocol error: invalid bulk length"),
    (b"*1\r\n$600000000\r\n", "Protocol error: invalid bulk length"),
    (b"*1\r\n$536870913\r\n", "Protocol error: invalid bulk length"),
    (b'SET a "b c\r\n', "Protocol error: unbalanced quotes in request"),
    (b'ECHO "ab"c\r\n', "Protocol error: unbalanced quotes in request"),
    (b"ECHO 'ab\r\n", "Protocol error: unbalanced quotes in request"),
    (b"ECHO 'a'b\r\n", "Protocol error: unbalanced quotes in request"),
    (b"P" * (64 * 1024 + 1), "Protocol error: too big inline request"),
    (b"P" * (64 * 1024 + 1) + b"\r\n", "Protocol error: too big inline request"),
    (b"*" + b"1" * (64 * 1024 + 1), "Protocol error: too big mbulk count string"),
    (b"*1\r\n$" + b"1" * (64 * 1024 + 1), "Protocol error: too big bulk count string"),
]


@pytest.mark.parametrize(("data", "message"), REDIS_ERRORS)
def test_redis_error_texts(data: bytes, message: str) -> None:
    assert protocol_error(data) == message


def test_commands_before_an_error_are_still_returned() -> None:
    parser = RequestParser()
    parser.feed(b"PING\r\n*1\r\n$4\r\nECHO\r\n*x\r\n")
    assert parser.next_frame() == Request((b"PING",), inline=True)
    assert parser.next_frame() == Request((b"ECHO",))
    with pytest.raises(RespProtocolError):
        parser.next_frame()


def test_unauthenticated_limits() -> None:
    parser = RequestParser()
    parser.authenticated = False
    assert requests(encode_command(*[b"a"] * 10), parser) == [(b"a",) * 10]
    assert protocol_error(b"*11\r\n", parser) == "Protocol error: unauthenticated multibulk length"
    parser = RequestParser()
    parser.authenticated = False
    assert requests(encode_command(b"x" * 16384), parser) == [(b"x" * 16384,)]
    assert (
        protocol_error(b"*1\r\n$16385\r\n", parser) == "Protocol error: unauthenticated bulk length"
    )
    assert requests(b"*11\r\n", RequestParser()) == []  # fine once authenticated


def test_empty_requests_are_skipped() -> None:
    assert requests(b"\r\n\n*0\r\n*-1\r\n   \r\nPING\r\n") == [(b"PING",)]


def test_redis_does_not_check_the_crlf_after_a_bulk() -> None:
    assert requests(b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n") == [(b"PING",), (b"PING",)]
    assert requests(b"*1\r\n$4\r\nPING\r\n") == [(b"PING",)]


def test_big_bulk_header_waits_for_data() -> None:
    parser = RequestParser()
    parser.feed(b"*1\r\n$536870912\r\nabc")
    assert parser.next_frame() is NEED_DATA
    assert parser.buffered == 3


def test_inline_limit_is_configurable() -> None:
    parser = RequestParser(max_inline_len=8)
    assert requests(b"PING 12\r\n", parser) == [(b"PING", b"12")]  # 8 bytes before LF
    assert protocol_error(b"PING 123\r\n", parser) == "Protocol error: too big inline request"


def test_request_name() -> None:
    assert Request((b"CLIENT", b"LIST")).name == "client"
    assert Request(()).name == ""


INLINE = [
    (b"PING", [b"PING"]),
    (b"  SET   a  b  ", [b"SET", b"a", b"b"]),
    (b'SET a "b c"', [b"SET", b"a", b"b c"]),
    (b'ECHO "a\\x41\\n\\q"', [b"ECHO", b"aA\nq"]),
    (b"ECHO 'a\\'b\\n'", [b"ECHO", b"a'b\\n"]),
    (b'ECHO "\\r\\t\\b\\a\\\\\\""', [b"ECHO", b'\r\t\b\a\\"']),
    (b'ECHO "\\xzz"', [b"ECHO", b"xzz"]),
    (b'ECHO "\\x4"', [b"ECHO", b"x4"]),
    (b'ECHO ab"c d" e', [b"ECHO", b"abc d", b"e"]),
    (b'ECHO ""', [b"ECHO", b""]),
    (b"ECHO a\x0bb", [b"ECHO", b"a\x0bb"]),
    (b"ECHO a\x00b c", [b"ECHO", b"a"]),
    (b"\t\x0c", []),
    (b'ECHO "a"\x0c', [b"ECHO", b"a"]),
]


@pytest.mark.parametrize(("line", "expected"), INLINE)
def test_split_args(line: bytes, expected: list[bytes]) -> None:
    assert split_args(line) == expected


@pytest.mark.parametrize("line", [b'"a', b"'a", b'"a"b', b"'a'b", b'"a\\"', b'"\\'])
def test_split_args_unbalanced(line: bytes) -> None:
    with pytest.raises(RespProtocolError, match="unbalanced quotes in request"):
        split_args(line)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b"0", 0),
        (b"-1", -1),
        (b"123", 123),
        (b"9223372036854775807", (1 << 63) - 1),
        (b"-9223372036854775808", -(1 << 63)),
        (b"9223372036854775808", None),
        (b"", None),
        (b"-", None),
        (b"-0", None),
        (b"01", None),
        (b"+1", None),
        (b" 1", None),
        (b"1 ", None),
        (b"1a", None),
        (b"\xd9\xa1", None),
    ],
)
def test_string_to_ll(text: bytes, value: int | None) -> None:
    assert string_to_ll(text) == value
