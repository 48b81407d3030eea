"""Frames to bytes, for RESP3 or downgraded to RESP2 the way Redis downgrades.

With ``proto=2``: a map becomes a flat array of keys and values, a set and a push
become arrays, a null becomes ``$-1`` (or ``*-1`` for ``Null("array")``), a double,
a big number and a verbatim string become bulk strings (the verbatim format prefix
is dropped), a boolean becomes ``:1``/``:0``, a bulk error becomes a simple error
(CR/LF turned into spaces) and attributes are dropped. Doubles are written in
Python's shortest round-trip form (``1.5``, ``1e+16``, ``inf``, ``nan``); Redis 7.0
uses ``%.17g``.
"""

from __future__ import annotations

from typing import Final

from labkit.resp.errors import RespEncodeError
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

__all__ = ["encode", "encode_command"]

_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
_BIGNUM_MAX_DIGITS: Final = 4000


def encode(frame: Frame, proto: int = 3) -> bytes:
    """Serialise ``frame`` for a client speaking RESP ``proto`` (2 or 3).

    Raises ``RespEncodeError`` for frames that cannot be written (CR or LF in a
    simple string or error, an integer outside 64 bits, a verbatim format that is not
    3 bytes, an unknown object).
    """
    if proto not in (2, 3):
        raise RespEncodeError(f"unsupported protocol version {proto!r}")
    out: list[bytes] = []
    _encode(frame, proto == 3, out)
    return b"".join(out)


def _line_safe(value: bytes, what: str) -> bytes:
    if b"\r" in value or b"\n" in value:
        raise RespEncodeError(f"{what} must not contain CR or LF: {value!r}")
    return value


def _bulk(prefix: bytes, value: bytes, out: list[bytes]) -> None:
    out.append(b"%s%d\r\n%s\r\n" % (prefix, len(value), value))


def _encode(frame: Frame, resp3: bool, out: list[bytes]) -> None:
    match frame:
        case BulkString(value):
            _bulk(b"$", value, out)
        case SimpleString(value):
            out.append(b"+%s\r\n" % _line_safe(value, "a simple string"))
        case SimpleError(value):
            out.append(b"-%s\r\n" % _line_safe(value, "an error"))
        case Integer(value):
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise RespEncodeError(f"integer out of 64-bit range: {value}")
            out.append(b":%d\r\n" % value)
        case Array(items):
            _items(b"*", items, resp3, out)
        case Null(kind):
            out.append(b"_\r\n" if resp3 else b"*-1\r\n" if kind == "array" else b"$-1\r\n")
        case Map(pairs):
            out.append(b"%s%d\r\n" % ((b"%", len(pairs)) if resp3 else (b"*", 2 * len(pairs))))
            for key, value in pairs:
                _encode(key, resp3, out)
                _encode(value, resp3, out)
        case Set(items):
            _items(b"~" if resp3 else b"*", items, resp3, out)
        case Push(items):
            _items(b">" if resp3 else b"*", items, resp3, out)
        case Double(value):
            text = repr(value).encode()
            out.append(b",%s\r\n" % text) if resp3 else _bulk(b"$", text, out)
        case Boolean(value):
            if resp3:
                out.append(b"#t\r\n" if value else b"#f\r\n")
            else:
                out.append(b":1\r\n" if value else b":0\r\n")
        case BigNumber(value):
            try:
                text = b"%d" % value
            except ValueError:  # beyond Python's int-to-str digit limit
                text = b""
            if not text or len(text) > _BIGNUM_MAX_DIGITS:
                raise RespEncodeError("big number has too many digits")
            out.append(b"(%s\r\n" % text) if resp3 else _bulk(b"$", text, out)
        case VerbatimString(fmt, value):
            if len(fmt) != 3:
                raise RespEncodeError(f"verbatim format must be 3 bytes: {fmt!r}")
            if resp3:
                _bulk(b"=", fmt + b":" + value, out)
            else:
                _bulk(b"$", value, out)
        case BulkError(value):
            if resp3:
                _bulk(b"!", value, out)
            else:
                out.append(b"-%s\r\n" % value.replace(b"\r", b" ").replace(b"\n", b" "))
        case Attributed(pairs, value):
            if resp3:
                out.append(b"|%d\r\n" % len(pairs))
                for key, item in pairs:
                    _encode(key, resp3, out)
                    _encode(item, resp3, out)
            _encode(value, resp3, out)
        case _:
            raise RespEncodeError(f"not a RESP frame: {frame!r}")


def _items(prefix: bytes, items: tuple[Frame, ...], resp3: bool, out: list[bytes]) -> None:
    out.append(b"%s%d\r\n" % (prefix, len(items)))
    for item in items:
        _encode(item, resp3, out)


def encode_command(*args: bytes | str | int | float) -> bytes:
    """A request as a multibulk array of bulk strings (``encode_command("SET", "k", 1)``)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes | bytearray | memoryview):
            data = bytes(arg)
        elif isinstance(arg, str):
            data = arg.encode("utf-8", "surrogateescape")
        elif isinstance(arg, bool):
            raise RespEncodeError("bool is not a valid command argument")
        elif isinstance(arg, int):
            data = b"%d" % arg
        elif isinstance(arg, float):
            data = repr(arg).encode()
        else:
            raise RespEncodeError(f"invalid command argument type {type(arg).__name__}")
        _bulk(b"$", data, out)
    return b"".join(out)
