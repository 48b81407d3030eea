"""3PC participant: CanCommit, PreCommit, DoCommit, with timeouts and the termination protocol.

States: uncertain (voted yes), pre-committed, committed, aborted. Missing word from the
coordinator for ``wait_timeout_ms`` starts termination rounds (:mod:`.termination`);
this participant acts as recovery coordinator in the rounds that rotate to it.
Promises and pre-commits are durable, so a restart keeps them; a participant restarted
while in doubt reports itself ``recovering``.
"""

from __future__ import annotations

from typing import ClassVar

from commit_lab.core.messages import (
    Decided,
    Decision,
    PreCommit,
    PreCommitAck,
    PreCommitted,
    Promise,
    Refuse,
    StateReply,
    StateRequest,
    Terminate,
)
from commit_lab.core.participant import Participant, Pending, event
from commit_lab.core.termination import (
    ABORTED,
    COMMITTED,
    PRECOMMITTED,
    UNCERTAIN,
    RecoveryRound,
    rc_of,
    rule,
)
from labkit.actions import Action, Persist, Send

__all__ = ["Participant3PC"]


class Participant3PC(Participant):
    """A three-phase commit participant."""

    protocol: ClassVar[str] = "3pc"
    HANDLERS: ClassVar[dict[type, str]] = {
        **Participant.HANDLERS,
        PreCommit: "on_precommit",
        PreCommitAck: "on_precommit_ack",
        StateRequest: "on_state_request",
        StateReply: "on_state_reply",
        Refuse: "on_refuse",
        Terminate: "on_terminate",
    }

    def first_wait_ms(self) -> int:
        return self.config.wait_timeout_ms

    # -- coordinator messages --------------------------------------------------------
    def on_precommit(self, sender: str, m: PreCommit, now_ms: int) -> list[Action]:
        """Pre-commit unless a later round was promised."""
        if m.txid in self.outcomes:
            if self.outcomes[m.txid]:
                return [Send(sender, PreCommitAck(m.txid, m.round))]
            return [Send(sender, Decision(m.txid, False))]
        pending = self.pending.get(m.txid)
        if pending is None:
            return []
        if m.round < pending.promised:
            return [Send(sender, Refuse(m.txid, m.round, pending.promised))]
        actions = self._promise(pending, m.round, now_ms, persist=False)
        pending.next_ms = now_ms + self.config.wait_timeout_ms
        if pending.precommitted:
            return [*actions, Send(sender, PreCommitAck(m.txid, m.round))]
        pending.precommitted = True
        return [
            *actions,
            Persist(PreCommitted(m.txid, m.round)),
            event(self.id, "+precommitted", now_ms, m.txid, f"round {m.round}"),
            Send(sender, PreCommitAck(m.txid, m.round)),
        ]

    def on_timeout(self, pending: Pending, now_ms: int) -> list[Action]:
        """No word in time: conclude our own round, or move to the next round."""
        rc = pending.rc
        if isinstance(rc, RecoveryRound):
            if rc.phase == "collect":
                return self._conclude(pending, rc, now_ms)
            pending.rc = None
            pending.next_ms = now_ms + self.config.round_timeout_ms
            return [
                event(
                    self.id,
                    "-round-failed",
                    now_ms,
                    pending.info.txid,
                    f"round {rc.round}: pre-commit acks missing",
                )
            ]
        next_round = max(pending.round, pending.promised) + 1
        pending.round = next_round
        pending.next_ms = now_ms + self.config.round_timeout_ms
        actions: list[Action] = []
        if next_round == 1:
            actions.append(
                event(self.id, "+termination", now_ms, pending.info.txid, "coordinator silent")
            )
        leader = rc_of(pending.info.participants, next_round)
        if leader == self.id:
            return actions + self._start_round(pending, next_round, now_ms)
        return [*actions, Send(leader, Terminate(pending.info.txid, next_round))]

    # -- termination: as a participant -------------------------------------------------
    def on_state_request(self, sender: str, m: StateRequest, now_ms: int) -> list[Action]:
        """Report the state and promise the round (or refuse an old round)."""
        if m.txid in self.outcomes:
            state = COMMITTED if self.outcomes[m.txid] else ABORTED
            return [Send(sender, StateReply(m.txid, m.round, state))]
        pending = self.pending.get(m.txid)
        if pending is None:
            self.outcomes[m.txid] = False
            return [
                Persist(Decided(m.txid, False)),
                event(self.id, "+aborted", now_ms, m.txid, "never prepared; aborted unilaterally"),
                Send(sender, StateReply(m.txid, m.round, ABORTED)),
            ]
        if m.round < pending.promised:
            return [Send(sender, Refuse(m.txid, m.round, pending.promised))]
        actions = self._promise(pending, m.round, now_ms, persist=True)
        pending.round = max(pending.round, m.round)
        if sender != self.id:
            pending.next_ms = now_ms + self.config.round_timeout_ms
        state = PRECOMMITTED if pending.precommitted else UNCERTAIN
        return [*actions, Send(sender, StateReply(m.txid, m.round, state, pending.recovering))]

    def on_terminate(self, sender: str, m: Terminate, now_ms: int) -> list[Action]:
        """A peer reached round ``m.round``, which this participant leads: start it now."""
        pending = self.pending.get(m.txid)
        if m.txid in self.outcomes:
            return [Send(sender, Decision(m.txid, self.outcomes[m.txid]))]
        if (
            pending is None
            or m.round <= pending.promised
            or rc_of(pending.info.participants, m.round) != self.id
        ):
            return []
        pending.round = m.round
        return self._start_round(pending, m.round, now_ms)

    # -- termination: as recovery coordinator ------------------------------------------
    def _start_round(self, pending: Pending, round_: int, now_ms: int) -> list[Action]:
        info = pending.info
        actions = self._promise(pending, round_, now_ms, persist=True)
        state = PRECOMMITTED if pending.precommitted else UNCERTAIN
        rc = RecoveryRound(round_, now_ms + self.config.collect_ms)
        rc.states[self.id] = (state, pending.recovering)
        pending.rc = rc
        pending.next_ms = rc.deadline_ms
        actions.append(
            event(self.id, "+recovery-coordinator", now_ms, info.txid, f"round {round_}")
        )
        actions += [
            Send(peer, StateRequest(info.txid, round_))
            for peer in info.participants
            if peer != self.id
        ]
        return actions

    def on_state_reply(self, sender: str, m: StateReply, now_ms: int) -> list[Action]:
        pending = self.pending.get(m.txid)
        rc = pending.rc if pending is not None else None
        if pending is None or not isinstance(rc, RecoveryRound):
            return []
        if rc.round != m.round or rc.phase != "collect":
            return []
        rc.states[sender] = (m.state, m.recovering)
        if len(rc.states) == len(pending.info.participants):
            return self._conclude(pending, rc, now_ms)
        return []

    def on_precommit_ack(self, sender: str, m: PreCommitAck, now_ms: int) -> list[Action]:
        pending = self.pending.get(m.txid)
        rc = pending.rc if pending is not None else None
        if pending is None or not isinstance(rc, RecoveryRound):
            return []
        if rc.round != m.round or rc.phase != "precommit":
            return []
        rc.waiting.pop(sender, None)
        if rc.waiting:
            return []
        return self._finish(pending, True, now_ms, f"round {rc.round}: all pre-committed")

    def on_refuse(self, sender: str, m: Refuse, now_ms: int) -> list[Action]:
        pending = self.pending.get(m.txid)
        rc = pending.rc if pending is not None else None
        if pending is None or not isinstance(rc, RecoveryRound) or rc.round != m.round:
            return []
        pending.rc = None
        pending.round = max(pending.round, m.promised)
        pending.next_ms = now_ms + self.config.round_timeout_ms
        return [
            event(
                self.id,
                "-round-superseded",
                now_ms,
                m.txid,
                f"round {m.round}; {sender} promised {m.promised}",
            )
        ]

    def _conclude(self, pending: Pending, rc: RecoveryRound, now_ms: int) -> list[Action]:
        verdict = rule(rc.states, len(pending.info.participants))
        heard = ",".join(
            f"{p}={s}{'(rec)' if r else ''}" for p, (s, r) in sorted(rc.states.items())
        )
        why = f"round {rc.round}: {heard}"
        if verdict in ("commit", "abort"):
            return self._finish(pending, verdict == "commit", now_ms, why)
        if verdict == "wait":
            pending.rc = None
            pending.next_ms = now_ms + self.config.round_timeout_ms
            return [event(self.id, "-termination-blocked", now_ms, pending.info.txid, why)]
        txid = pending.info.txid
        targets = [p for p, (s, _) in sorted(rc.states.items()) if s == UNCERTAIN and p != self.id]
        actions: list[Action] = []
        if not pending.precommitted:
            pending.precommitted = True
            actions += [
                Persist(PreCommitted(txid, rc.round)),
                event(self.id, "+precommitted", now_ms, txid, f"round {rc.round}"),
            ]
        if not targets:
            return actions + self._finish(pending, True, now_ms, why)
        rc.phase = "precommit"
        rc.waiting = dict.fromkeys(targets)
        rc.deadline_ms = pending.next_ms = now_ms + self.config.collect_ms
        return actions + [Send(p, PreCommit(txid, rc.round)) for p in targets]

    def _finish(self, pending: Pending, commit: bool, now_ms: int, why: str) -> list[Action]:
        info = pending.info
        actions = self.decide(info.txid, commit, now_ms, why)
        others = [p for p in info.participants if p != self.id] + [info.coordinator]
        return actions + [Send(p, Decision(info.txid, commit)) for p in others]

    def _promise(
        self, pending: Pending, round_: int, now_ms: int, *, persist: bool
    ) -> list[Action]:
        rc = pending.rc
        if isinstance(rc, RecoveryRound) and rc.round < round_:
            pending.rc = None
        if round_ <= pending.promised:
            return []
        pending.promised = round_
        return [Persist(Promise(pending.info.txid, round_))] if persist else []
