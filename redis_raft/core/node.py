"""The Raft core: term and vote bookkeeping, persistence, commit and apply, dispatch.

Role behaviour lives in :mod:`redis_raft.core.follower` (follower, pre-candidate,
candidate) and :mod:`redis_raft.core.leader`; the core swaps the role object as a
whole when the role changes. Every ``step``/``tick`` returns actions in the order a
driver must carry them out: ``Persist`` before any ``Send`` that depends on it,
``Apply`` in log order.

Planted bugs (``bug=``, for the simulator's checkers only): ``double-vote`` grants
every vote request of a term; ``figure8`` commits an entry of an earlier term by
counting replicas; ``vote-before-persist`` answers a vote before persisting it;
``local-read`` serves reads from the leader's state without ReadIndex.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence

from labkit.actions import Action, Apply, Emit, Persist, Reply, Send
from labkit.core import ClientRequest, Input, Received
from labkit.events import Event
from redis_raft.core.api import (
    TIMEOUT,
    TRYAGAIN_READ,
    Applied,
    ApplyEntry,
    ApplySnapshot,
    ErrorReply,
    QueryDone,
    RunQuery,
    SnapshotTaken,
)
from redis_raft.core.log import RaftLog
from redis_raft.core.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    InstallSnapshot,
    RequestVote,
    RequestVoteResponse,
)
from redis_raft.core.records import (
    Config,
    Entry,
    HardState,
    LogAppend,
    SnapshotRecord,
)
from redis_raft.core.roles import Role
from redis_raft.core.settings import RaftConfig, validate_write_guard
from redis_raft.errors import RaftConfigError, RaftUsageError

__all__ = ["BUGS", "RaftCore", "RaftInput"]

BUGS = ("double-vote", "figure8", "vote-before-persist", "local-read")

RaftInput = Input | Applied | QueryDone | SnapshotTaken
"""Everything ``RaftCore.step`` accepts: the labkit inputs and the driver's feedback."""

_SNAPSHOT_TERM = -1  # marks an ApplySnapshot in the apply queue


