"""Pub/sub routing and Redis's glob matching (``stringmatchlen``).

``stringmatch`` gives the results of Redis 7.0's ``stringmatchlen``, which differ
from ``fnmatch`` in several ways: ``\\`` escapes the next byte (also inside ``[]``),
``[^...]`` negates, a range's ends are swapped when reversed and compared as signed
C chars, an unterminated ``[`` class runs to the end of the pattern, there is no
special meaning for ``/`` or a leading ``.``, and an empty string matches only the
empty pattern (``*`` does not match ``""``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Protocol

from labkit.resp.frames import BulkString, Frame, Push

__all__ = ["PubSub", "Subscriber", "stringmatch"]


def _signed(byte: int) -> int:
    return byte - 256 if byte >= 128 else byte


def _lower(byte: int) -> int:
    return byte + 32 if 65 <= byte <= 90 else byte


@dataclass(frozen=True, slots=True)
class _Class:
    """A ``[...]`` token."""

    negate: bool
    literals: frozenset[int]  # compared as written (case folded when nocase)
    escaped: frozenset[int]  # compared exactly, even when nocase
    ranges: tuple[tuple[int, int], ...]  # signed, already swapped and folded
    nocase: bool

    def matches(self, byte: int) -> bool:
        c = _lower(byte) if self.nocase else byte
        hit = c in self.literals or byte in self.escaped
        if not hit:
            sc = _signed(c)
            hit = any(lo <= sc <= hi for lo, hi in self.ranges)
        return hit != self.negate


_STAR: Final = -1
_ANY: Final = -2
_Token = int | _Class  # a literal byte (case folded when nocase), _STAR, _ANY or a class


@lru_cache(maxsize=1024)
def _compile(pattern: bytes, nocase: bool) -> tuple[_Token, ...]:
    tokens: list[_Token] = []
    n = len(pattern)
    i = 0
    while i < n:
        c = pattern[i]
        if c == ord("*"):
            while i < n and pattern[i] == ord("*"):
                i += 1
            tokens.append(_STAR)
            continue
        if c == ord("?"):
            tokens.append(_ANY)
        elif c == ord("["):
            i = _compile_class(pattern, i + 1, nocase, tokens)
        else:
            if c == ord("\\") and n - i >= 2:
                i += 1
            tokens.append(_lower(pattern[i]) if nocase else pattern[i])
        i += 1
    return tuple(tokens)


def _compile_class(pattern: bytes, i: int, nocase: bool, tokens: list[_Token]) -> int:
    """Read a class that starts at ``i`` (after ``[``); return the index of its last byte."""
    n = len(pattern)
    negate = i < n and pattern[i] == ord("^")
    if negate:
        i += 1
    literals: set[int] = set()
    escaped: set[int] = set()
    ranges: list[tuple[int, int]] = []
    while True:
        if i < n and pattern[i] == ord("\\") and n - i >= 2:
            i += 1
            escaped.add(pattern[i])
        elif i < n and pattern[i] == ord("]"):
            break
        elif i >= n:
            i -= 1  # unterminated: the class ends with the pattern
            break
        elif n - i >= 3 and pattern[i + 1] == ord("-"):
            lo, hi = _signed(pattern[i]), _signed(pattern[i + 2])
            lo, hi = min(lo, hi), max(lo, hi)
            if nocase:
                lo, hi = _signed(_lower(lo & 0xFF)), _signed(_lower(hi & 0xFF))
            ranges.append((lo, hi))
            i += 2
        else:
            literals.add(_lower(pattern[i]) if nocase else pattern[i])
        i += 1
    tokens.append(_Class(negate, frozenset(literals), frozenset(escaped), tuple(ranges), nocase))
    return i


def _token_matches(token: _Token, byte: int, nocase: bool) -> bool:
    if isinstance(token, _Class):
        return token.matches(byte)
    if token == _ANY:
        return True
    return token == (_lower(byte) if nocase else byte)


def stringmatch(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """True when ``string`` matches the glob ``pattern`` as Redis matches it."""
    if not string:
        return not pattern
    tokens = _compile(pattern, nocase)
    ti = si = 0
    star_ti, star_si = -1, 0
    while si < len(string):
        if ti < len(tokens) and tokens[ti] == _STAR:
            star_ti, star_si = ti, si
            ti += 1
        elif ti < len(tokens) and _token_matches(tokens[ti], string[si], nocase):
            ti += 1
            si += 1
        elif star_ti >= 0:
            star_si += 1
            si, ti = star_si, star_ti + 1
        else:
            return False
    while ti < len(tokens) and tokens[ti] == _STAR:
        ti += 1
    return ti == len(tokens)


class Subscriber(Protocol):
    """What the router needs from a connection."""

    @property
    def id(self) -> int: ...

    def deliver(self, frame: Frame) -> None: ...


class PubSub:
    """Channel and pattern subscriptions of every connection of one server."""

    def __init__(self) -> None:
        self.channels: dict[bytes, dict[int, Subscriber]] = {}
        self.patterns: dict[bytes, dict[int, Subscriber]] = {}

    @staticmethod
    def _add(table: dict[bytes, dict[int, Subscriber]], key: bytes, sub: Subscriber) -> bool:
        members = table.setdefault(key, {})
        if sub.id in members:
            return False
        members[sub.id] = sub
        return True

    @staticmethod
    def _remove(table: dict[bytes, dict[int, Subscriber]], key: bytes, sub: Subscriber) -> bool:
        members = table.get(key)
        if members is None or members.pop(sub.id, None) is None:
            return False
        if not members:
            del table[key]
        return True

    def subscribe(self, sub: Subscriber, channel: bytes) -> bool:
        """Add a channel subscription; False if it existed."""
        return self._add(self.channels, channel, sub)

    def unsubscribe(self, sub: Subscriber, channel: bytes) -> bool:
        """Remove a channel subscription; False if there was none."""
        return self._remove(self.channels, channel, sub)

    def psubscribe(self, sub: Subscriber, pattern: bytes) -> bool:
        """Add a pattern subscription; False if it existed."""
        return self._add(self.patterns, pattern, sub)

    def punsubscribe(self, sub: Subscriber, pattern: bytes) -> bool:
        """Remove a pattern subscription; False if there was none."""
        return self._remove(self.patterns, pattern, sub)

    def drop(self, sub: Subscriber, channels: Iterable[bytes], patterns: Iterable[bytes]) -> None:
        """Forget a closed connection's subscriptions."""
        for channel in channels:
            self.unsubscribe(sub, channel)
        for pattern in patterns:
            self.punsubscribe(sub, pattern)

    def publish(self, channel: bytes, message: bytes) -> int:
        """Deliver to channel subscribers, then to matching patterns; return the count."""
        receivers = 0
        for sub in list(self.channels.get(channel, {}).values()):
            sub.deliver(Push((BulkString(b"message"), BulkString(channel), BulkString(message))))
            receivers += 1
        for pattern, members in list(self.patterns.items()):
            if not stringmatch(pattern, channel):
                continue
            for sub in list(members.values()):
                sub.deliver(
                    Push(
                        (
                            BulkString(b"pmessage"),
                            BulkString(pattern),
                            BulkString(channel),
                            BulkString(message),
                        )
                    )
                )
                receivers += 1
        return receivers
