"""Quorum arithmetic: majorities, commit points, vote counting. Pure and tiny.

Only voters count; a learner's acknowledgement or vote is ignored by construction,
because every function takes the voter set and looks up voters only.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import Enum

__all__ = ["VoteResult", "has_quorum", "majority", "quorum_value", "vote_result"]


class VoteResult(Enum):
    """The state of an election."""

    PENDING = "pending"
    WON = "won"
    LOST = "lost"


def majority(voters: int) -> int:
    """Members needed for a majority of ``voters``: voters // 2 + 1."""
    return voters // 2 + 1


def quorum_value(voters: Collection[str], acked: Mapping[str, int]) -> int:
    """The largest value a majority of ``voters`` has reached (missing voters count 0).

    With match indexes this is the commit point; with acknowledged send times it is
    the start of the leader's lease. No voters: 0.
    """
    if not voters:
        return 0
    values = sorted((acked.get(voter, 0) for voter in voters), reverse=True)
    return values[majority(len(values)) - 1]


def vote_result(voters: Collection[str], votes: Mapping[str, bool]) -> VoteResult:
    """Won with a majority of granted votes, lost once that is out of reach."""
    need = majority(len(voters))
    granted = sum(1 for voter in voters if votes.get(voter) is True)
    rejected = sum(1 for voter in voters if votes.get(voter) is False)
    if voters and granted >= need:
        return VoteResult.WON
    if len(voters) - rejected < need or not voters:
        return VoteResult.LOST
    return VoteResult.PENDING


def has_quorum(voters: Collection[str], active: Collection[str]) -> bool:
    """Whether the ``active`` voters form a majority of ``voters``."""
    return bool(voters) and sum(1 for v in voters if v in active) >= majority(len(voters))
