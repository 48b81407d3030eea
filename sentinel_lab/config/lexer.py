"""Redis's config line syntax: splitting a line into arguments, and writing one back.

``split_args`` follows ``sdssplitargs`` in Redis 7.0.15's ``src/sds.c``: blanks separate
arguments; ``"..."`` understands ``\\n \\r \\t \\b \\a \\xHH`` and a backslash before any
other character; ``'...'`` understands only ``\\'``; a closing quote must be followed by a
blank or the end of the line; a quote may open in the middle of an argument.
``repr_arg`` follows ``sdscatrepr``; ``format_arg`` quotes only when a bare word would
not read back as the same argument.
"""

from __future__ import annotations

__all__ = ["ArgSplitError", "format_arg", "repr_arg", "split_args", "trim_line"]

_SKIP_BLANKS = frozenset(b" \t\n\v\f\r")  # C isspace() in the "C" locale
_END_OF_WORD = frozenset(b" \n\r\t")  # what ends an unquoted argument
_HEX = frozenset(b"0123456789abcdefABCDEF")
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_REPR = {
    ord("\\"): b"\\\\",
    ord('"'): b'\\"',
    10: b"\\n",
    13: b"\\r",
    9: b"\\t",
    7: b"\\a",
    8: b"\\b",
}
_TRIM = " \t\r\n"


class ArgSplitError(ValueError):
    """A line that Redis cannot split; the message is the reason."""


def trim_line(line: str) -> str:
    """The line as Redis sees it: blanks and CR/LF removed at both ends."""
    return line.strip(_TRIM)


def _decode(token: bytearray) -> str:
    try:
        return token.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArgSplitError("an argument is not valid UTF-8 once its escapes are read") from exc


def split_args(line: str) -> list[str]:
    """Split one config line into arguments, or raise :class:`ArgSplitError`."""
    data = line.encode("utf-8").split(b"\0", 1)[0]  # C strings end at the first NUL
    size = len(data)
    args: list[str] = []
    pos = 0
    while True:
        while pos < size and data[pos] in _SKIP_BLANKS:
            pos += 1
        if pos >= size:
            return args
        token = bytearray()
        in_double = in_single = False
        while True:
            ch = data[pos] if pos < size else 0
            nxt = data[pos + 1] if pos + 1 < size else 0
            if in_double:
                if (
                    ch == 0x5C
                    and nxt == ord("x")
                    and pos + 3 < size
                    and data[pos + 2] in _HEX
                    and data[pos + 3] in _HEX
                ):
                    token.append(int(data[pos + 2 : pos + 4], 16))
                    pos += 3
                elif ch == 0x5C and nxt:
                    pos += 1
                    token.append(_ESCAPES.get(nxt, nxt))
                elif ch == 0x22:
                    if nxt and nxt not in _SKIP_BLANKS:
                        raise ArgSplitError("Unbalanced quotes in configuration line")
                    pos += 1
                    break
                elif not ch:
                    raise ArgSplitError("Unbalanced quotes in configuration line")
                else:
                    token.append(ch)
            elif in_single:
                if ch == 0x5C and nxt == 0x27:
                    pos += 1
                    token.append(0x27)
                elif ch == 0x27:
                    if nxt and nxt not in _SKIP_BLANKS:
                        raise ArgSplitError("Unbalanced quotes in configuration line")
                    pos += 1
                    break
                elif not ch:
                    raise ArgSplitError("Unbalanced quotes in configuration line")
                else:
                    token.append(ch)
            elif not ch or ch in _END_OF_WORD:
                break
            elif ch == 0x22:
                in_double = True
            elif ch == 0x27:
                in_single = True
            else:
                token.append(ch)
            pos += 1
        args.append(_decode(token))


def repr_arg(value: str) -> str:
    """``value`` in double quotes, escaped as Redis's ``sdscatrepr`` writes it."""
    out = bytearray(b'"')
    for byte in value.encode("utf-8"):
        escaped = _REPR.get(byte)
        if escaped is not None:
            out += escaped
        elif 0x20 <= byte <= 0x7E:
            out.append(byte)
        else:
            out += b"\\x%02x" % byte
    out.append(0x22)
    return out.decode("ascii")


def format_arg(value: str) -> str:
    """``value`` bare when it reads back unchanged, else quoted with :func:`repr_arg`.

    Redis writes most sentinel values bare (``%s``) even when they hold a blank, which
    then fails to load; quoting only those values keeps every other line byte-identical.
    """
    if value and all(0x21 <= ord(ch) != 0x7F and ch not in "\"'" for ch in value):
        return value
    return repr_arg(value)
