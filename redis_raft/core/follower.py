"""Followers, pre-candidates and candidates: the roles that do not lead.

A follower appends what the leader sends (after persisting it), reports conflicts
with a hint for fast backoff, installs snapshots, and campaigns when its election
timer fires. Clients get a :class:`Redirect` to the known leader, or ``CLUSTERDOWN``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labkit.actions import Reply
from redis_raft.core.api import CLUSTERDOWN, ErrorReply, Redirect
from redis_raft.core.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    RequestVoteResponse,
    TimeoutNow,
)
from redis_raft.core.quorum import VoteResult, vote_result
from redis_raft.core.records import SnapshotRecord

if TYPE_CHECKING:
    from redis_raft.core.node import RaftCore

__all__ = ["Candidate", "Follower", "answer_not_leader"]


def answer_not_leader(core: RaftCore, client: str) -> None:
    """Redirect to the known leader, or say there is none."""
    if core.leader is not None and core.leader != core.id:
        core.out(Reply(client, Redirect(core.leader, core.term)))
    else:
        core.out(Reply(client, ErrorReply(CLUSTERDOWN)))


class Follower:
    """Follows the leader of the current term (or waits for one)."""

    name = "follower"
    char = "F"

    def __init__(self, core: RaftCore) -> None:
        self.core = core

    def tick(self) -> None:
        core = self.core
        deadline = core.election_deadline_ms
        if deadline is not None and core.now_ms >= deadline:
            if core.promotable:
                core.campaign()
            else:
                core.reset_election_timer()

    def receive(self, sender: str, message: object) -> None:
        core = self.core
        if isinstance(message, AppendEntries):
            core.heard_leader(sender)
            self._on_append(sender, message)
        elif isinstance(message, Heartbeat):
            core.heard_leader(sender)
            core.advance_commit(min(message.commit, core.log.last_index))
            core.send(sender, HeartbeatResponse(core.term, message.seq, core.log.last_index))
        elif isinstance(message, InstallSnapshot):
            core.heard_leader(sender)
            if message.meta.index > core.commit:
                core.install_snapshot(SnapshotRecord(message.meta, message.data))
            core.send(
                sender, InstallSnapshotResponse(core.term, max(core.commit, message.meta.index))
            )
        elif isinstance(message, TimeoutNow) and core.promotable:
            core.emit("+transfer-timeout-now", f"from {sender} term {core.term}")
            core.start_election(force=True)

    def _on_append(self, sender: str, m: AppendEntries) -> None:
        core = self.core
        log = core.log
        if m.prev_index < core.commit:
            # Committed here already (a late or duplicate message): skip that part.
            skip = core.commit - m.prev_index
            prev_term = log.term_at(core.commit)
            assert prev_term is not None
            m = AppendEntries(m.term, core.commit, prev_term, m.entries[skip:], m.commit)
        local_term = log.term_at(m.prev_index)
        if local_term != m.prev_term:
            if local_term is None:
                hint_index, hint_term = log.last_index + 1, None
            else:
                hint_index, hint_term = log.first_index_of_term_at(m.prev_index), local_term
            core.send(
                sender,
                AppendEntriesResponse(
                    core.term,
                    False,
                    reject_index=m.prev_index,
                    conflict_index=max(hint_index, core.commit + 1),
                    conflict_term=hint_term,
                ),
            )
            return
        new = log.new_entries(m.entries)
        if new:
            core.append_local(new)
        last_new = m.prev_index + len(m.entries)
        core.advance_commit(min(m.commit, last_new))
        core.send(sender, AppendEntriesResponse(core.term, True, index=last_new))

    def client(self, client: str, request: object) -> None:
        answer_not_leader(self.core, client)

    def on_applied(self) -> None:
        return None

    def flush(self) -> None:
        return None

    def leave(self) -> None:
        return None


class Candidate:
    """Collects votes: a pre-vote round (no term change), or a real election."""

    char = "C"

    def __init__(self, core: RaftCore, *, pre_vote: bool) -> None:
        self.core = core
        self.pre_vote = pre_vote
        self.name = "pre-candidate" if pre_vote else "candidate"
        self.char = "P" if pre_vote else "C"
        self.votes: dict[str, bool] = {}

    def tick(self) -> None:
        core = self.core
        deadline = core.election_deadline_ms
        if deadline is not None and core.now_ms >= deadline:
            core.campaign()

    def receive(self, sender: str, message: object) -> None:
        core = self.core
        if isinstance(message, RequestVoteResponse):
            if message.pre_vote != self.pre_vote:
                return
            asked = core.term + 1 if self.pre_vote else core.term
            if message.granted and message.term != asked:
                return
            self.votes[sender] = message.granted
            result = vote_result(core.config.voters, self.votes)
            if result is VoteResult.WON:
                if self.pre_vote:
                    core.start_election()
                else:
                    core.become_leader()
            elif result is VoteResult.LOST:
                core.become_follower(core.term, None, reason="lost-election")
        elif isinstance(message, AppendEntries | Heartbeat | InstallSnapshot):
            core.become_follower(core.term, sender)
            core.role.receive(sender, message)

    def client(self, client: str, request: object) -> None:
        answer_not_leader(self.core, client)

    def on_applied(self) -> None:
        return None

    def flush(self) -> None:
        return None

    def leave(self) -> None:
        return None
