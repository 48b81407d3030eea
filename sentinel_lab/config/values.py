"""Value checks shared by the server and sentinel directive handlers.

Redis reads most sentinel numbers with ``atoi``/``strtoull``, which turn ``"abc"`` into
0 without a word. We refuse anything that is not a plain decimal integer, and say what
Redis would have read, so a typo never becomes a silent 0.
"""

from __future__ import annotations

import re
import socket

__all__ = [
    "BadValueError",
    "atoi",
    "is_numeric_host",
    "parse_c_int",
    "parse_redis_ll",
    "parse_unsigned",
    "yes_no",
]

_DECIMAL = re.compile(r"[+-]?[0-9]+\Z")
_UNSIGNED = re.compile(r"[0-9]+\Z")
_STRING2LL = re.compile(r"(?:0|-?[1-9][0-9]*)\Z")
_ATOI_PREFIX = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_ULL_MAX = 2**64 - 1


class BadValueError(ValueError):
    """A value that does not parse; ``reason`` and ``hint`` go into the config error."""

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


def atoi(text: str) -> int:
    """What C's ``atoi`` makes of ``text`` (0 when it starts with no number)."""
    match = _ATOI_PREFIX.match(text)
    return int(match.group(1)) if match else 0


def parse_c_int(text: str, reason: str) -> int:
    """A decimal that fits a C ``int``, where Redis calls ``atoi``; else ``reason``."""
    if not _DECIMAL.match(text):
        raise BadValueError(reason, f"{text!r} is not an integer; Redis would read {atoi(text)}")
    value = int(text)
    if not _INT_MIN <= value <= _INT_MAX:
        raise BadValueError(reason, f"{text} does not fit a 32-bit integer")
    return value


def parse_unsigned(text: str, reason: str) -> int:
    """A decimal from 0 to 2**64-1, where Redis calls ``strtoull``; else ``reason``."""
    if not _UNSIGNED.match(text) or int(text) > _ULL_MAX:
        raise BadValueError(reason, f"{text!r} is not an unsigned 64-bit integer")
    return int(text)


def parse_redis_ll(text: str) -> int:
    """Redis's strict ``string2ll``: no sign but ``-``, no leading zeros, no blanks."""
    if not _STRING2LL.match(text) or not -(2**63) <= int(text) < 2**63:
        raise BadValueError("argument couldn't be parsed into an integer")
    return int(text)


def yes_no(text: str) -> bool | None:
    """Redis's ``yesnotoi``: ``yes``/``no`` in any case, else None."""
    lowered = text.lower()
    if lowered == "yes":
        return True
    if lowered == "no":
        return False
    return None


def is_numeric_host(host: str) -> bool:
    """Whether ``host`` is an IP literal, as ``getaddrinfo(AI_NUMERICHOST)`` decides.

    This is what Redis accepts when ``resolve-hostnames`` is off; no DNS query is made.
    """
    if not host or "\x00" in host:
        return False
    try:
        socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        return False
    return True
