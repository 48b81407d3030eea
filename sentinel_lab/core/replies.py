"""The values a Redis reply can take when it reaches the core (``RedisReply.value``).

A driver translates what its client library gives it into these:

* a status reply -> ``str`` (``"PONG"``, ``"OK"``);
* a bulk string -> ``bytes`` (an INFO text); an integer -> ``int``; an array -> ``list``
  or ``tuple``; nil -> ``None``;
* an error reply -> :class:`ErrorReply` (Redis's text without the leading ``-``);
* no reply because the connection failed -> :class:`LinkError`.

A server that is paused gives no reply at all: the driver passes nothing, and the
core's timers notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ErrorReply",
    "LinkError",
    "LinkErrorKind",
    "is_valid_ping_reply",
    "reply_text",
]

LinkErrorKind = Literal["refused", "reset", "timeout", "closed"]


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An error reply, e.g. ``ErrorReply("LOADING Redis is loading the dataset in memory")``."""

    text: str

    @property
    def code(self) -> str:
        """The first word (``LOADING``, ``MASTERDOWN``, ``ERR``)."""
        return self.text.split(" ", 1)[0]


@dataclass(frozen=True, slots=True)
class LinkError:
    """The command got no reply because the link failed: refused, reset, timed out."""

    kind: LinkErrorKind
    detail: str = ""


def reply_text(value: object) -> str | None:
    """The text of a status, error or bulk reply; None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, ErrorReply):
        return value.text
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return None


_VALID_PING_PREFIXES = ("PONG", "LOADING", "MASTERDOWN")


def is_valid_ping_reply(value: object) -> bool:
    """Whether a PING reply proves the instance is available: PONG, -LOADING, -MASTERDOWN.

    Redis compares prefixes of status and error replies only (``strncmp``).
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, ErrorReply):
        text = value.text
    else:
        return False
    return text.startswith(_VALID_PING_PREFIXES)
