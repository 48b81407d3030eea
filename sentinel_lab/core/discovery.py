"""Hello messages in: discovering sentinels, adopting epochs and newer configurations."""

from __future__ import annotations

from sentinel_lab.core.context import NOTICE, WARNING, Context
from sentinel_lab.core.errors import HelloFormatError
from sentinel_lab.core.hello import Hello, parse_hello
from sentinel_lab.core.instances import Link, Master, Peer
from sentinel_lab.core.table import add_peer, release_peer, reset_master_and_change_address

__all__ = ["on_hello_payload", "process_hello", "update_address_in_all_masters"]


def on_hello_payload(ctx: Context, payload: bytes, links: dict[str, Link]) -> None:
    """A hello from a hello channel or straight from a sentinel. Our own hellos (any
    payload holding our id) and malformed ones are dropped."""
    if ctx.myid.encode() in payload:
        return
    try:
        hello = parse_hello(payload)
    except HelloFormatError:
        return
    process_hello(ctx, hello, links)


def _remove_runid(master: Master, runid: str, links: dict[str, Link]) -> int:
    gone = [key for key, peer in master.sentinels.items() if peer.runid == runid]
    for key in gone:
        release_peer(master.sentinels.pop(key), links)
    return len(gone)


def _same_addr(peer: Peer, host: str, port: int) -> bool:
    return peer.port == port and peer.host.lower() == host.lower()


def update_address_in_all_masters(
    ctx: Context, master: Master, peer: Peer, links: dict[str, Link]
) -> int:
    """``sentinelUpdateSentinelAddressInAllMasters``: ``peer`` (just re-added to
    ``master`` at its new address) moves to that address in every other master that
    knows its runid; the old links are dropped. ``+sentinel-address-update`` (with the
    count) if any moved; the count."""
    moved = 0
    for other in ctx.masters.values():
        match = other.sentinels.get(peer.runid)
        if other is master or match is None:
            continue
        release_peer(match, links)
        match.host, match.port = peer.host, peer.port
        match.link = peer.link
        peer.link.refcount += 1
        moved += 1
    if moved:
        ctx.emit(
            NOTICE,
            "+sentinel-address-update",
            peer,
            f"{moved} additional matching instances",
            master=master,
        )
    return moved


def process_hello(ctx: Context, hello: Hello, links: dict[str, Link]) -> None:
    """``sentinelProcessHelloMessage``: learn the sender, its epoch, and its config."""
    master = ctx.masters.get(hello.master_name)
    if master is None:
        return
    peer = master.sentinels.get(hello.runid)
    if peer is not None and not _same_addr(peer, hello.ip, hello.port):
        peer = None
    if peer is None:
        removed = _remove_runid(master, hello.runid, links)
        if removed:
            ctx.emit(
                NOTICE,
                "+sentinel-address-switch",
                master,
                f"ip {hello.ip} port {hello.port} for {hello.runid}",
            )
        else:
            other = next(
                (p for p in master.sentinels.values() if _same_addr(p, hello.ip, hello.port)),
                None,
            )
            if other is not None:
                ctx.emit(NOTICE, "+sentinel-invalid-addr", other, master=master)
                for each in ctx.masters.values():
                    _remove_runid(each, other.runid, links)
        peer = add_peer(ctx, master, hello.runid, hello.ip, hello.port, links)
        if not removed:
            ctx.emit(NOTICE, "+sentinel", peer, master=master)
        else:
            update_address_in_all_masters(ctx, master, peer, links)
        ctx.flush_config()
    if hello.current_epoch > ctx.current_epoch:
        ctx.set_epoch(hello.current_epoch, master)
    if master.config_epoch < hello.master_config_epoch:
        master.config_epoch = hello.master_config_epoch
        if hello.master_port != master.port or hello.master_ip.lower() != master.host.lower():
            ctx.emit(WARNING, "+config-update-from", peer, master=master)
            ctx.emit(
                WARNING,
                "+switch-master",
                None,
                f"{master.name} {master.host} {master.port} {hello.master_ip} {hello.master_port}",
                about=master,
            )
            old = (master.host, master.port)
            reset_master_and_change_address(ctx, master, hello.master_ip, hello.master_port, links)
            ctx.client_reconfig(master, "observer", old, (master.host, master.port))
    peer.last_hello_ms = ctx.now
