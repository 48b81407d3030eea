"""``BusParser``: bytes in, messages out, for one cluster-bus link."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Final, Literal

from gossip_cluster.errors import BusProtocolError
from gossip_cluster.wire.constants import DEFAULT_MAX_FRAME_LEN, HEADER_SIZE, PREFIX
from gossip_cluster.wire.decode import check_prefix, decode_frame
from gossip_cluster.wire.messages import Message

__all__ = ["NEED_DATA", "BusParser", "NeedData"]


class _Sentinel(enum.Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = _Sentinel.NEED_DATA
"""Returned when the buffer holds no complete frame."""
NeedData = Literal[_Sentinel.NEED_DATA]


class BusParser:
    """Splits a byte stream into frames and decodes them.

    ``feed(data)`` appends bytes; ``next_message()`` returns a message or ``NEED_DATA``
    (``next_frame()`` returns the raw frame bytes instead). Like Redis's reader it checks
    the signature and ``totlen`` as soon as 8 bytes are in; those failures are fatal and
    poison the parser (every later call raises the same error). A frame that is bad in
    any other way is consumed whole before its error is raised, so parsing can go on.
    """

    __slots__ = ("_buf", "_error", "_max_frame_len", "_pos")

    def __init__(self, *, max_frame_len: int = DEFAULT_MAX_FRAME_LEN) -> None:
        if max_frame_len < HEADER_SIZE:
            raise ValueError(f"max_frame_len must be at least {HEADER_SIZE}")
        self._buf = bytearray()
        self._pos = 0
        self._max_frame_len = max_frame_len
        self._error: BusProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as a frame."""
        return len(self._buf) - self._pos

    @property
    def error(self) -> BusProtocolError | None:
        """The fatal error that poisoned this parser, if any."""
        return self._error

    def feed(self, data: bytes) -> None:
        """Append received bytes (dropped once the parser is poisoned)."""
        if self._error is not None:
            return
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next_frame(self) -> bytes | NeedData:
        """The next whole raw frame, or ``NEED_DATA``; fatal prefix errors raise."""
        if self._error is not None:
            raise self._error
        available = len(self._buf) - self._pos
        if available < PREFIX.size:
            return NEED_DATA
        sig, totlen = PREFIX.unpack_from(self._buf, self._pos)
        try:
            check_prefix(sig, totlen, self._max_frame_len)
        except BusProtocolError as exc:
            self._error = exc
            raise
        if available < totlen:
            return NEED_DATA
        start = self._pos
        self._pos += totlen
        with memoryview(self._buf) as view:
            return bytes(view[start : self._pos])

    def next_message(self) -> Message | NeedData:
        """The next decoded message, or ``NEED_DATA``; bad frames raise ``BusProtocolError``."""
        frame = self.next_frame()
        if frame is NEED_DATA:
            return NEED_DATA
        return decode_frame(frame)

    def __iter__(self) -> Iterator[Message]:
        """Every complete message buffered now; stops at ``NEED_DATA``."""
        while True:
            message = self.next_message()
            if message is NEED_DATA:
                return
            yield message
