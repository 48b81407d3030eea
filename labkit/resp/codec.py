"""Sans-I/O RESP2/RESP3 codec: bytes in, frames out; frames in, bytes out.

Two parsers share one buffer discipline (``feed(data)``, then ``next_frame()`` until
it returns ``NEED_DATA``; iterating does the same):

- ``ReplyParser`` (alias ``RespParser``) reads anything a server may send: every
  RESP3 type, RESP2 nulls, attributes and RESP3 streamed strings and aggregates
  (which it joins into ordinary frames). It enforces a nesting depth and size limits.
  Its error texts follow hiredis (``Bad integer value``, ...).
- ``RequestParser`` reads what a client may send a server: multibulk arrays of bulk
  strings, or inline commands. It follows Redis 7.0's ``networking.c`` (limits,
  error texts, and its leniency about the CRLF after a bulk) and returns ``Request``.

Every malformed input raises ``RespProtocolError``; after that the parser is poisoned
and raises the same error again. Nothing else escapes a parser.

``encode(frame, proto)`` writes a frame, downgrading RESP3 types for RESP2 clients
the way Redis does; ``encode_command(*args)`` writes a request.

Deliberate differences from Redis's request parser: Redis looks for line ends with
``strchr`` and so stalls on a NUL byte before the line end; here a NUL is an ordinary
byte (inline arguments still end at a NUL, as ``sdssplitargs`` does). Redis enforces
the 64 KiB line limits only while a line end is missing, so whether a long line
passes depends on how reads were chunked; here any line longer than the limit fails.
The multibulk count limit defaults to 1024*1024 (Redis up to 6.2; 7.0 allows INT_MAX).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from labkit.resp.buffer import NEED_DATA, Buffer, NeedData
from labkit.resp.encoder import encode, encode_command
from labkit.resp.errors import RespProtocolError
from labkit.resp.frames import (
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
    Set,
    SimpleError,
    SimpleString,
    VerbatimString,
)
from labkit.resp.inline import split_args, string_to_ll

__all__ = [
    "MAX_MULTIBULK_LEN",
    "NEED_DATA",
    "PROTO_INLINE_MAX_SIZE",
    "PROTO_MAX_BULK_LEN",
    "NeedData",
    "ReplyParser",
    "Request",
    "RequestParser",
    "RespParser",
    "encode",
    "encode_command",
]

PROTO_INLINE_MAX_SIZE: Final = 64 * 1024
"""Redis's limit on an inline request and on a count line (``PROTO_INLINE_MAX_SIZE``)."""
PROTO_MAX_BULK_LEN: Final = 512 * 1024 * 1024
"""Redis's default ``proto-max-bulk-len``."""
MAX_MULTIBULK_LEN: Final = 2**31 - 1  # INT_MAX, as Redis 7.0; the query buffer limit bounds memory
"""Largest request array accepted by default (Redis <= 6.2; 7.0 allows INT_MAX)."""
UNAUTH_MULTIBULK_LEN: Final = 10
"""Redis 7.0 refuses larger request arrays before AUTH."""
UNAUTH_BULK_LEN: Final = 16384
"""Redis 7.0 refuses larger request bulks before AUTH."""
MAX_REPLY_LINE: Final = 1024 * 1024
MAX_REPLY_DEPTH: Final = 128
MAX_REPLY_AGGREGATE_LEN: Final = (1 << 32) - 1
_BIGNUM_MAX_DIGITS: Final = 4000  # below Python's int/str conversion limit
_DOUBLE_MAX_LEN: Final = 325  # hiredis: "Double value is too large"


@dataclass(frozen=True, slots=True)
class Request:
    """One client request: its arguments (``args[0]`` is the command name)."""

    args: tuple[bytes, ...]
    inline: bool = False

    @property
    def name(self) -> str:
        """The command name, lower-cased (``""`` for an empty request)."""
        return self.args[0].decode("utf-8", "surrogateescape").lower() if self.args else ""


