"""The leader: replication with batching and pipelining, commit, reads, client requests.

On election the leader appends a no-op of its term; entries of earlier terms commit
only through it (Raft's Figure 8 rule). Followers are probed until their log matches,
then replicated to optimistically. Heartbeats carry a sequence number that confirms
ReadIndex reads and, acknowledged by a majority, the lease. With ``check_quorum`` a
leader that heard from no majority within an election timeout steps down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labkit.actions import Reply
from redis_raft.core.api import (
    CONFIG_PENDING,
    NOREPLICAS,
    TRYAGAIN_TRANSFER,
    AddLearner,
    ErrorReply,
    PromoteLearner,
    Read,
    RemoveNode,
    TransferLeadership,
    Write,
)
from redis_raft.core.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    TimeoutNow,
)
from redis_raft.core.progress import Mode, Progress
from redis_raft.core.quorum import has_quorum, quorum_value
from redis_raft.core.reads import PendingRead, ReadQueue
from redis_raft.core.records import Config, Entry

if TYPE_CHECKING:
    from redis_raft.core.node import RaftCore

__all__ = ["Leader"]

_SEQ_HISTORY = 256  # heartbeat send times kept for leases


class Leader:
    """Leads the current term."""

    name = "leader"
    char = "L"

    def __init__(self, core: RaftCore) -> None:
        self.core = core
        self.progress: dict[str, Progress] = {}
        self.reads = ReadQueue()
        self.seq = 0
        self.seq_sent_ms: dict[int, int] = {}
        self.next_heartbeat_ms = core.now_ms
        self.quorum_check_ms = core.now_ms + core.settings.election_timeout_ms
        self.transfer_to: str | None = None
        self.transfer_deadline_ms = 0
        self.lease_void = False  # set once a transfer sent TimeoutNow
        self.dirty = False  # new entries to send at the end of the step
        self.commit_untold = False  # the commit index moved since the last heartbeat

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Set up progress, append the no-op, start replicating."""
        core = self.core
        self.sync_progress()
        core.append_local((Entry(core.log.last_index + 1, core.term, None),))
        self.dirty = True
        self.heartbeat()

    def sync_progress(self) -> None:
        """Track exactly the members of the latest config (other than this node)."""
        members = [m for m in self.core.config.members if m != self.core.id]
        for member in members:
            if member not in self.progress:
                self.progress[member] = Progress(self.core.log.last_index + 1)
        for gone in [p for p in self.progress if p not in members]:
            del self.progress[gone]

    def leave(self) -> None:
        core = self.core
        core.fail_uncommitted_proposals()
        for read in self.reads.drain():
            core.fail_read(read.client)

    # -- time ----------------------------------------------------------------------
    def tick(self) -> None:
        core = self.core
        now = core.now_ms
        settings = core.settings
        if settings.check_quorum and now >= self.quorum_check_ms:
            active = {p for p, pr in self.progress.items() if pr.active} | {core.id}
            if not has_quorum(core.config.voters, active):
                core.become_follower(core.term, None, reason="check-quorum")
                return
            for pr in self.progress.values():
                pr.active = False
            self.quorum_check_ms = now + settings.election_timeout_ms
        if self.transfer_to is not None and now >= self.transfer_deadline_ms:
            core.emit("-transfer-aborted", f"to {self.transfer_to} term {core.term}")
            self.transfer_to = None
        if now >= self.next_heartbeat_ms:
            self.heartbeat()
            for pr in self.progress.values():
                self._retry(pr, now)
            self.dirty = True
        elif self.commit_untold:
            self.heartbeat(reschedule=False)

    def _retry(self, pr: Progress, now: int) -> None:
        timeout = self.core.settings.election_timeout_ms
        if pr.mode is Mode.PROBE:
            pr.probe_sent = False
        elif pr.mode is Mode.REPLICATE and pr.inflight and now - pr.inflight[0][1] >= timeout:
            pr.probe()  # the oldest append got no answer: lost
        elif pr.mode is Mode.SNAPSHOT and now - pr.snapshot_sent_ms >= timeout:
            pr.probe()

    def heartbeat(self, *, reschedule: bool = True) -> None:
        """Broadcast a heartbeat with a new sequence number (``reschedule``: the next
        periodic one is a heartbeat interval from now)."""
        core = self.core
        self.seq += 1
        self.seq_sent_ms[self.seq] = core.now_ms
        self.seq_sent_ms.pop(self.seq - _SEQ_HISTORY, None)
        if reschedule:
            self.next_heartbeat_ms = core.now_ms + core.settings.heartbeat_ms
        self.commit_untold = False
        for peer, pr in self.progress.items():
            core.send(peer, Heartbeat(core.term, min(pr.match, core.commit), self.seq))
        self._confirm_reads()

    # -- replication ---------------------------------------------------------------
    def flush(self) -> None:
        if self.dirty:
            self.dirty = False
            for peer in self.progress:
                self._send_appends(peer)
            self._maybe_commit()

    def _send_appends(self, peer: str) -> None:
        while self._send_append(peer):
            pass

    def _send_append(self, peer: str) -> bool:
        core = self.core
        log = core.log
        pr = self.progress[peer]
        settings = core.settings
        if pr.mode is Mode.SNAPSHOT or (pr.mode is Mode.PROBE and pr.probe_sent):
            return False
        if pr.mode is Mode.REPLICATE and len(pr.inflight) >= settings.max_inflight_appends:
            return False
        prev = pr.next - 1
        prev_term = log.term_at(prev)
        if prev_term is None:
            if log.snapshot is None or prev > log.last_index:  # pragma: no cover - defensive
                pr.probe()
                return False
            snap = log.snapshot
            core.send(peer, InstallSnapshot(core.term, snap.meta, snap.data))
            pr.mode = Mode.SNAPSHOT
            pr.snapshot_index = snap.meta.index
            pr.snapshot_sent_ms = core.now_ms
            return False
        last = min(log.last_index, prev + settings.max_entries_per_append)
        entries = log.slice(prev + 1, last) if last > prev else ()
        if pr.mode is Mode.REPLICATE and not entries:
            return False
        core.send(peer, AppendEntries(core.term, prev, prev_term, entries, core.commit))
        if pr.mode is Mode.REPLICATE:
            pr.next = last + 1
            pr.inflight.append((last, core.now_ms))
            return True
        pr.probe_sent = True
        return False

    def receive(self, sender: str, message: object) -> None:
        pr = self.progress.get(sender)
        if pr is None:
            return
        pr.active = True
        pr.last_ack_ms = self.core.now_ms
        if isinstance(message, AppendEntriesResponse):
            self._on_append_response(sender, pr, message)
        elif isinstance(message, HeartbeatResponse):
            if message.seq > pr.acked_seq:
                pr.acked_seq = message.seq
                pr.acked_sent_ms = self.seq_sent_ms.get(message.seq, pr.acked_sent_ms)
                self._confirm_reads()
            if pr.match < self.core.log.last_index and pr.mode is Mode.PROBE:
                pr.probe_sent = False
                self.dirty = True
        elif isinstance(message, InstallSnapshotResponse):
            if pr.mode is Mode.SNAPSHOT:
                pr.acknowledge(message.index)
                pr.probe()
            elif message.index > pr.match:
                pr.acknowledge(message.index)
            self.dirty = True

    def _on_append_response(self, sender: str, pr: Progress, m: AppendEntriesResponse) -> None:
        core = self.core
        if m.success:
            grew = pr.acknowledge(m.index)
            if pr.mode is Mode.PROBE or (
                pr.mode is Mode.SNAPSHOT and pr.match >= pr.snapshot_index
            ):
                pr.mode = Mode.REPLICATE
                pr.next = max(pr.next, pr.match + 1)
                pr.probe_sent = False
            if grew:
                self._maybe_commit()
                if self.transfer_to == sender:
                    self._maybe_timeout_now()
            self.dirty = True
            return
        if pr.mode is Mode.REPLICATE and m.reject_index <= pr.match:
            return  # stale
        if pr.mode is Mode.PROBE and m.reject_index != pr.next - 1:
            return  # stale
        if pr.mode is Mode.SNAPSHOT:
            return
        if m.conflict_term is not None:
            last_of_term = core.log.last_index_of_term(m.conflict_term)
            next_index = last_of_term + 1 if last_of_term else m.conflict_index
        else:
            next_index = m.conflict_index
        pr.probe()
        pr.next = max(pr.match + 1, min(next_index, m.reject_index))
        self.dirty = True

    def _maybe_commit(self) -> None:
        core = self.core
        config = core.config
        acked = {peer: pr.match for peer, pr in self.progress.items()}
        acked[core.id] = core.log.last_index
        index = quorum_value(config.voters, acked)
        if index <= core.commit:
            return
        if core.log.term_at(index) != core.term and core.bug != "figure8":
            return  # only entries of the current term commit by counting replicas
        core.advance_commit(index)
        # Followers learn the new commit index from the next AppendEntries, or from a
        # heartbeat at the next tick: one per tick under load, not one per commit.
        self.commit_untold = True
        self._confirm_reads()
        self._reads_after_commit()
        self._release_reads()
        if not config.is_voter(core.id) and core.log.last_config_index <= core.commit:
            core.become_follower(core.term, None, reason="removed")

    # -- reads ---------------------------------------------------------------------
    def _committed_in_term(self) -> bool:
        return self.core.log.term_at(self.core.commit) == self.core.term

    def _lease_valid(self) -> bool:
        core = self.core
        settings = core.settings
        if not settings.lease_reads or self.lease_void or self.transfer_to is not None:
            return False
        sent = {peer: pr.acked_sent_ms for peer, pr in self.progress.items()}
        sent[core.id] = core.now_ms
        start = quorum_value(core.config.voters, sent)
        return core.now_ms < start + settings.election_timeout_ms - settings.lease_margin_ms

    def _register_read(self, read: PendingRead) -> None:
        core = self.core
        read = PendingRead(read.client, read.command, read_index=core.commit)
        others = [v for v in core.config.voters if v != core.id]
        if not others or self._lease_valid():
            self.reads.confirmed.append(read)
            self._release_reads()
            return
        self.heartbeat()
        self.reads.unconfirmed.append(
            PendingRead(read.client, read.command, self.seq, read.read_index)
        )

    def _confirm_reads(self) -> None:
        if not self.reads.unconfirmed:
            return
        core = self.core
        voters = core.config.voters
        acked = {peer: pr.acked_seq for peer, pr in self.progress.items()}
        acked[core.id] = self.seq
        self.reads.confirm_up_to(quorum_value(voters, acked))
        self._release_reads()

    def _reads_after_commit(self) -> None:
        if self.reads.before_commit and self._committed_in_term():
            waiting, self.reads.before_commit = self.reads.before_commit, []
            for read in waiting:
                self._register_read(read)

    def _release_reads(self) -> None:
        for read in self.reads.ready(self.core.applied):
            self.core.run_query(read.client, read.command)

    def on_applied(self) -> None:
        self._release_reads()

    # -- client requests -----------------------------------------------------------
    def client(self, client: str, request: object) -> None:
        core = self.core
        if isinstance(request, Read):
            if core.bug == "local-read":
                core.run_query(client, request.command)
            elif self._committed_in_term():
                self._register_read(PendingRead(client, request.command))
            else:
                self.reads.before_commit.append(PendingRead(client, request.command))
        elif isinstance(request, Write):
            if self.transfer_to is not None:
                core.out(Reply(client, ErrorReply(TRYAGAIN_TRANSFER)))
            elif not self._guard_ok():
                core.out(Reply(client, ErrorReply(NOREPLICAS)))
            else:
                self._propose(client, request.command)
        elif isinstance(request, AddLearner | PromoteLearner | RemoveNode):
            self._change_config(client, request)
        elif isinstance(request, TransferLeadership):
            self._transfer(client, request.node)
        else:
            core.out(Reply(client, ErrorReply(f"ERR unknown request {type(request).__name__}")))

    def _propose(self, client: str, data: bytes | Config) -> None:
        core = self.core
        index = core.log.last_index + 1
        core.append_local((Entry(index, core.term, data),))
        core.proposals[index] = (core.term, client)
        self.dirty = True

    def good_replicas(self) -> int:
        """Followers that acknowledged within ``min_replicas_max_lag_s``."""
        now = self.core.now_ms
        lag_ms = self.core.min_replicas_max_lag_s * 1000
        return sum(
            1
            for pr in self.progress.values()
            if pr.last_ack_ms is not None and now - pr.last_ack_ms <= lag_ms
        )

    def _guard_ok(self) -> bool:
        need = self.core.min_replicas_to_write
        return need == 0 or self.good_replicas() >= need

    def _change_config(
        self, client: str, request: AddLearner | PromoteLearner | RemoveNode
    ) -> None:
        core = self.core
        config = core.config
        node = request.node
        problem: str | None = None
        new: Config | None = None
        if self.transfer_to is not None:
            problem = TRYAGAIN_TRANSFER
        elif core.log.last_config_index > core.commit:
            problem = CONFIG_PENDING
        elif isinstance(request, AddLearner):
            if config.is_member(node):
                problem = f"ERR {node} is already a member"
            else:
                new = Config.of(config.voters, (*config.learners, node))
        elif isinstance(request, PromoteLearner):
            pr = self.progress.get(node)
            if node not in config.learners or pr is None:
                problem = f"ERR {node} is not a learner"
            elif pr.match < core.commit - core.settings.learner_catch_up_lag:
                problem = f"ERR learner {node} is not caught up ({pr.match} of {core.commit})"
            else:
                new = Config.of((*config.voters, node), [m for m in config.learners if m != node])
        elif not config.is_member(node):
            problem = f"ERR {node} is not a member"
        elif config.voters == (node,):
            problem = "ERR cannot remove the last voter"
        else:
            new = Config.of(
                [m for m in config.voters if m != node], [m for m in config.learners if m != node]
            )
        if problem is not None or new is None:
            core.out(Reply(client, ErrorReply(problem or "ERR invalid change")))
            return
        self._propose(client, new)
        core.emit("+config-change", f"{type(request).__name__} {node} term {core.term}")
        self.sync_progress()

    def _transfer(self, client: str, node: str) -> None:
        core = self.core
        if node == core.id:
            core.out(Reply(client, "OK"))
            return
        if not core.config.is_voter(node) or node not in self.progress:
            core.out(Reply(client, ErrorReply(f"ERR {node} is not a voter")))
            return
        self.transfer_to = node
        self.transfer_deadline_ms = core.now_ms + core.settings.election_timeout_ms
        core.emit("+transfer-leader", f"to {node} term {core.term}")
        core.out(Reply(client, "OK"))
        self._maybe_timeout_now()
        self.dirty = True

    def _maybe_timeout_now(self) -> None:
        core = self.core
        node = self.transfer_to
        if node is not None and self.progress[node].match == core.log.last_index:
            self.lease_void = True
            core.send(node, TimeoutNow(core.term))
