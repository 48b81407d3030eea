"""ODOWN, asking the other sentinels, voting, and counting votes for a leader."""

from __future__ import annotations

from sentinel_lab.core import quorum
from sentinel_lab.core.context import WARNING, Context
from sentinel_lab.core.instances import FailoverState, Master
from sentinel_lab.core.messages import IsMasterDownReply, IsMasterDownRequest
from sentinel_lab.core.table import find_master_by_addr

__all__ = [
    "answer_is_master_down",
    "ask_master_state",
    "check_odown",
    "get_leader",
    "on_is_master_down_reply",
    "vote_leader",
]


def check_odown(ctx: Context, master: Master) -> None:
    """ODOWN when this sentinel sees SDOWN and, with the others saying down, reaches quorum."""
    agreeing = 0
    odown = False
    if master.s_down:
        agreeing = sum(1 for peer in master.sentinels.values() if peer.master_down)
        odown = quorum.odown_reached(agreeing, master.quorum)
    if odown:
        if not master.o_down:
            ctx.emit(WARNING, "+odown", master, f"#quorum {1 + agreeing}/{master.quorum}")
            master.o_down = True
            master.o_down_since_ms = ctx.now
    elif master.o_down:
        ctx.emit(WARNING, "-odown", master)
        master.o_down = False


def ask_master_state(ctx: Context, master: Master, *, forced: bool) -> None:
    """Expire old answers; while SDOWN, ask each connected sentinel once per ask period
    (asking for its vote once a failover of ours is under way)."""
    now = ctx.now
    timing = ctx.timing
    for peer in master.sentinels.values():
        elapsed = now - peer.last_master_down_reply_ms
        if elapsed > timing.master_down_validity_ms:
            peer.master_down = False
            peer.leader = None
        if not master.s_down or peer.link.disconnected:
            continue
        if not forced and elapsed < timing.ask_period_ms:
            continue
        runid = ctx.myid if master.failover_state > FailoverState.NONE else None
        ctx.send(
            peer.addr,
            IsMasterDownRequest(master.host, master.port, ctx.current_epoch, runid),
        )


def on_is_master_down_reply(ctx: Context, sender: str, reply: IsMasterDownReply) -> Master | None:
    """Record a sentinel's answer (and its vote, if it gave one); the master it is
    about, or None if we do not monitor it."""
    master = find_master_by_addr(ctx, reply.master_ip, reply.master_port)
    if master is None:
        return None
    for peer in master.sentinels.values():
        if peer.addr != sender:
            continue
        peer.last_master_down_reply_ms = ctx.now
        peer.master_down = reply.down
        if reply.leader is not None:
            peer.leader = reply.leader
            peer.leader_epoch = reply.leader_epoch
    return master


def vote_leader(
    ctx: Context, master: Master, req_epoch: int, req_runid: str
) -> tuple[str | None, int]:
    """Vote for ``req_runid`` in ``req_epoch`` if we may, else repeat our vote.

    A higher epoch is adopted first. The vote is granted only if our last vote for this
    master is from an older epoch and our epoch is not newer than the request; it is
    persisted before anything else is done with it.
    """
    if req_epoch > ctx.current_epoch:
        ctx.set_epoch(req_epoch, master)
    if ctx.may_grant_vote(master.leader_epoch, req_epoch):
        master.leader = req_runid
        master.leader_epoch = ctx.current_epoch
        ctx.flush_config()
        ctx.emit(
            WARNING,
            "+vote-for-leader",
            None,
            f"{req_runid} {master.leader_epoch}",
            about=master,
        )
        if req_runid.lower() != ctx.myid.lower():
            master.failover_start_ms = ctx.now + ctx.rng.randrange(ctx.timing.max_desync_ms)
    return master.leader, master.leader_epoch


def answer_is_master_down(ctx: Context, request: IsMasterDownRequest) -> IsMasterDownReply:
    """Our answer to SENTINEL IS-MASTER-DOWN-BY-ADDR (0 while in TILT)."""
    master = find_master_by_addr(ctx, request.master_ip, request.master_port)
    down = master is not None and master.s_down and not ctx.tilt
    leader: str | None = None
    leader_epoch = 0
    if master is not None and request.runid is not None:
        leader, leader_epoch = vote_leader(ctx, master, request.current_epoch, request.runid)
    return IsMasterDownReply(request.master_ip, request.master_port, down, leader, leader_epoch)


def get_leader(ctx: Context, master: Master, epoch: int) -> str | None:
    """The leader of ``epoch`` if one has a majority of voters and the quorum.

    Votes of other sentinels count if they are for our current epoch. We vote too:
    for the sentinel most voted for, or for ourselves if nobody has votes.
    """
    voters = len(master.sentinels) + 1
    counts = quorum.count_votes(
        peer.leader
        for peer in master.sentinels.values()
        if peer.leader is not None and peer.leader_epoch == ctx.current_epoch
    )
    winner = max(counts, key=lambda runid: counts[runid]) if counts else None
    myvote, leader_epoch = vote_leader(ctx, master, epoch, winner or ctx.myid)
    if myvote is not None and leader_epoch == epoch:
        counts[myvote] = counts.get(myvote, 0) + 1
    return ctx.leader_from_votes(counts, voters, master.quorum)