class RaftCore:
    """One Raft node. ``voters``/``learners`` are the bootstrap membership (a node that
    joins later starts with none and learns it from the leader)."""

    def __init__(
        self,
        node_id: str,
        voters: Sequence[str],
        rng: random.Random,
        config: RaftConfig | None = None,
        *,
        learners: Sequence[str] = (),
        bug: str | None = None,
    ) -> None:
        if bug is not None and bug not in BUGS:
            raise RaftConfigError(f"unknown planted bug {bug!r}; known: {', '.join(BUGS)}")
        self.id = node_id
        self.settings = config if config is not None else RaftConfig()
        self.rng = rng
        self.bug = bug
        self.log = RaftLog(Config.of(list(voters), list(learners)))
        self.term = 0
        self.vote: str | None = None
        self.leader: str | None = None
        self.commit = 0
        self.applied = 0
        self.min_replicas_to_write = self.settings.min_replicas_to_write
        self.min_replicas_max_lag_s = self.settings.min_replicas_max_lag_s
        self.proposals: dict[int, tuple[int, str]] = {}  # index -> (term, client)
        self.queries: dict[int, str] = {}  # query id -> client
        self._next_query = 0
        self._apply_sent = 0
        self._apply_queue: deque[tuple[int, int]] = deque()  # (index, term) handed out
        self.election_deadline_ms: int | None = None
        self.lease_until_ms = 0  # vote requests are ignored before this (check_quorum)
        self._out: list[Action] = []
        self._now = 0
        from redis_raft.core.follower import Follower

        self.role: Role = Follower(self)

    # -- the core interface --------------------------------------------------------
    def step(self, event: RaftInput, now_ms: int) -> list[Action]:
        """Handle a peer message, a client request or the driver's feedback."""
        self._begin(now_ms)
        self._dispatch(event)
        return self._finish()

    def step_many(self, events: Sequence[Input | Applied], now_ms: int) -> list[Action]:
        """Inputs that arrived together (peer messages, client requests, a batch of
        ``Applied``): the same as stepping them one by one, except that a leader
        replicates once, after the last of them (fewer, fuller AppendEntries). An
        ``Applied`` out of order raises :class:`RaftUsageError` as in :meth:`step`; the
        actions of the inputs before it are then lost, so a driver must stop."""
        self._begin(now_ms)
        for event in events:
            if not isinstance(event, Received | ClientRequest | Applied):
                raise RaftUsageError(f"step_many takes messages, requests, Applied: {event!r}")
            self._dispatch(event)
        return self._finish()

    def _dispatch(self, event: RaftInput) -> None:
        if isinstance(event, Received):
            self._receive(event.sender, event.message)
        elif isinstance(event, ClientRequest):
            self.role.client(event.client, event.request)
        elif isinstance(event, Applied):
            self._on_applied(event)
        elif isinstance(event, QueryDone):
            client = self.queries.pop(event.query_id, None)
            if client is not None:
                self.out(Reply(client, event.result))
        elif isinstance(event, SnapshotTaken):
            self._on_snapshot_taken(event)

    def tick(self, now_ms: int) -> list[Action]:
        """Timeouts: elections, heartbeats, check-quorum, retries."""
        self._begin(now_ms)
        self.role.tick()
        return self._finish()

    def durable_state(self) -> tuple[object, ...]:
        """Snapshot (if any), hard state, and the entries after the snapshot."""
        records: list[object] = []
        if self.log.snapshot is not None:
            records.append(self.log.snapshot)
        records.append(HardState(self.term, self.vote))
        if self.log.entries:
            records.append(LogAppend(tuple(self.log.entries)))
        return tuple(records)

    def restore(self, durable_state: Sequence[object]) -> None:
        """Replay persisted records on a fresh core; applied and commit restart at the
        snapshot index (the driver loads ``log.snapshot`` into its state machine)."""
        for record in durable_state:
            if isinstance(record, HardState):
                self.term, self.vote = record.term, record.vote
            elif isinstance(record, LogAppend):
                entries = tuple(e for e in record.entries if e.index > self.log.snap_index)
                self.log.append(entries)
            elif isinstance(record, SnapshotRecord):
                self.log.install(record)
        self.commit = self.applied = self._apply_sent = self.log.snap_index

    # -- settings ------------------------------------------------------------------
    def set_write_guard(self, min_replicas_to_write: int, min_replicas_max_lag_s: int) -> None:
        """Change the write guard at run time (Redis's CONFIG SET min-replicas-*)."""
        validate_write_guard(min_replicas_to_write, min_replicas_max_lag_s)
        self.min_replicas_to_write = min_replicas_to_write
        self.min_replicas_max_lag_s = min_replicas_max_lag_s

    # -- state ---------------------------------------------------------------------
    @property
    def role_name(self) -> str:
        """``follower``, ``pre-candidate``, ``candidate`` or ``leader``."""
        return self.role.name

    @property
    def is_leader(self) -> bool:
        """Whether this node leads its current term."""
        return self.role.name == "leader"

    @property
    def config(self) -> Config:
        """The membership in force (the latest in the log)."""
        return self.log.config

    @property
    def now_ms(self) -> int:
        """The time of the step being handled."""
        return self._now

    @property
    def promotable(self) -> bool:
        """Whether this node may campaign (it is a voter)."""
        return self.config.is_voter(self.id)

    # -- helpers for the roles -----------------------------------------------------
    def out(self, action: Action) -> None:
        """Queue an action of the current step."""
        self._out.append(action)

    def send(self, to: str, message: object) -> None:
        """Queue a message."""
        self._out.append(Send(to, message))

    def emit(self, name: str, details: str = "") -> None:
        """Queue an event; ``wall_ns`` is step time (drivers restamp it)."""
        event = Event(
            source=self.id,
            name=name,
            wall_ns=self._now * 1_000_000,
            details=details,
            role=self.role.char,
        )
        self._out.append(Emit(event))

    def persist_hard_state(self) -> None:
        """Persist term and vote (synced) before anything that depends on them."""
        self.out(Persist(HardState(self.term, self.vote)))

    def append_local(self, entries: tuple[Entry, ...]) -> None:
        """Persist entries, then hold them in the log."""
        if entries:
            self.out(Persist(LogAppend(entries)))
            self.log.append(entries)

    def reset_election_timer(self) -> None:
        """Next election after a random timeout in ``[t, 2t)``."""
        t = self.settings.election_timeout_ms
        self.election_deadline_ms = self._now + self.rng.randrange(t, 2 * t)

    def heard_leader(self, leader: str) -> None:
        """A message from the leader of this term arrived."""
        if self.leader != leader:
            self.leader = leader
            self.emit("+new-leader", f"term {self.term} leader {leader}")
        self.reset_election_timer()
        if self.settings.check_quorum:
            self.lease_until_ms = self._now + self.settings.election_timeout_ms

    def in_lease(self) -> bool:
        """Whether vote requests are ignored (a leader was heard from recently)."""
        if not self.settings.check_quorum:
            return False
        return self.is_leader or self._now < self.lease_until_ms

    def advance_commit(self, index: int) -> None:
        """Raise the commit index (never lowers it) and hand new entries to the driver."""
        index = min(index, self.log.last_index)
        if index <= self.commit:
            return
        self.commit = index
        while self._apply_sent < self.commit:
            entry = self.log.entry(self._apply_sent + 1)
            self._apply_sent = entry.index
            self._apply_queue.append((entry.index, entry.term))
            self.out(Apply(ApplyEntry(entry)))

    def install_snapshot(self, record: SnapshotRecord) -> None:
        """Replace the log and the state machine by a leader's snapshot."""
        self.out(Persist(record))
        self.log.install(record)
        index = record.meta.index
        self.commit = max(self.commit, index)
        self._apply_sent = index
        self._apply_queue.append((index, _SNAPSHOT_TERM))
        self.out(Apply(ApplySnapshot(record.meta, record.data)))
        self.emit("+snapshot-installed", f"index {index} term {record.meta.term}")
        self.advance_commit(self.commit)

    def run_query(self, client: str, command: bytes) -> None:
        """Ask the driver to run a read whose read index is applied."""
        self._next_query += 1
        self.queries[self._next_query] = client
        self.out(Apply(RunQuery(self._next_query, command)))

    def fail_uncommitted_proposals(self) -> None:
        """Leadership lost: writes past the commit index have an unknown outcome."""
        for index in sorted(self.proposals):
            if index > self.commit:
                _, client = self.proposals.pop(index)
                self.out(Reply(client, ErrorReply(TIMEOUT)))

    def fail_read(self, client: str) -> None:
        """A read that will not be served (it had no effect)."""
        self.out(Reply(client, ErrorReply(TRYAGAIN_READ)))

    # -- role changes --------------------------------------------------------------
    def set_role(self, role: Role) -> None:
        """Leave the current role and enter ``role``."""
        self.role.leave()
        self.role = role

    def become_follower(self, term: int, leader: str | None, reason: str = "") -> None:
        """Follow ``leader`` (None: unknown) in ``term``."""
        from redis_raft.core.follower import Follower

        was_leader = self.is_leader
        if term > self.term:
            self.term, self.vote = term, None
            self.persist_hard_state()
            self.emit("+new-term", f"term {term}")
        self.set_role(Follower(self))
        if was_leader:
            self.emit("-step-down", f"term {self.term} reason {reason or 'unknown'}")
        self.leader = None
        if leader is not None:
            self.heard_leader(leader)
        else:
            self.reset_election_timer()

    def campaign(self, *, force: bool = False) -> None:
        """Start a pre-vote (or, if disabled or ``force``d by a transfer, an election)."""
        from redis_raft.core.follower import Candidate

        if self.settings.pre_vote and not force:
            self.set_role(Candidate(self, pre_vote=True))
            self.leader = None
            self.emit("+pre-vote", f"term {self.term + 1}")
            self._ask_votes(self.term + 1, pre_vote=True, force=False)
        else:
            self.start_election(force=force)

    def start_election(self, *, force: bool = False) -> None:
        """Bump the term, vote for self (persisted), ask the voters."""
        from redis_raft.core.follower import Candidate

        self.set_role(Candidate(self, pre_vote=False))
        self.term += 1
        self.vote = self.id
        self.leader = None
        self.persist_hard_state()
        self.emit("+try-election", f"term {self.term}" + (" forced" if force else ""))
        self._ask_votes(self.term, pre_vote=False, force=force)

    def become_leader(self) -> None:
        """Won the election of the current term."""
        from redis_raft.core.leader import Leader

        self.leader = self.id
        self.set_role(Leader(self))
        self.emit("+elected-leader", f"term {self.term}")
        role = self.role
        assert isinstance(role, Leader)
        role.start()

    def _ask_votes(self, term: int, *, pre_vote: bool, force: bool) -> None:
        self.reset_election_timer()
        request = RequestVote(term, self.log.last_index, self.log.last_term, pre_vote, force)
        for voter in self.config.voters:
            if voter != self.id:
                self.send(voter, request)
        self.role.receive(self.id, RequestVoteResponse(term, True, pre_vote))

    # -- internals -----------------------------------------------------------------
    def _begin(self, now_ms: int) -> None:
        self._out = []
        self._now = now_ms
        if self.election_deadline_ms is None:  # first call after (re)start
            self.reset_election_timer()
            if self.settings.check_quorum:  # someone may hold a lease we granted before
                self.lease_until_ms = now_ms + self.settings.election_timeout_ms

    def _finish(self) -> list[Action]:
        self.role.flush()
        out, self._out = self._out, []
        return out

    def _receive(self, sender: str, message: object) -> None:
        term = getattr(message, "term", None)
        if not isinstance(term, int) or sender == self.id:
            return
        if term > self.term:
            if isinstance(message, RequestVote):
                if not message.force and self.in_lease():
                    return  # a leader is alive: do not let this candidate disrupt it
                if message.pre_vote:
                    self._on_request_vote(sender, message)
                    return
            if isinstance(message, RequestVoteResponse) and message.pre_vote and message.granted:
                self.role.receive(sender, message)
                return
            leader = (
                sender if isinstance(message, AppendEntries | Heartbeat | InstallSnapshot) else None
            )
            self.become_follower(term, leader, reason="higher-term")
        elif term < self.term:
            if isinstance(message, AppendEntries | Heartbeat):
                # tell a deposed leader about the newer term
                self.send(sender, AppendEntriesResponse(self.term, False))
            elif isinstance(message, RequestVote):
                self.send(sender, RequestVoteResponse(self.term, False, message.pre_vote))
            return
        if isinstance(message, RequestVote):
            self._on_request_vote(sender, message)
        else:
            self.role.receive(sender, message)

    def _on_request_vote(self, sender: str, m: RequestVote) -> None:
        if m.pre_vote:
            can_vote = m.term > self.term or (
                m.term == self.term and self.vote in (None, sender) and self.leader is None
            )
        else:
            can_vote = self.vote == sender or (self.vote is None and self.leader is None)
            can_vote = can_vote or (self.bug == "double-vote" and m.term == self.term)
        if not (can_vote and self.log.up_to_date(m.last_index, m.last_term)):
            self.send(sender, RequestVoteResponse(self.term, False, m.pre_vote))
            return
        grant = RequestVoteResponse(m.term, True, m.pre_vote)
        if m.pre_vote:
            self.send(sender, grant)
            return
        self.vote = sender
        self.reset_election_timer()
        if self.bug == "vote-before-persist":
            self.send(sender, grant)
            self.persist_hard_state()
        else:
            self.persist_hard_state()
            self.send(sender, grant)
        self.emit("+vote-for", f"{sender} term {m.term}")

    def _on_applied(self, event: Applied) -> None:
        if not self._apply_queue or self._apply_queue[0][0] != event.index:
            expected = self._apply_queue[0][0] if self._apply_queue else None
            raise RaftUsageError(f"Applied({event.index}) out of order; expected {expected}")
        index, term = self._apply_queue.popleft()
        self.applied = index
        if term == _SNAPSHOT_TERM:
            for old in [i for i in self.proposals if i <= index]:
                _, client = self.proposals.pop(old)
                self.out(Reply(client, ErrorReply(TIMEOUT)))
        else:
            pending = self.proposals.pop(index, None)
            if pending is not None:
                p_term, client = pending
                entry = self.log.entry(index) if index > self.log.snap_index else None
                is_command = entry is None or isinstance(entry.data, bytes)
                if p_term == term:
                    self.out(Reply(client, event.result if is_command else "OK"))
                else:
                    self.out(Reply(client, ErrorReply(TIMEOUT)))
        self.role.on_applied()

    def _on_snapshot_taken(self, event: SnapshotTaken) -> None:
        if event.index > self.applied:
            raise RaftUsageError(
                f"snapshot at {event.index} is past the applied index {self.applied}"
            )
        if event.index <= self.log.snap_index:
            return
        record = self.log.compact(event.index, event.data)
        self.out(Persist(record))
        self.emit("+snapshot-taken", f"index {record.meta.index} term {record.meta.term}")
