"""The byte buffer shared by the RESP parsers, and the ``NEED_DATA`` sentinel."""

from __future__ import annotations

import enum
from typing import Final, Literal

__all__ = ["NEED_DATA", "Buffer", "NeedData"]


class _Sentinel(enum.Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = _Sentinel.NEED_DATA
"""Returned by ``next_frame`` when the buffer holds no complete frame."""
NeedData = Literal[_Sentinel.NEED_DATA]


class Buffer:
    """A byte buffer with a read position and a remembered line-end search."""

    __slots__ = ("_buf", "_needle", "_pos", "_scanned")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._needle = b""
        self._scanned = 0  # bytes after _pos known to hold no _needle

    def feed(self, data: bytes) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def __len__(self) -> int:
        return len(self._buf) - self._pos

    def find(self, needle: bytes) -> int:
        """Offset of ``needle`` from the read position, or -1; remembers misses."""
        if needle != self._needle:
            self._needle, self._scanned = needle, 0
        start = self._pos + max(0, self._scanned - len(needle) + 1)
        at = self._buf.find(needle, start)
        if at < 0:
            self._scanned = len(self._buf) - self._pos
            return -1
        return at - self._pos

    @property
    def data(self) -> bytearray:
        """The underlying bytes (read from :attr:`position` on); do not modify."""
        return self._buf

    @property
    def position(self) -> int:
        return self._pos

    def skip(self, n: int) -> None:
        """Advance the read position by ``n`` bytes."""
        self._pos += n
        self._scanned = 0

    def peek(self, offset: int) -> int:
        return self._buf[self._pos + offset]

    def take(self, n: int, skip: int = 0) -> bytes:
        """Return the next ``n`` bytes and advance past them plus ``skip`` more."""
        out = bytes(self._buf[self._pos : self._pos + n])
        self._pos += n + skip
        self._scanned = 0
        return out
