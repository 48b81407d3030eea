"""Quorum and majority arithmetic, alone so that it can be checked against a reference.

``voters`` is every sentinel known for a master plus this one; Redis counts unreachable
sentinels too (only SENTINEL RESET forgets them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["ckquorum", "count_votes", "election_winner", "majority", "odown_reached"]


def majority(voters: int) -> int:
    """Votes needed for an absolute majority of ``voters``: voters/2 + 1."""
    return voters // 2 + 1


def odown_reached(agreeing_others: int, quorum: int) -> bool:
    """ODOWN: this sentinel plus the others that answered "down" reach ``quorum``."""
    return 1 + agreeing_others >= quorum


def election_winner(votes: Mapping[str, int], voters: int, quorum: int) -> str | None:
    """The runid with the most votes if it has a majority of ``voters`` and ``quorum``.

    Ties go to the candidate seen first in ``votes`` (Redis takes the first in its
    dict order, which is arbitrary).
    """
    winner: str | None = None
    best = 0
    for runid, count in votes.items():
        if count > best:
            winner, best = runid, count
    if winner is None or best < majority(voters) or best < quorum:
        return None
    return winner


def ckquorum(usable: int, voters: int, quorum: int) -> tuple[bool, bool]:
    """(quorum reachable, failover authorisable) with ``usable`` sentinels up, self included."""
    return usable >= quorum, usable >= majority(voters)


def count_votes(votes: Iterable[str]) -> dict[str, int]:
    """Votes per runid, in first-seen order."""
    counts: dict[str, int] = {}
    for runid in votes:
        counts[runid] = counts.get(runid, 0) + 1
    return counts
