"""Typed messages between sentinels, and the client requests the core answers.

How a driver maps them to Redis's wire protocol:

=========================================  ==============================================
core                                        wire
=========================================  ==============================================
``Send(to, IsMasterDownRequest(...))``      ``SENTINEL IS-MASTER-DOWN-BY-ADDR <ip> <port>
                                            <current_epoch> <runid|*>`` on the command link
                                            to the sentinel at ``to`` (``host:port``)
its reply -> ``Received(to, IsMasterDownReply)`` ``[int 0|1, bulk leader|"*", int epoch]``;
                                            the driver copies ``master_ip/port`` from the
                                            request it sent
``Send(to, HelloMessage(payload))``          ``PUBLISH __sentinel__:hello <payload>``
``Send(to, SentinelPing())``                 ``PING``; a PONG comes back as
                                            ``Received(to, SentinelPong())``
a failed link to ``to``                     ``Received(to, PeerLinkError(kind))``
incoming ``SENTINEL IS-MASTER-DOWN-BY-ADDR`` ``ClientRequest(client, IsMasterDownRequest)``
                                            answered by ``Reply(client, IsMasterDownReply)``
incoming ``PUBLISH __sentinel__:hello m``    ``Received(client, HelloMessage(m))``
=========================================  ==============================================

In the simulator the same messages travel as ``Send``/``Received`` between nodes named
``host:port``; a ``Received`` request is answered with a ``Send`` back to its sender.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel_lab.core.replies import LinkErrorKind

__all__ = [
    "FailoverRequest",
    "HelloMessage",
    "IsMasterDownReply",
    "IsMasterDownRequest",
    "MonitorRequest",
    "PeerLinkError",
    "RemoveRequest",
    "ResetRequest",
    "SentinelPing",
    "SentinelPong",
    "SetRequest",
]


@dataclass(frozen=True, slots=True)
class IsMasterDownRequest:
    """``SENTINEL IS-MASTER-DOWN-BY-ADDR ip port epoch runid``; ``runid=None`` is ``*``
    (asking about the master without asking for a vote)."""

    master_ip: str
    master_port: int
    current_epoch: int
    runid: str | None

    def wire_args(self) -> tuple[str, ...]:
        """The command as Redis sends it."""
        return (
            "SENTINEL",
            "is-master-down-by-addr",
            self.master_ip,
            str(self.master_port),
            str(self.current_epoch),
            self.runid if self.runid is not None else "*",
        )


@dataclass(frozen=True, slots=True)
class IsMasterDownReply:
    """The 3-element answer; ``leader=None`` is ``*`` (no vote given or asked)."""

    master_ip: str
    master_port: int
    down: bool
    leader: str | None
    leader_epoch: int

    def wire_value(self) -> list[object]:
        """The reply array: ``[0|1, leader or "*", leader_epoch]``."""
        return [1 if self.down else 0, self.leader or "*", self.leader_epoch]


@dataclass(frozen=True, slots=True)
class HelloMessage:
    """A hello sent straight to a sentinel (``PUBLISH __sentinel__:hello payload``)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class SentinelPing:
    """``PING`` on the command link to another sentinel."""


@dataclass(frozen=True, slots=True)
class SentinelPong:
    """The other sentinel answered PING (any reply counts as in Redis: ``payload`` is its
    text, ``PONG`` normally)."""

    payload: str = "PONG"


@dataclass(frozen=True, slots=True)
class PeerLinkError:
    """The driver's link to another sentinel failed (refused, reset, timed out)."""

    kind: LinkErrorKind
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FailoverRequest:
    """``SENTINEL FAILOVER <name>`` as a ``ClientRequest``: a forced failover."""

    master_name: str


@dataclass(frozen=True, slots=True)
class MonitorRequest:
    """``SENTINEL MONITOR <name> <ip> <port> <quorum>`` (the driver checked the address)."""

    name: str
    host: str
    port: int
    quorum: int


@dataclass(frozen=True, slots=True)
class RemoveRequest:
    """``SENTINEL REMOVE <name>``."""

    master_name: str


@dataclass(frozen=True, slots=True)
class ResetRequest:
    """``SENTINEL RESET <pattern>``: reset every master whose name matches the glob."""

    pattern: str


@dataclass(frozen=True, slots=True)
class SetRequest:
    """``SENTINEL SET <name> <option> <value> ...`` with the pairs as sent; a last option
    without its value has ``None``."""

    master_name: str
    options: tuple[tuple[str, str | None], ...]
