"""Quorum arithmetic against a naive reference, on random inputs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from redis_raft.core.quorum import VoteResult, has_quorum, majority, quorum_value, vote_result

NAMES = [f"n{i}" for i in range(9)]
voters_st = st.lists(st.sampled_from(NAMES), unique=True, max_size=7)
acked_st = st.dictionaries(st.sampled_from(NAMES), st.integers(0, 20))


def naive_quorum_value(voters: list[str], acked: dict[str, int]) -> int:
    best = 0
    for candidate in {0, *acked.values()}:
        reached = sum(1 for v in voters if acked.get(v, 0) >= candidate)
        if voters and reached * 2 > len(voters):
            best = max(best, candidate)
    return best


def test_majority_table() -> None:
    assert [majority(n) for n in range(1, 8)] == [1, 2, 2, 3, 3, 4, 4]


@given(voters_st, acked_st)
def test_quorum_value_matches_the_reference(voters: list[str], acked: dict[str, int]) -> None:
    assert quorum_value(voters, acked) == naive_quorum_value(voters, acked)


@given(voters_st, st.dictionaries(st.sampled_from(NAMES), st.booleans()))
def test_vote_result_matches_the_reference(voters: list[str], votes: dict[str, bool]) -> None:
    granted = sum(1 for v in voters if votes.get(v) is True)
    undecided = sum(1 for v in voters if v not in votes)
    if voters and granted * 2 > len(voters):
        expected = VoteResult.WON
    elif not voters or (granted + undecided) * 2 <= len(voters):
        expected = VoteResult.LOST
    else:
        expected = VoteResult.PENDING
    assert vote_result(voters, votes) is expected


@given(voters_st, st.lists(st.sampled_from(NAMES), unique=True))
def test_learners_never_count(voters: list[str], active: list[str]) -> None:
    learners_only = [a for a in active if a not in voters]
    assert has_quorum(voters, active) == has_quorum(voters, [a for a in active if a in voters])
    assert not (voters and has_quorum(voters, learners_only))
    acked = dict.fromkeys(learners_only, 99)
    assert quorum_value(voters, acked) == 0
    assert vote_result(voters, dict.fromkeys(learners_only, True)) is not VoteResult.WON