class RequestParser:
    """Parse client requests as Redis 7.0 does (multibulk or inline).

    Set ``authenticated = False`` while the connection still needs AUTH: Redis then
    refuses arrays of more than 10 elements and bulks over 16384 bytes.
    """

    def __init__(
        self,
        *,
        max_multibulk_len: int = MAX_MULTIBULK_LEN,
        max_bulk_len: int = PROTO_MAX_BULK_LEN,
        max_inline_len: int = PROTO_INLINE_MAX_SIZE,
    ) -> None:
        self.max_multibulk_len = max_multibulk_len
        self.max_bulk_len = max_bulk_len
        self.max_inline_len = max_inline_len
        self.authenticated = True
        self._buf = Buffer()
        self._error: RespProtocolError | None = None
        self._multibulk = False  # inside a multibulk request
        self._remaining = 0  # bulks still to read
        self._bulk_len = -1  # length of the bulk being read, -1 before its header
        self._args: list[bytes] = []

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        self._buf.feed(data)

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed by a complete request."""
        return len(self._buf)

    def __iter__(self) -> Iterator[Request]:
        while (request := self.next_frame()) is not NEED_DATA:
            yield request

    def next_frame(self) -> Request | NeedData:
        """The next complete request, or ``NEED_DATA``."""
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except RespProtocolError as exc:
            self._error = exc
            raise

    def _next(self) -> Request | NeedData:
        buf = self._buf
        if not self._multibulk and self.authenticated:
            whole = self._whole_request()
            if whole is not None:
                return whole
        while len(buf):
            if not self._multibulk:
                if buf.peek(0) != ord("*"):
                    request = self._inline()
                    if request is NEED_DATA or request.args:
                        return request
                    continue  # an empty line is skipped
                if not self._multibulk_header():
                    return NEED_DATA
                if not self._multibulk:
                    continue  # "*0" and "*-1" are skipped
            if self._read_bulks():
                args, self._args = self._args, []
                self._multibulk = False
                return Request(tuple(args))
            return NEED_DATA
        return NEED_DATA

    def _whole_request(self) -> Request | None:
        """The fast path: a complete, well-formed multibulk request already in the buffer,
        read in one go; None (nothing consumed) for anything else, which the step-by-step
        parser below then handles, errors and partial requests included."""
        data = self._buf.data
        pos = self._buf.position
        if pos >= len(data) or data[pos] != 42:  # '*'
            return None
        cr = data.find(b"\r", pos, pos + 24)
        if cr < 0 or data[cr + 1 : cr + 2] != b"\n":
            return None
        count = _small_number(data[pos + 1 : cr])
        if count is None or count == 0 or count > self.max_multibulk_len:
            return None
        at = cr + 2
        args: list[bytes] = []
        max_bulk = self.max_bulk_len
        for _ in range(count):
            if data[at : at + 1] != b"$":
                return None
            cr = data.find(b"\r", at, at + 24)
            if cr < 0 or data[cr + 1 : cr + 2] != b"\n":
                return None
            size = _small_number(data[at + 1 : cr])
            if size is None or size > max_bulk:
                return None
            start = cr + 2
            at = start + size + 2
            if at > len(data):
                return None
            args.append(bytes(data[start : start + size]))
        self._buf.skip(at - pos)
        return Request(tuple(args))

    def _inline(self) -> Request | NeedData:
        buf = self._buf
        newline = buf.find(b"\n")
        if newline < 0 or newline > self.max_inline_len:
            if newline >= 0 or len(buf) > self.max_inline_len:
                raise RespProtocolError("Protocol error: too big inline request")
            return NEED_DATA
        line = buf.take(newline, skip=1)
        if line.endswith(b"\r"):
            line = line[:-1]
        return Request(tuple(split_args(line)), inline=True)

    def _count_line(self, too_big: str) -> bytes | None:
        """The next ``\\r``-terminated line without its first byte, or None."""
        buf = self._buf
        cr = buf.find(b"\r")
        if cr < 0 or cr > self.max_inline_len:
            if cr >= 0 or len(buf) > self.max_inline_len:
                raise RespProtocolError(f"Protocol error: {too_big}")
            return None
        if cr + 2 > len(buf):
            return None  # Redis waits for the byte after '\r' (and does not check it)
        return buf.take(cr, skip=2)

    def _multibulk_header(self) -> bool:
        line = self._count_line("too big mbulk count string")
        if line is None:
            return False
        count = string_to_ll(line[1:])
        if count is None or count > self.max_multibulk_len:
            raise RespProtocolError("Protocol error: invalid multibulk length")
        if count > UNAUTH_MULTIBULK_LEN and not self.authenticated:
            raise RespProtocolError("Protocol error: unauthenticated multibulk length")
        if count > 0:
            self._multibulk = True
            self._remaining = count
            self._bulk_len = -1
        return True

    def _read_bulks(self) -> bool:
        buf = self._buf
        while self._remaining:
            if self._bulk_len < 0:
                if not len(buf):
                    return False
                first = buf.peek(0)
                line = self._count_line("too big bulk count string")
                if line is None:
                    return False
                if first != ord("$"):
                    raise RespProtocolError(f"Protocol error: expected '$', got '{_c_char(first)}")
                size = string_to_ll(line[1:])
                if size is None or size < 0 or size > self.max_bulk_len:
                    raise RespProtocolError("Protocol error: invalid bulk length")
                if size > UNAUTH_BULK_LEN and not self.authenticated:
                    raise RespProtocolError("Protocol error: unauthenticated bulk length")
                self._bulk_len = size
            if len(buf) < self._bulk_len + 2:
                return False
            self._args.append(buf.take(self._bulk_len, skip=2))
            self._bulk_len = -1
            self._remaining -= 1
        return True


def _small_number(digits: bytearray) -> int | None:
    """A count or length in its canonical form (what ``string2ll`` accepts, without a
    sign), or None: the fast path leaves everything else to the step-by-step parser."""
    if not digits.isdigit() or (digits[0] == 48 and len(digits) > 1):  # no leading zero
        return None
    return int(digits)


def _c_char(byte: int) -> str:
    """A byte as Redis's ``'%c'`` shows it in an error reply.

    CR and LF become spaces; a NUL ends the C string, so the closing quote is lost.
    """
    if byte == 0:
        return ""
    if byte in (0x0D, 0x0A):
        return " '"
    return bytes([byte]).decode("utf-8", "surrogateescape") + "'"


_DOUBLE_RE: Final = re.compile(
    rb"[+-]?(?:inf|nan|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)", re.IGNORECASE
)
_BIGNUM_RE: Final = re.compile(rb"-?[0-9]+")
_SIMPLE_TYPES: Final = frozenset(b"+-:_,#(")
_BULK_TYPES: Final = frozenset(b"$=!")
_AGGREGATE_TYPES: Final = frozenset(b"*~%>|")


class _Open:
    """An aggregate whose elements are still arriving."""

    __slots__ = ("attrs", "chunks", "items", "kind", "remaining")

    def __init__(self, kind: int, remaining: int) -> None:
        self.kind = kind  # type byte; '$' for a streamed string
        self.remaining = remaining  # elements still expected; -1 when streamed
        self.items: list[Frame] = []
        self.chunks: list[bytes] = []  # of a streamed string
        self.attrs: list[tuple[tuple[Frame, Frame], ...]] = []  # for the next element


def _type_byte_error(byte: int) -> RespProtocolError:
    names = {0x5C: '"\\\\"', 0x22: '"\\""', 0x0A: '"\\n"', 0x0D: '"\\r"', 0x09: '"\\t"'}
    shown = names.get(byte) or (f'"{chr(byte)}"' if 0x20 <= byte < 0x7F else f'"\\x{byte:02x}"')
    return RespProtocolError(f"Protocol error, got {shown} as reply type byte")


class ReplyParser:
    """Parse server replies of any RESP2/RESP3 type (client side).

    Limits: ``max_depth`` nested aggregates, ``max_bulk_len`` bytes per bulk (and per
    streamed string), ``max_aggregate_len`` elements per aggregate header and
    ``max_line_len`` bytes per line.
    """

    def __init__(
        self,
        *,
        max_depth: int = MAX_REPLY_DEPTH,
        max_bulk_len: int = PROTO_MAX_BULK_LEN,
        max_aggregate_len: int = MAX_REPLY_AGGREGATE_LEN,
        max_line_len: int = MAX_REPLY_LINE,
    ) -> None:
        self.max_depth = max_depth
        self.max_bulk_len = max_bulk_len
        self.max_aggregate_len = max_aggregate_len
        self.max_line_len = max_line_len
        self._buf = Buffer()
        self._error: RespProtocolError | None = None
        self._stack: list[_Open] = []
        self._top_attrs: list[tuple[tuple[Frame, Frame], ...]] = []
        self._bulk: tuple[int, int] | None = None  # (type byte, length) awaiting data

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        self._buf.feed(data)

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed."""
        return len(self._buf)

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.next_frame()) is not NEED_DATA:
            yield frame

    def next_frame(self) -> Frame | NeedData:
        """The next complete frame, or ``NEED_DATA``."""
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except RespProtocolError as exc:
            self._error = exc
            raise

    def _next(self) -> Frame | NeedData:
        buf = self._buf
        while True:
            if self._bulk is not None:
                kind, size = self._bulk
                if len(buf) < size + 2:
                    return NEED_DATA
                data = buf.take(size)
                if buf.take(2) != b"\r\n":
                    raise RespProtocolError("Protocol error: bulk data not followed by CRLF")
                self._bulk = None
                value = self._bulk_frame(kind, data)
            else:
                end = buf.find(b"\r\n")
                if end < 0 or end > self.max_line_len:
                    if end >= 0 or len(buf) > self.max_line_len + 1:
                        raise RespProtocolError(
                            f"Protocol error: line longer than {self.max_line_len} bytes"
                        )
                    return NEED_DATA
                line = buf.take(end, skip=2)
                value = self._line(line)
            if value is None:
                continue
            done = self._deliver(value)
            if done is not None:
                return done

    def _bulk_frame(self, kind: int, data: bytes) -> Frame | None:
        if kind == ord("$"):
            return BulkString(data)
        if kind == ord("!"):
            return BulkError(data)
        if kind == ord("="):
            if len(data) < 4 or data[3] != ord(":"):
                raise RespProtocolError(
                    "Verbatim string 4 bytes of content type are missing or incorrectly encoded."
                )
            return VerbatimString(data[:3], data[4:])
        # a chunk of a streamed string
        top = self._stack[-1]
        top.chunks.append(data)
        top.remaining -= len(data)
        return None

    def _line(self, line: bytes) -> Frame | None:
        if not line:
            raise _type_byte_error(0x0D)
        kind, rest = line[0], line[1:]
        top = self._stack[-1] if self._stack else None
        if top is not None and top.kind == ord("$"):
            return self._stream_chunk(top, kind, rest)
        if kind in _SIMPLE_TYPES:
            return _simple_frame(kind, rest)
        if kind in _BULK_TYPES:
            if kind == ord("$") and rest == b"?":
                self._open(ord("$"), self.max_bulk_len)
                return None
            size = string_to_ll(rest)
            if size is None:
                raise RespProtocolError("Bad bulk string length")
            if size == -1 and kind == ord("$"):
                return Null("bulk")
            if size < 0 or size > self.max_bulk_len:
                raise RespProtocolError("Bulk string length out of range")
            self._bulk = (kind, size)
            return None
        if kind in _AGGREGATE_TYPES:
            if rest == b"?":
                self._open(kind, -1)
                return None
            count = string_to_ll(rest)
            if count is None:
                raise RespProtocolError("Bad multi-bulk length")
            if count < -1 or count > self.max_aggregate_len:
                raise RespProtocolError("Multi-bulk length out of range")
            if count == -1:
                return Null("array")
            if count == 0:
                return self._close(_Open(kind, 0))
            self._open(kind, count * 2 if kind in (ord("%"), ord("|")) else count)
            return None
        if kind == ord(".") and not rest and top is not None and top.remaining == -1:
            if top.attrs or (top.kind in (ord("%"), ord("|")) and len(top.items) % 2):
                raise RespProtocolError("Protocol error: streamed aggregate ended mid-element")
            self._stack.pop()
            return self._close(top)
        raise _type_byte_error(kind)

    def _stream_chunk(self, top: _Open, kind: int, rest: bytes) -> Frame | None:
        if kind != ord(";"):
            raise _type_byte_error(kind)
        size = string_to_ll(rest)
        if size is None:
            raise RespProtocolError("Bad bulk string length")
        if size < 0 or size > top.remaining:
            raise RespProtocolError("Bulk string length out of range")
        if size == 0:
            self._stack.pop()
            return BulkString(b"".join(top.chunks))
        self._bulk = (ord(";"), size)
        return None

    def _open(self, kind: int, remaining: int) -> None:
        if len(self._stack) >= self.max_depth:
            raise RespProtocolError(
                f"Protocol error: aggregates nested deeper than {self.max_depth} levels"
            )
        self._stack.append(_Open(kind, remaining))

    def _close(self, agg: _Open) -> Frame | None:
        items = tuple(agg.items)
        if agg.kind == ord("*"):
            return Array(items)
        if agg.kind == ord("~"):
            return Set(items)
        if agg.kind == ord(">"):
            return Push(items)
        pairs = tuple(zip(items[::2], items[1::2], strict=True))
        if agg.kind == ord("%"):
            return Map(pairs)
        # an attribute: it belongs to the next frame at the enclosing level
        (self._stack[-1].attrs if self._stack else self._top_attrs).append(pairs)
        return None

    def _deliver(self, value: Frame | None) -> Frame | None:
        """Hand a finished value to its parent; return it if it is a whole frame."""
        while value is not None:
            attrs = self._stack[-1].attrs if self._stack else self._top_attrs
            for pairs in reversed(attrs):
                value = Attributed(pairs, value)
            attrs.clear()
            if not self._stack:
                return value
            top = self._stack[-1]
            top.items.append(value)
            if top.remaining < 0:
                return None
            top.remaining -= 1
            if top.remaining:
                return None
            self._stack.pop()
            value = self._close(top)
        return None


