"""Commands the sentinel sends: PING, hello, and the SLAVEOF transaction."""

from __future__ import annotations

from sentinel_lab.core.config import HELLO_CHANNEL
from sentinel_lab.core.context import Context
from sentinel_lab.core.hello import Hello
from sentinel_lab.core.instances import Instance, Master, Peer
from sentinel_lab.core.messages import HelloMessage, SentinelPing

__all__ = [
    "SLAVEOF_TRANSACTION_LENGTH",
    "force_hello_update",
    "hello_for",
    "send_hello",
    "send_hellos_now",
    "send_ping",
    "send_slaveof",
]

SLAVEOF_TRANSACTION_LENGTH = 6
"""MULTI, SLAVEOF, CONFIG REWRITE, CLIENT KILL TYPE normal, CLIENT KILL TYPE pubsub, EXEC."""


def send_ping(ctx: Context, item: Instance | Peer) -> None:
    """PING; the oldest unanswered PING's time is kept in ``act_ping_ms``."""
    link = item.link
    if isinstance(item, Peer):
        ctx.send(item.addr, SentinelPing())
    else:
        ctx.command(item.addr, "PING")
    link.pending_commands += 1
    link.last_ping_ms = ctx.now
    if link.act_ping_ms is None:
        link.act_ping_ms = ctx.now


def hello_for(ctx: Context, master: Master) -> Hello:
    """Our hello about ``master`` (its current address and config epoch)."""
    host, port = master.current_address()
    return Hello(
        ctx.announce_ip,
        ctx.announce_port,
        ctx.myid,
        ctx.current_epoch,
        master.name,
        host,
        port,
        master.config_epoch,
    )


def send_hello(ctx: Context, item: Instance | Peer, master: Master) -> bool:
    """PUBLISH our hello to an instance's hello channel, or send it to a sentinel."""
    if item.link.disconnected:
        return False
    payload = hello_for(ctx, master).encode()
    if isinstance(item, Peer):
        ctx.send(item.addr, HelloMessage(payload))
    else:
        ctx.command(item.addr, "PUBLISH", HELLO_CHANNEL, payload)
        item.link.pending_commands += 1
    item.last_pub_ms = ctx.now
    return True


def force_hello_update(ctx: Context, master: Master) -> None:
    """Make every instance of ``master`` due for a hello now."""
    step = ctx.timing.publish_period_ms + 1
    items: list[Instance | Peer] = [master, *master.replicas.values(), *master.sentinels.values()]
    for item in items:
        if item.last_pub_ms >= step:
            item.last_pub_ms -= step


def send_hellos_now(ctx: Context, master: Master) -> None:
    """Our hello about ``master`` to every connected instance and sentinel at once (Redis
    makes them due and sends them at its next timer run); the others stay due."""
    force_hello_update(ctx, master)
    items: list[Instance | Peer] = [master, *master.replicas.values(), *master.sentinels.values()]
    for item in items:
        send_hello(ctx, item, master)


def send_slaveof(ctx: Context, item: Instance, host: str | None, port: int | None) -> bool:
    """The SLAVEOF transaction, six commands in order on the instance's command link.

    ``host=None`` sends ``SLAVEOF NO ONE``. Replies are not checked: the effect shows
    in the next INFO. False if the link is down (nothing sent).
    """
    if item.link.disconnected:
        return False
    target = item.addr
    ctx.command(target, "MULTI")
    if host is None:
        ctx.command(target, "SLAVEOF", "NO", "ONE")
    else:
        ctx.command(target, "SLAVEOF", host, str(port))
    ctx.command(target, "CONFIG", "REWRITE")
    ctx.command(target, "CLIENT", "KILL", "TYPE", "normal")
    ctx.command(target, "CLIENT", "KILL", "TYPE", "pubsub")
    ctx.command(target, "EXEC")
    item.link.pending_commands += SLAVEOF_TRANSACTION_LENGTH
    return True
