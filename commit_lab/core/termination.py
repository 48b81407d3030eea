"""3PC's termination protocol: rounds, their recovery coordinators, and the decision rule.

When the coordinator goes quiet, participants run numbered rounds. The recovery
coordinator of round ``r`` is ``participants[(r - 1) % n]`` (a fixed rotation, so no
election is needed). It promises round ``r``, asks every participant for its state
(each promises ``r`` and refuses older rounds from then on), and applies
:func:`rule` to the states that arrive within the collect window:

* any committed: commit; any aborted (or never prepared): abort;
* any pre-committed: pre-commit the uncertain ones, commit once they all acknowledge;
* all uncertain: abort, unless a responder crashed while in doubt (it might have missed
  a commit while down) and someone did not answer: then the round decides nothing.

Safe while every message arrives within the collect window: a participant that does
not answer has crashed. A partition breaks that assumption, and each side may decide
alone: the pre-committed side commits, the uncertain side aborts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["ABORTED", "COMMITTED", "PRECOMMITTED", "UNCERTAIN", "RecoveryRound", "rc_of", "rule"]

UNCERTAIN = "uncertain"
PRECOMMITTED = "precommitted"
COMMITTED = "committed"
ABORTED = "aborted"


@dataclass(slots=True)
class RecoveryRound:
    """The round this participant runs as recovery coordinator."""

    round: int
    deadline_ms: int
    phase: str = "collect"  # collect | precommit
    states: dict[str, tuple[str, bool]] = field(default_factory=dict)
    waiting: dict[str, None] = field(default_factory=dict)


def rc_of(participants: Sequence[str], round_: int) -> str:
    """The recovery coordinator of ``round_`` (>= 1)."""
    ordered = sorted(participants)
    return ordered[(round_ - 1) % len(ordered)]


def rule(states: Mapping[str, tuple[str, bool]], participants: int) -> str:
    """``commit``, ``abort``, ``precommit`` or ``wait`` for the collected states.

    ``states`` maps a participant to (state, recovering); ``participants`` is how many
    take part in the transaction.
    """
    values = [state for state, _ in states.values()]
    if COMMITTED in values:
        return "commit"
    if ABORTED in values:
        return "abort"
    if PRECOMMITTED in values:
        return "precommit"
    if len(states) == participants or not any(rec for _, rec in states.values()):
        return "abort"
    return "wait"