RespParser = ReplyParser
"""The general parser is the reply parser: it accepts every RESP type."""


def _simple_frame(kind: int, rest: bytes) -> Frame:
    if kind in (ord("+"), ord("-")):
        if b"\r" in rest or b"\n" in rest:
            raise RespProtocolError("Bad simple string value")
        return SimpleString(rest) if kind == ord("+") else SimpleError(rest)
    if kind == ord(":"):
        value = string_to_ll(rest)
        if value is None:
            raise RespProtocolError("Bad integer value")
        return Integer(value)
    if kind == ord("_"):
        if rest:
            raise RespProtocolError("Bad nil value")
        return Null()
    if kind == ord("#"):
        if rest not in (b"t", b"f"):
            raise RespProtocolError("Bad bool value")
        return Boolean(rest == b"t")
    if kind == ord(","):
        if len(rest) > _DOUBLE_MAX_LEN:
            raise RespProtocolError("Double value is too large")
        if _DOUBLE_RE.fullmatch(rest) is None:
            raise RespProtocolError("Bad double value")
        return Double(float(rest))
    if len(rest) > _BIGNUM_MAX_DIGITS or _BIGNUM_RE.fullmatch(rest) is None:
        raise RespProtocolError("Bad bignum value")
    return BigNumber(int(rest))
