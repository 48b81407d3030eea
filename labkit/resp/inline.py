"""Redis's small text rules: inline argument splitting and integer parsing.

``split_args`` follows the rules of Redis's ``sdssplitargs`` (used for inline
commands and by redis-cli); ``string_to_ll`` those of ``string2ll`` (used for every
length and count on the wire). ``quote_arg`` writes an argument so that
``split_args`` reads it back.
"""

from __future__ import annotations

import re
from typing import Final

from labkit.resp.errors import RespProtocolError

__all__ = ["quote_arg", "split_args", "string_to_ll"]

_C_SPACE: Final = frozenset(b" \t\n\v\f\r")  # C isspace() in the C locale
_TOKEN_END: Final = frozenset(b" \n\r\t")  # what ends an unquoted token
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
_ESCAPES: Final = {ord("n"): 0x0A, ord("r"): 0x0D, ord("t"): 0x09, ord("b"): 0x08, ord("a"): 0x07}
_UNBALANCED: Final = "Protocol error: unbalanced quotes in request"
_LL_RE: Final = re.compile(rb"0|-?[1-9][0-9]*")
_LL_MAX_TEXT: Final = 20  # string2ll refuses 21 bytes or more (LONG_STR_SIZE)


def string_to_ll(text: bytes) -> int | None:
    """Parse a signed 64-bit decimal the way Redis's ``string2ll`` does, else None.

    No sign but ``-``, no leading zeros, no spaces, no ``-0``.
    """
    if len(text) > _LL_MAX_TEXT or _LL_RE.fullmatch(text) is None:
        return None
    value = int(text)
    if not -(1 << 63) <= value < (1 << 63):
        return None
    return value


def split_args(line: bytes) -> list[bytes]:
    """Split an inline command line into arguments.

    Unquoted tokens end at space, tab, CR or LF. ``"..."`` understands ``\\n \\r \\t
    \\b \\a``, ``\\xHH`` and ``\\<any>``; ``'...'`` understands only ``\\'``. A quote may
    open inside a token (``ab"c d"`` is ``abc d``) but a closing quote must be followed
    by a space or the end. The line ends at its first NUL byte, as a C string would.

    Raises ``RespProtocolError`` (``unbalanced quotes in request``) otherwise.
    """
    nul = line.find(b"\0")
    if nul >= 0:
        line = line[:nul]
    n = len(line)
    args: list[bytes] = []
    i = 0
    while True:
        while i < n and line[i] in _C_SPACE:
            i += 1
        if i >= n:
            return args
        token = bytearray()
        quote = 0  # 0, ord('"') or ord("'")
        while True:
            if quote == ord('"'):
                if i >= n:
                    raise RespProtocolError(_UNBALANCED)
                c = line[i]
                if (
                    c == 0x5C
                    and i + 3 < n
                    and line[i + 1] == ord("x")
                    and (line[i + 2] in _HEX and line[i + 3] in _HEX)
                ):
                    token.append(int(line[i + 2 : i + 4], 16))
                    i += 4
                elif c == 0x5C and i + 1 < n:
                    token.append(_ESCAPES.get(line[i + 1], line[i + 1]))
                    i += 2
                elif c == ord('"'):
                    i += 1
                    if i < n and line[i] not in _C_SPACE:
                        raise RespProtocolError(_UNBALANCED)
                    break
                else:
                    token.append(c)
                    i += 1
            elif quote == ord("'"):
                if i >= n:
                    raise RespProtocolError(_UNBALANCED)
                c = line[i]
                if c == 0x5C and i + 1 < n and line[i + 1] == ord("'"):
                    token.append(ord("'"))
                    i += 2
                elif c == ord("'"):
                    i += 1
                    if i < n and line[i] not in _C_SPACE:
                        raise RespProtocolError(_UNBALANCED)
                    break
                else:
                    token.append(c)
                    i += 1
            else:
                if i >= n:
                    break
                c = line[i]
                i += 1
                if c in _TOKEN_END:
                    break
                if c in (ord('"'), ord("'")):
                    quote = c
                else:
                    token.append(c)
        args.append(bytes(token))


def quote_arg(arg: bytes) -> bytes:
    """Quote ``arg`` so that ``split_args`` returns it unchanged (like ``sdscatrepr``)."""
    out = bytearray(b'"')
    for c in arg:
        if c in (ord('"'), 0x5C):
            out += b"\\" + bytes([c])
        elif 0x20 <= c < 0x7F:
            out.append(c)
        else:
            out += b"\\x%02x" % c
    out.append(ord('"'))
    return bytes(out)
