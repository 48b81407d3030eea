"""Errors of ``labkit.resp``: one root, ``RespError``, and typed subclasses."""

from __future__ import annotations

__all__ = [
    "CommandError",
    "RespEncodeError",
    "RespError",
    "RespProtocolError",
    "ServerStateError",
]


class RespError(Exception):
    """Root of every error raised by ``labkit.resp``."""


class RespProtocolError(RespError):
    """The peer sent bytes that are not valid RESP.

    ``message`` is the text Redis (for requests) or hiredis (for replies) would use,
    for example ``Protocol error: invalid multibulk length``. A parser that raised
    this is poisoned: every later call raises the same error again.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RespEncodeError(RespError, ValueError):
    """A frame cannot be written as RESP (for example ``\\r\\n`` inside a simple string)."""


class CommandError(RespError):
    """Raised by a command handler to answer with an error reply.

    ``reply`` is the full error text including its code, e.g. ``ERR syntax error``
    or ``NOAUTH Authentication required.``.
    """

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class ServerStateError(RespError):
    """The server was used in a state that does not allow it (e.g. not started)."""
