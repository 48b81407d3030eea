"""Invariant checkers for commit runs: one decision per transaction, money conserved,
no lock held once faults heal, and how long participants sat in doubt.

:class:`Ledger` watches every step of a simulation (or a real-shard run, which feeds
it the same actions): a ``Decided``/``OnePhaseApplied`` record is a participant's
commit or abort, a no vote an abort. Two different outcomes of one transaction are
an atomicity violation, found at the step that makes the second. :func:`audit` checks
the end state: all-or-nothing per transaction, the total balance, and no locks left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from commit_lab.core.messages import Decided, OnePhaseApplied, OnePhaseDone, Prepared, Vote
from labkit.actions import Action, Persist, Send

__all__ = ["Audit", "Ledger", "ParticipantState", "audit"]


class ParticipantState(Protocol):
    """What :func:`audit` reads: a participant core, or a view of a remote agent's."""

    @property
    def balances(self) -> Mapping[str, int]: ...

    @property
    def locks(self) -> Mapping[str, str]: ...

    @property
    def outcomes(self) -> Mapping[str, bool]: ...


@dataclass(slots=True)
class Ledger:
    """What the checker saw: outcomes per transaction and participant, doubt times, costs."""

    participants: tuple[str, ...]
    outcomes: dict[str, dict[str, bool]] = field(default_factory=dict)
    prepared_at: dict[tuple[str, str], int] = field(default_factory=dict)
    in_doubt_ms: dict[tuple[str, str], int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    messages: int = 0
    durable_writes: int = 0

    def observe(self, node: str, actions: Iterable[Action], now_ms: int) -> str | None:
        """Account for one step's actions; returns the first atomicity violation, if any."""
        problem: str | None = None
        for action in actions:
            if isinstance(action, Send):
                self.messages += 1
                m = action.message
                if (isinstance(m, Vote) and not m.yes) or (
                    isinstance(m, OnePhaseDone) and not m.ok
                ):
                    problem = problem or self._outcome(node, m.txid, False, now_ms)
            elif isinstance(action, Persist):
                self.durable_writes += 1
                record = action.record
                if isinstance(record, Prepared) and node in self.participants:
                    self.prepared_at.setdefault((node, record.txid), now_ms)
                elif isinstance(record, Decided) and node in self.participants:
                    problem = problem or self._outcome(node, record.txid, record.commit, now_ms)
                elif isinstance(record, OnePhaseApplied):
                    problem = problem or self._outcome(node, record.txid, True, now_ms)
        return problem

    def _outcome(self, node: str, txid: str, commit: bool, now_ms: int) -> str | None:
        seen = self.outcomes.setdefault(txid, {})
        seen.setdefault(node, commit)
        start = self.prepared_at.get((node, txid))
        if start is not None:
            self.in_doubt_ms.setdefault((node, txid), now_ms - start)
        if len(set(seen.values())) > 1:
            committed = sorted(p for p, c in seen.items() if c)
            aborted = sorted(p for p, c in seen.items() if not c)
            problem = (
                f"atomicity: {txid} committed at {','.join(committed)} "
                f"but aborted at {','.join(aborted)}"
            )
            if not any(v.startswith(f"atomicity: {txid} ") for v in self.violations):
                self.violations.append(problem)
                return problem
        return None

    @property
    def max_in_doubt_ms(self) -> int:
        return max(self.in_doubt_ms.values(), default=0)

    @property
    def committed(self) -> list[str]:
        """Transactions every participant that decided committed."""
        return sorted(t for t, seen in self.outcomes.items() if seen and all(seen.values()))


@dataclass(frozen=True, slots=True)
class Audit:
    """The end-of-run verdict."""

    problems: tuple[str, ...]
    total: int
    expected_total: int
    locks_left: tuple[str, ...]

    @property
    def atomic(self) -> bool:
        return not any(p.startswith(("atomicity", "conservation")) for p in self.problems)


def audit(
    participants: Mapping[str, ParticipantState],
    tx_participants: Mapping[str, Sequence[str]],
    expected_total: int,
) -> Audit:
    """Check the end state of live participants: all-or-nothing, total, no locks left."""
    problems: list[str] = []
    for txid, members in sorted(tx_participants.items()):
        outcome = {p: participants[p].outcomes.get(txid) for p in members if p in participants}
        if any(outcome.values()) and not all(outcome.values()):
            shown = ", ".join(f"{p}={v}" for p, v in sorted(outcome.items()))
            problems.append(f"atomicity: {txid} is not all-or-nothing ({shown})")
    total = sum(sum(core.balances.values()) for core in participants.values())
    if total != expected_total:
        problems.append(f"conservation: total balance {total}, expected {expected_total}")
    locks = tuple(
        f"{name}:{account}->{txid}"
        for name, core in sorted(participants.items())
        for account, txid in sorted(core.locks.items())
    )
    if locks:
        problems.append(f"locks held after healing: {', '.join(locks)}")
    return Audit(tuple(problems), total, expected_total, locks)
