"""Membership and leadership commands of a node (single-server changes, as RedisRaft).

* ``RAFT.NODE ADD <id> <host:port>``: replicate the new member's address (a write of
  ``HSET __raft_nodes <id> <host:port>`` to the backing servers, so every node, and every
  node's next start, can reach it), then add it as a non-voting learner. Start the new
  node first with ``--join`` (no membership of its own) and ``--peers`` naming itself
  and the members.
* ``RAFT.NODE PROMOTE <id>``: make the learner a voter. Refused with ``-ERR learner <id>
  is not caught up (...)`` until its log matches the leader's commit index: retry.
* ``RAFT.NODE REMOVE <id>``: remove a voter or learner (the leader may remove itself and
  then steps down once the change commits).
* ``RAFT.NODE LIST``: ``[id, address, voter|learner]`` for each member.
* ``RAFT.TRANSFER-LEADER [<id>]`` (also ``RAFT.TRANSFER_LEADER``, RedisRaft's spelling):
  hand leadership to the voter ``<id>`` (default: the most caught-up one) and answer
  ``+OK`` once that node leads, or ``-ERR`` if it did not within two election timeouts.

One change at a time: a second one before the first commits gets ``-ERR a configuration
change is already in progress``. On a follower these commands go to the leader as data
commands do (proxied, or ``-MOVED``).
"""

from __future__ import annotations

import asyncio
import time

from labkit.resp.frames import OK, Array, Frame, SimpleError, bulk, error
from redis_raft.core import (
    AddLearner,
    ErrorReply,
    PromoteLearner,
    Redirect,
    RemoveNode,
    TransferLeadership,
    Write,
)
from redis_raft.core.leader import Leader
from redis_raft.driver.node import NODES_KEY, RaftNode
from redis_raft.statemachine import encode_commands

__all__ = ["NODE_USAGE", "node_command", "transfer_leader"]

NODE_USAGE = "ERR usage: RAFT.NODE ADD <id> <host:port> | PROMOTE <id> | REMOVE <id> | LIST"


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _valid_id(node: str) -> bool:
    return 0 < len(node) <= 64 and node.replace("-", "").replace("_", "").isalnum()


def _not_leader(node: RaftNode) -> Redirect | None:
    core = node.core
    if core.is_leader:
        return None
    return Redirect(core.leader or "", core.term)


def _reply(value: object) -> Frame:
    if value is None:
        return error("TIMEOUT the change may or may not have been applied")
    if isinstance(value, ErrorReply):
        return error(value.text)
    if isinstance(value, SimpleError):
        return value
    return OK


async def node_command(node: RaftNode, args: list[bytes]) -> Frame | Redirect:
    """``RAFT.NODE ...``; a :class:`Redirect` when this node is not the leader."""
    sub = args[1].lower() if len(args) > 1 else b""
    if sub == b"list" and len(args) == 2:
        return _list(node)
    if sub not in (b"add", b"promote", b"remove") or len(args) != (4 if sub == b"add" else 3):
        return error(NODE_USAGE)
    member = _text(args[2])
    if not _valid_id(member):
        return error(f"ERR node id {member[:64]!r} must be letters, digits, '-' or '_'")
    if sub == b"add":
        host, colon, port = _text(args[3]).rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            return error(f"ERR {_text(args[3])[:128]!r} is not HOST:PORT")
        if node.core.config.is_member(member):
            return error(f"ERR {member} is already a member")
    redirect = _not_leader(node)
    if redirect is not None:
        return redirect
    if sub == b"add":
        node.learn_address(member, host, int(port))
        record = encode_commands(
            [[b"HSET", NODES_KEY, member.encode(), f"{host}:{port}".encode()]], transaction=False
        )
        stored = await node.request(Write(record))
        if stored is None or isinstance(stored, ErrorReply | Redirect | SimpleError):
            return error(f"ERR the address of {member} was not stored: {_describe(stored)}")
        return _reply(await node.request(AddLearner(member)))
    if sub == b"promote":
        return _reply(await node.request(PromoteLearner(member)))
    return _reply(await node.request(RemoveNode(member)))


def _describe(value: object) -> str:
    if value is None:
        return "timed out"
    if isinstance(value, ErrorReply):
        return value.text
    if isinstance(value, Redirect):
        return "leadership moved"
    return str(value)


def _list(node: RaftNode) -> Frame:
    config = node.core.config
    rows = []
    for member in config.members:
        kind = "voter" if config.is_voter(member) else "learner"
        address = node.address_of(member) or ""
        if member == node.options.node_id:
            address = f"{node.options.bind}:{node.options.port}"
        rows.append(Array((bulk(member), bulk(address), bulk(kind))))
    return Array(tuple(rows))


def _best_follower(node: RaftNode) -> str | None:
    role = node.core.role
    if not isinstance(role, Leader):
        return None
    voters = [v for v in node.core.config.voters if v != node.core.id and v in role.progress]
    return max(voters, key=lambda v: (role.progress[v].match, v), default=None)


async def transfer_leader(node: RaftNode, args: list[bytes]) -> Frame | Redirect:
    """``RAFT.TRANSFER-LEADER [<id>]``; waits until the target leads (bounded)."""
    if len(args) > 2:
        return error("ERR usage: RAFT.TRANSFER-LEADER [<node id>]")
    redirect = _not_leader(node)
    if redirect is not None:
        return redirect
    target = _text(args[1]) if len(args) == 2 else _best_follower(node)
    if target is None:
        return error("ERR no other voter to transfer leadership to")
    started = await node.request(TransferLeadership(target))
    if started is None or isinstance(started, ErrorReply):
        return _reply(started)
    deadline = time.monotonic() + 2 * node.options.election_timeout_ms / 1000
    while time.monotonic() < deadline:
        if node.core.leader == target and not node.core.is_leader:
            return OK
        await asyncio.sleep(0.01)
    return error(f"ERR leadership transfer to {target} did not complete in time")
