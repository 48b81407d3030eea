"""Glob matching as Redis's stringmatchlen does it, and the pub/sub router.

The table's expectations hold for real Redis 7.0 too: the realredis integration test
replays the same table through KEYS.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.resp import BulkString, Frame, Push
from labkit.resp.pubsub import PubSub, stringmatch

GLOB_TABLE: list[tuple[bytes, bytes, bool]] = [
    (b"", b"", True),
    (b"*", b"", False),
    (b"*", b"a", True),
    (b"a*", b"a", True),
    (b"a**b", b"axxb", True),
    (b"h?llo", b"hello", True),
    (b"h?llo", b"hllo", False),
    (b"h[ae]llo", b"hallo", True),
    (b"h[ae]llo", b"hillo", False),
    (b"h[^e]llo", b"hello", False),
    (b"h[^e]llo", b"hallo", True),
    (b"h[a-b]llo", b"hbllo", True),
    (b"h[b-a]llo", b"hallo", True),
    (b"\\*", b"*", True),
    (b"\\*", b"a", False),
    (b"a\\", b"a\\", True),
    (b"[abc", b"b", True),
    (b"[", b"[", False),
    (b"[^", b"x", True),
    (b"[\\]]", b"]", True),
    (b"[a-]", b"_", True),
    (b"[a-]", b"b", False),
    (b"[]a]", b"]a]", False),
    (b"[a-\xff]", b"\x80", False),
    (b"[a-\xff]", b"\xff", True),
    (b"[a-\xff]", b"0", True),
    (b"*.txt", b"dir/file.txt", True),
    (b"*", b".hidden", True),
    (b"news.*", b"news.tech", True),
    (b"a*b*c", b"abbbcbc", True),
    (b"a*b*c", b"abbbcb", False),
]


@pytest.mark.parametrize(("pattern", "string", "expected"), GLOB_TABLE)
def test_glob_table(pattern: bytes, string: bytes, expected: bool) -> None:
    assert stringmatch(pattern, string) is expected


@pytest.mark.parametrize(
    ("pattern", "string", "expected"),
    [
        (b"HELLO", b"hello", True),
        (b"h[A-Z]llo", b"hello", True),
        (b"h[\\E]llo", b"hello", False),  # an escaped byte in a class compares exactly
        (b"h[E]llo", b"hello", True),
        (b"[Z-a]", b"_", False),  # swapped first, then lowered: an empty range
    ],
)
def test_glob_nocase(pattern: bytes, string: bytes, expected: bool) -> None:
    assert stringmatch(pattern, string, nocase=True) is expected


def _signed(byte: int) -> int:
    return byte - 256 if byte > 127 else byte


def reference_match(pattern: bytes, string: bytes) -> bool:
    """A slow recursive reading of the same rules, written independently."""
    if not string:
        return not pattern

    def read_class(pi: int, byte: int) -> tuple[bool, int]:
        negate = pi < len(pattern) and pattern[pi] == ord("^")
        pi += negate
        hit = False
        while True:
            rest = len(pattern) - pi
            if rest >= 2 and pattern[pi] == ord("\\"):
                hit |= pattern[pi + 1] == byte
                pi += 2
            elif rest and pattern[pi] == ord("]"):
                return hit != negate, pi + 1
            elif not rest:
                return hit != negate, pi
            elif rest >= 3 and pattern[pi + 1] == ord("-"):
                lo, hi = sorted((_signed(pattern[pi]), _signed(pattern[pi + 2])))
                hit |= lo <= _signed(byte) <= hi
                pi += 3
            else:
                hit |= pattern[pi] == byte
                pi += 1

    @cache
    def match(pi: int, si: int) -> bool:
        if si == len(string):
            return all(c == ord("*") for c in pattern[pi:])
        if pi == len(pattern):
            return False
        c = pattern[pi]
        if c == ord("*"):
            return match(pi + 1, si) or match(pi, si + 1)
        if c == ord("?"):
            return match(pi + 1, si + 1)
        if c == ord("["):
            ok, after = read_class(pi + 1, string[si])
            return ok and match(after, si + 1)
        if c == ord("\\") and pi + 1 < len(pattern):
            pi += 1
        return pattern[pi] == string[si] and match(pi + 1, si + 1)

    return match(0, 0)


glob_alphabet = st.sampled_from([b"a", b"b", b"*", b"?", b"[", b"]", b"^", b"-", b"\\", b"\xe9"])


@settings(max_examples=1000)
@given(
    st.lists(glob_alphabet, max_size=10).map(b"".join),
    st.lists(st.sampled_from([b"a", b"b", b"-", b"]", b"\\", b"\xe9", b"*"]), max_size=8).map(
        b"".join
    ),
)
def test_glob_matches_reference(pattern: bytes, string: bytes) -> None:
    assert stringmatch(pattern, string) == reference_match(pattern, string)


def test_glob_many_stars_does_not_explode() -> None:
    assert stringmatch(b"*a" * 50 + b"b", b"a" * 200) is False
    assert stringmatch(b"*" * 10_000 + b"x", b"y" * 10_000 + b"x") is True


class Sink:
    def __init__(self, cid: int) -> None:
        self._id = cid
        self.frames: list[Frame] = []

    @property
    def id(self) -> int:
        return self._id

    def deliver(self, frame: Frame) -> None:
        self.frames.append(frame)


def test_pubsub_router() -> None:
    router = PubSub()
    a, b = Sink(1), Sink(2)
    assert router.subscribe(a, b"news") and not router.subscribe(a, b"news")
    assert router.psubscribe(b, b"n*") and router.psubscribe(a, b"ne?s")
    assert router.publish(b"news", b"hi") == 3
    assert a.frames == [
        Push((BulkString(b"message"), BulkString(b"news"), BulkString(b"hi"))),
        Push(
            (BulkString(b"pmessage"), BulkString(b"ne?s"), BulkString(b"news"), BulkString(b"hi"))
        ),
    ]
    assert len(b.frames) == 1
    router.drop(a, [b"news"], [b"ne?s"])
    assert router.publish(b"news", b"x") == 1
    assert not router.unsubscribe(a, b"news") and not router.punsubscribe(a, b"nothing")
    assert router.channels == {} and list(router.patterns) == [b"n*"]
