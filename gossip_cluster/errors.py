"""Errors of ``gossip_cluster``: one root, ``GossipClusterError``, and typed subclasses."""

from __future__ import annotations

import enum

from labkit.errors import LabError

__all__ = ["BusEncodeError", "BusProtocolError", "GossipClusterError", "ProtocolErrorReason"]


class GossipClusterError(LabError):
    """Root of every error ``gossip_cluster`` raises on purpose."""


class ProtocolErrorReason(enum.StrEnum):
    """Why a cluster-bus frame was refused; the value is a stable short code."""

    BAD_SIGNATURE = "bad-signature"
    """The first 4 bytes are not ``RCmb`` (Redis closes the link)."""
    FRAME_TOO_SHORT = "frame-too-short"
    """``totlen`` is below the 2256-byte header (Redis closes the link)."""
    FRAME_TOO_LONG = "frame-too-long"
    """``totlen`` is above this parser's limit (Redis has none; we refuse to buffer it)."""
    BAD_VERSION = "bad-version"
    """``ver`` is not 1 (Redis ignores the packet)."""
    LENGTH_MISMATCH = "length-mismatch"
    """``totlen`` differs from the length the type and counts imply (Redis drops it)."""
    TRUNCATED_GOSSIP = "truncated-gossip"
    """``count`` gossip entries do not fit in ``totlen``."""
    TRUNCATED_EXTENSION = "truncated-extension"
    """An extension runs past ``totlen`` (Redis drops the packet)."""
    BAD_EXTENSION_PADDING = "bad-extension-padding"
    """An extension length is not a multiple of 8 (Redis drops the packet)."""
    SHORT_EXTENSION = "short-extension"
    """An extension is shorter than its own 8-byte header, or than its fixed body."""
    EXTENSIONS_WITHOUT_FLAG = "extensions-without-flag"
    """An extension count without the EXT_DATA message flag (Redis would read past the end)."""


class BusProtocolError(GossipClusterError):
    """The peer sent bytes that are not a valid cluster-bus frame.

    ``reason`` is a :class:`ProtocolErrorReason`; ``message`` says what was wrong with
    the numbers involved. ``fatal`` is true when the byte stream cannot be re-synchronised
    (bad signature or length prefix): the parser is then poisoned and raises the same
    error again. Otherwise the bad frame was consumed whole and parsing may go on; Redis
    itself drops such a packet and keeps the link.
    """

    def __init__(self, reason: ProtocolErrorReason, message: str, *, fatal: bool = False) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message
        self.fatal = fatal


class BusEncodeError(GossipClusterError, ValueError):
    """A message cannot be written as a cluster-bus frame (a field out of range, ...)."""
