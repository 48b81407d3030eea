"""MIGRATE between gossip_cluster nodes: aim the backing server's MIGRATE at the backing
server behind the destination node.

A node's backing redis-server is standalone, so its MIGRATE sends a plain RESTORE, which
the destination *node* would redirect (only RESTORE-ASKING or ASKING gets into an
importing slot). The destination's backing server takes it directly, and keys moved that
way are really moved, atomically on the source as Redis does. The source node asks the
destination node for that address with ``CLUSTER LAB-DATA-SERVER``; a node that does not
know the command (a real Redis node) gets the MIGRATE as the client wrote it.
"""

from __future__ import annotations

from collections.abc import Sequence

from gossip_cluster.dataplane import BackendConn, BackendError
from labkit.resp.frames import BulkString

__all__ = ["LOOKUP_TIMEOUT_S", "data_server_of", "retarget_migrate"]

LOOKUP_TIMEOUT_S = 2.0


def parse_address(text: str) -> tuple[str, int] | None:
    """``host:port`` as a pair, or None if it is not one."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


async def data_server_of(host: str, port: int) -> tuple[str, int] | None:
    """The data server behind the node at ``host:port``, or None (not ours, unreachable)."""
    try:
        conn = await BackendConn.open(host, port, timeout_s=LOOKUP_TIMEOUT_S)
    except BackendError:
        return None
    try:
        reply = await conn.call("CLUSTER", "LAB-DATA-SERVER", timeout_s=LOOKUP_TIMEOUT_S)
    except BackendError:
        return None
    finally:
        conn.close()
    if not isinstance(reply, BulkString):
        return None
    return parse_address(reply.value.decode("utf-8", "replace"))


async def retarget_migrate(args: Sequence[bytes]) -> list[bytes]:
    """``MIGRATE host port ...`` with host and port replaced by the destination's data
    server when the destination is a gossip_cluster node; else the arguments unchanged."""
    out = list(args)
    if len(out) < 6:
        return out
    try:
        host, port = out[1].decode("utf-8"), int(out[2])
    except (UnicodeDecodeError, ValueError):
        return out
    if not 0 < port < 65536:
        return out
    found = await data_server_of(host, port)
    if found is not None:
        out[1], out[2] = found[0].encode(), str(found[1]).encode()
    return out
