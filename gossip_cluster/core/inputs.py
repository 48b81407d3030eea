"""What the driver feeds the cluster core besides peer frames and client requests.

Links are logical; the driver owns the TCP connections and names them:

* an **outbound** link (one this node opened) is named by the address it dialled,
  ``"ip:cport"`` (see :func:`outbound_link`). ``Send(to="ip:cport", msg)`` writes on it,
  opening it first if needed; frames read from it arrive as ``Received("ip:cport", msg)``.
* an **inbound** link (one a peer opened) is named ``"in:<peer ip>:<peer port>"``,
  optionally followed by ``"@<local ip>"`` (the address the peer dialled, which a MEET uses
  to learn our own IP). The core only replies on it: ``Send(to="in:...", Pong)``.
* ``Send(to=link, CloseLink())`` asks the driver to close a link; ``LinkDown(link)`` tells
  the core that a link broke (connect refused, reset, EOF).

Client commands arrive as ``ClientRequest(client, request)`` with one of the request
dataclasses below, or a ``ClusterCommand`` holding the raw ``CLUSTER ...`` arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AddSlots",
    "BumpEpoch",
    "CloseLink",
    "ClusterCommand",
    "CommandError",
    "DelSlots",
    "Failover",
    "FlushSlots",
    "Forget",
    "LinkDown",
    "Meet",
    "Nodes",
    "Replicate",
    "ReplicationInfo",
    "Reset",
    "SetConfigEpoch",
    "SetSlot",
    "Status",
    "WritesPaused",
    "inbound_link",
    "is_inbound",
    "link_ips",
    "outbound_link",
]


# -- driver inputs ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LinkDown:
    """The connection named ``link`` is gone (the core forgets it; the cron reconnects)."""

    link: str


@dataclass(frozen=True, slots=True)
class ReplicationInfo:
    """What the backing redis-server says about replication, as of ``now_ms`` of the step.

    ``offset`` is the replica's processed offset (``slave_repl_offset``) or, on a master,
    ``master_repl_offset``. ``master_link_up`` and ``since_ms`` give the data age: the time
    of the last interaction with the master when the link is up, or the time it went down.
    """

    offset: int
    master_link_up: bool = True
    since_ms: int = 0


@dataclass(frozen=True, slots=True)
class WritesPaused:
    """The backing server ran the core's ``CLIENT PAUSE <ms> WRITE`` (a manual failover's
    pause on the master); ``offset`` is its ``master_repl_offset`` read after the pause, so
    no write that a client saw acknowledged lies beyond it."""

    offset: int


@dataclass(frozen=True, slots=True)
class CloseLink:
    """Not a bus frame: ``Send(to=link, CloseLink())`` asks the driver to close ``link``."""


# -- client requests -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Meet:
    """CLUSTER MEET ip port [cport]; cport defaults to port + 10000."""

    ip: str
    port: int
    cport: int | None = None


@dataclass(frozen=True, slots=True)
class AddSlots:
    """CLUSTER ADDSLOTSRANGE: inclusive ranges of slots for myself."""

    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Replicate:
    """CLUSTER REPLICATE node-id."""

    node: str


@dataclass(frozen=True, slots=True)
class SetConfigEpoch:
    """CLUSTER SET-CONFIG-EPOCH epoch (only on a fresh node)."""

    epoch: int


@dataclass(frozen=True, slots=True)
class Failover:
    """CLUSTER FAILOVER [FORCE|TAKEOVER]; ``option`` is "", "FORCE" or "TAKEOVER"."""

    option: str = ""


@dataclass(frozen=True, slots=True)
class Nodes:
    """CLUSTER NODES: the reply is the text, one line per node."""


@dataclass(frozen=True, slots=True)
class DelSlots:
    """CLUSTER DELSLOTS / DELSLOTSRANGE: inclusive ranges of slots to unassign."""

    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class FlushSlots:
    """CLUSTER FLUSHSLOTS; ``db_keys`` is the backing server's DBSIZE (it must be 0)."""

    db_keys: int = 0


@dataclass(frozen=True, slots=True)
class SetSlot:
    """CLUSTER SETSLOT slot IMPORTING|MIGRATING|NODE node-id, or STABLE.

    ``keys_in_slot`` is what the backing server holds in ``slot`` (countKeysInSlot), which
    the driver looks up before a NODE action; the core itself does no I/O."""

    slot: int
    action: str
    """"IMPORTING", "MIGRATING", "STABLE" or "NODE"."""
    node: str = ""
    keys_in_slot: int = 0


@dataclass(frozen=True, slots=True)
class BumpEpoch:
    """CLUSTER BUMPEPOCH: the reply is a Status ``BUMPED <epoch>`` or ``STILL <epoch>``."""


@dataclass(frozen=True, slots=True)
class Forget:
    """CLUSTER FORGET node-id: delete it and refuse it in gossip for 60 s."""

    node: str


@dataclass(frozen=True, slots=True)
class Reset:
    """CLUSTER RESET [SOFT|HARD]; ``db_keys`` is the backing server's DBSIZE."""

    hard: bool = False
    db_keys: int = 0


@dataclass(frozen=True, slots=True)
class Status:
    """A status reply other than OK (``+BUMPED 5``); ``text`` is without the ``+``."""

    text: str


@dataclass(frozen=True, slots=True)
class ClusterCommand:
    """Raw ``CLUSTER <args...>`` arguments; parsed into one of the requests above."""

    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CommandError:
    """An error reply; ``message`` is Redis's text without the leading ``-``."""

    message: str


# -- link names ------------------------------------------------------------------------------
def outbound_link(ip: str, cport: int) -> str:
    """The name of the outbound link to ``ip:cport``."""
    return f"{ip}:{cport}"


def inbound_link(peer_ip: str, peer_port: int, local_ip: str = "") -> str:
    """The name a driver gives an inbound link."""
    tail = f"@{local_ip}" if local_ip else ""
    return f"in:{peer_ip}:{peer_port}{tail}"


def is_inbound(link: str) -> bool:
    """Whether ``link`` names an inbound link."""
    return link.startswith("in:")


def link_ips(link: str) -> tuple[str, str]:
    """(peer ip, local ip) of a link name; local is "" when the driver did not say."""
    body = link[3:] if is_inbound(link) else link
    body, _, local = body.partition("@")
    peer, _, _ = body.rpartition(":")
    return peer, local
