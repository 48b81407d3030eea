"""Scenario tests for the commit cores: event in, actions out."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from commit_lab.coordinator_log import CoordinatorLog
from commit_lab.core import (
    CommitConfig,
    Coordinator2PC,
    Coordinator3PC,
    Participant2PC,
    Participant3PC,
)
from commit_lab.core.consensus_decision import DecisionStore
from commit_lab.core.messages import (
    Ack,
    Decided,
    Decision,
    Inquiry,
    Leg,
    Outcome,
    PreCommit,
    PreCommitAck,
    PreCommitted,
    Prepare,
    Prepared,
    Refuse,
    StateReply,
    StateRequest,
    Terminate,
    Transfer,
    TxOutcome,
    Uncertain,
    Vote,
    validate,
)
from commit_lab.core.termination import rc_of, rule
from commit_lab.errors import (
    BadTransactionError,
    CommitLabError,
    LogCorruptError,
    UnknownAccountError,
)
from commit_lab.raft_decision import decision_key, register_problems
from labkit.actions import Action, Persist, Reply, Send
from labkit.core import ClientRequest, Core, Received

CFG = CommitConfig(
    vote_timeout_ms=300,
    ack_timeout_ms=300,
    retry_ms=100,
    wait_timeout_ms=300,
    collect_ms=80,
    round_timeout_ms=300,
)
DIRECTORY = {"A1": "p1", "B1": "p2", "C1": "p3"}
T1 = Transfer("t1", (Leg("A1", -20), Leg("B1", 20)))
PARTS = ("p1", "p2")


def sends(actions: list[Action]) -> list[tuple[str, object]]:
    return [(a.to, a.message) for a in actions if isinstance(a, Send)]


def persists(actions: list[Action]) -> list[object]:
    return [a.record for a in actions if isinstance(a, Persist)]


def replies(actions: list[Action]) -> list[object]:
    return [a.value for a in actions if isinstance(a, Reply)]


def prepare(txid: str = "t1", legs: tuple[Leg, ...] = (Leg("A1", -20),)) -> Prepare:
    return Prepare(txid, "c", PARTS, legs)


# -- 2PC coordinator ---------------------------------------------------------------
def coord2() -> Coordinator2PC:
    return Coordinator2PC("c", DIRECTORY, random.Random(1), CFG)


def test_2pc_all_yes_forces_commit_record_before_sending_commit() -> None:
    c = coord2()
    out = c.step(ClientRequest("cl", T1), 0)
    assert sends(out) == [
        ("p1", Prepare("t1", "c", PARTS, (Leg("A1", -20),))),
        ("p2", Prepare("t1", "c", PARTS, (Leg("B1", 20),))),
    ]
    assert persists(out) == []  # presumed abort: nothing logged before the votes
    assert c.step(Received("p1", Vote("t1", True)), 5) == []
    out = c.step(Received("p2", Vote("t1", True)), 6)
    kinds = [type(a).__name__ for a in out]
    assert kinds.index("Persist") < kinds.index("Send")
    assert persists(out) == [Outcome("t1", True, PARTS)]
    assert sends(out) == [("p1", Decision("t1", True)), ("p2", Decision("t1", True))]
    assert replies(out) == [TxOutcome("t1", "committed")]
    c.step(Received("p1", Ack("t1")), 10)
    out = c.step(Received("p2", Ack("t1")), 11)
    assert [type(r).__name__ for r in persists(out)] == ["End"]
    assert c.txs == {}


def test_2pc_no_vote_aborts_without_logging() -> None:
    c = coord2()
    c.step(ClientRequest("cl", T1), 0)
    out = c.step(Received("p2", Vote("t1", False, "insufficient funds in B1")), 3)
    assert persists(out) == []
    assert sends(out) == [("p1", Decision("t1", False)), ("p2", Decision("t1", False))]
    assert replies(out)[0] == TxOutcome("t1", "aborted", "p2 voted no: insufficient funds in B1")


def test_2pc_vote_timeout_aborts_and_unknown_inquiry_presumes_abort() -> None:
    c = coord2()
    c.step(ClientRequest("cl", T1), 0)
    c.step(Received("p1", Vote("t1", True)), 5)
    assert c.tick(299) == []
    out = c.tick(300)
    assert ("p1", Decision("t1", False)) in sends(out)
    assert sends(c.step(Received("p1", Inquiry("t1")), 400)) == [("p1", Decision("t1", False))]


def test_2pc_restart_resends_logged_commit_until_acked() -> None:
    c = coord2()
    c.restore([Outcome("t1", True, PARTS)])
    out = c.tick(0)
    assert sorted(sends(out)) == [("p1", Decision("t1", True)), ("p2", Decision("t1", True))]
    assert sends(c.step(Received("p2", Inquiry("t1")), 1)) == [("p2", Decision("t1", True))]
    c.step(Received("p1", Ack("t1")), 2)
    assert sends(c.tick(200)) == [("p2", Decision("t1", True))]


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        ("not a transfer", "not a transfer"),
        (Transfer("t9", ()), "at least one leg"),
        (Transfer("t9", (Leg("A1", -5), Leg("Z9", 5))), "unknown account 'Z9'"),
        (Transfer("t9", (Leg("A1", -5), Leg("B1", 4))), "sum to -1"),
        (Transfer("t9", (Leg("A1", -5), Leg("A1", 5))), "appears twice"),
        (Transfer("t9", (Leg("A1", -5), Leg("B1", "5"))), "must be an integer"),  # type: ignore[arg-type]
        (Transfer("", (Leg("A1", -5), Leg("B1", 5))), "non-empty string"),
    ],
)
def test_bad_transactions_are_rejected_and_nothing_is_locked(request_: object, reason: str) -> None:
    for c in (coord2(), Coordinator3PC("c", DIRECTORY, random.Random(1), CFG)):
        out = c.step(ClientRequest("cl", request_), 0)
        assert sends(out) == [] and persists(out) == []
        (answer,) = replies(out)
        assert isinstance(answer, TxOutcome) and answer.status == "rejected"
        assert reason in answer.reason


def test_validate_raises_typed_errors() -> None:
    with pytest.raises(UnknownAccountError):
        validate(Transfer("t", (Leg("Q", 1), Leg("A1", -1))), DIRECTORY)
    with pytest.raises(BadTransactionError):
        validate(Transfer("t", (Leg("A1", 1),)), DIRECTORY)
    assert issubclass(BadTransactionError, CommitLabError)


def test_duplicate_transaction_id_is_rejected() -> None:
    c = coord2()
    c.step(ClientRequest("cl", T1), 0)
    (answer,) = replies(c.step(ClientRequest("cl2", T1), 1))
    assert isinstance(answer, TxOutcome) and answer.reason == "duplicate transaction id"


# -- participants ------------------------------------------------------------------
def part2(name: str = "p1") -> Participant2PC:
    return Participant2PC(name, {"A1": 100, "A2": 100}, random.Random(1), CFG)


def test_participant_persists_intent_before_voting_yes() -> None:
    p = part2()
    out = p.step(Received("c", prepare()), 0)
    assert persists(out) == [Prepared("t1", "c", PARTS, (Leg("A1", -20),))]
    kinds = [type(a).__name__ for a in out]
    assert kinds.index("Persist") < kinds.index("Send")
    assert sends(out) == [("c", Vote("t1", True))]
    assert p.locks == {"A1": "t1"}


@pytest.mark.parametrize(
    ("legs", "reason"),
    [
        ((Leg("A1", -500),), "insufficient funds in A1"),
        ((Leg("Z1", 5),), "unknown account Z1"),
        ((), "no legs"),
    ],
)
def test_participant_votes_no_and_locks_nothing(legs: tuple[Leg, ...], reason: str) -> None:
    p = part2()
    out = p.step(Received("c", prepare("t2", legs)), 0)
    assert persists(out) == [] and p.locks == {}
    ((_, vote),) = sends(out)
    assert isinstance(vote, Vote) and not vote.yes and reason in vote.reason


def test_conflicting_transaction_is_refused_while_in_doubt() -> None:
    p = part2()
    p.step(Received("c", prepare()), 0)
    out = p.step(Received("c2", prepare("t2", (Leg("A1", -5),))), 10)
    assert sends(out) == [("c2", Vote("t2", False, "A1 is locked by t1"))]


def test_in_doubt_participant_asks_coordinator_and_peers_then_applies() -> None:
    p = part2()
    p.step(Received("c", prepare()), 0)
    p.tick(0)
    assert sends(p.tick(299)) == []
    out = p.tick(300)
    assert sends(out) == [("c", Inquiry("t1")), ("p2", Inquiry("t1"))]
    assert p.step(Received("p2", Uncertain("t1")), 310) == []
    out = p.step(Received("p2", Decision("t1", True)), 320)
    assert persists(out) == [Decided("t1", True)]
    assert sends(out) == [("c", Ack("t1"))]
    assert p.balances["A1"] == 80 and p.locks == {}


def test_peer_that_never_prepared_aborts_unilaterally_and_durably() -> None:
    p = part2("p2")
    out = p.step(Received("p1", Inquiry("t1")), 0)
    assert persists(out) == [Decided("t1", False)]
    assert sends(out) == [("p1", Decision("t1", False))]
    assert sends(p.step(Received("c", prepare()), 5)) == [("c", Vote("t1", False))]


def test_participant_restores_locks_and_stays_in_doubt() -> None:
    p = part2()
    records = list(persists(p.step(Received("c", prepare()), 0)))
    fresh = part2()
    fresh.restore(records)
    assert fresh.locks == {"A1": "t1"} and fresh.pending["t1"].recovering
    fresh.restore([*records, Decided("t1", False)])
    assert fresh.locks == {} and fresh.outcomes == {"t1": False}
    assert fresh.balances["A1"] == 100


def test_cores_satisfy_the_interface() -> None:
    for core in (coord2(), part2(), Participant3PC("p1", {}, random.Random(1), CFG)):
        assert isinstance(core, Core)


# -- 3PC ---------------------------------------------------------------------------
def part3(name: str, precommit: bool = False) -> Participant3PC:
    p = Participant3PC(name, {"A1": 100}, random.Random(1), CFG)
    p.step(Received("c", Prepare("t1", "c", ("p1", "p2", "p3"), (Leg("A1", -1),))), 0)
    if precommit:
        p.step(Received("c", PreCommit("t1", 0)), 5)
    p.tick(10)
    return p


def test_3pc_coordinator_runs_three_phases() -> None:
    c = Coordinator3PC("c", DIRECTORY, random.Random(1), CFG)
    out = c.step(ClientRequest("cl", T1), 0)
    assert [type(r).__name__ for r in persists(out)] == ["Started"]
    c.step(Received("p1", Vote("t1", True)), 1)
    out = c.step(Received("p2", Vote("t1", True)), 2)
    assert sends(out) == [("p1", PreCommit("t1", 0)), ("p2", PreCommit("t1", 0))]
    c.step(Received("p1", PreCommitAck("t1", 0)), 3)
    out = c.step(Received("p2", PreCommitAck("t1", 0)), 4)
    assert persists(out) == [Outcome("t1", True, PARTS)]
    assert replies(out)[0].status == "committed"  # type: ignore[attr-defined]


def test_3pc_coordinator_hands_over_when_acks_are_missing() -> None:
    c = Coordinator3PC("c", DIRECTORY, random.Random(1), CFG)
    c.step(ClientRequest("cl", T1), 0)
    c.step(Received("p1", Vote("t1", True)), 1)
    c.step(Received("p2", Vote("t1", True)), 2)
    c.step(Received("p1", PreCommitAck("t1", 0)), 3)
    out = c.tick(400)
    assert persists(out) == [] and c.txs["t1"].phase == "terminating"
    out = c.step(Received("p2", Decision("t1", True)), 500)
    assert persists(out) == [Outcome("t1", True, PARTS)]


def test_3pc_participant_timeout_starts_termination_as_rc_of_round_one() -> None:
    p1 = part3("p1")
    out = p1.tick(310)
    assert ("p2", StateRequest("t1", 1)) in sends(out)
    assert ("p3", StateRequest("t1", 1)) in sends(out)
    assert p1.pending["t1"].promised == 1
    p1.step(Received("p2", StateReply("t1", 1, "uncertain")), 320)
    out = p1.step(Received("p3", StateReply("t1", 1, "uncertain")), 321)
    assert persists(out)[0] == Decided("t1", False)
    assert ("p2", Decision("t1", False)) in sends(out) and ("c", Decision("t1", False)) in sends(
        out
    )


def test_3pc_rc_precommits_uncertain_then_commits() -> None:
    p1 = part3("p1", precommit=True)
    p1.tick(400)
    p1.step(Received("p2", StateReply("t1", 1, "uncertain")), 401)
    out = p1.step(Received("p3", StateReply("t1", 1, "precommitted")), 402)
    assert sends(out) == [("p2", PreCommit("t1", 1))]
    out = p1.step(Received("p2", PreCommitAck("t1", 1)), 405)
    assert persists(out)[0] == Decided("t1", True)


def test_3pc_participant_refuses_older_rounds_after_a_promise() -> None:
    p2 = part3("p2")
    out = p2.step(Received("p3", StateRequest("t1", 2)), 50)
    assert sends(out) == [("p3", StateReply("t1", 2, "uncertain"))]
    assert sends(p2.step(Received("c", PreCommit("t1", 0)), 60)) == [("c", Refuse("t1", 0, 2))]
    assert sends(p2.step(Received("p1", StateRequest("t1", 1)), 61)) == [("p1", Refuse("t1", 1, 2))]


def test_3pc_non_rc_wakes_the_round_leader() -> None:
    p2 = part3("p2")
    out = p2.tick(310)
    assert sends(out) == [("p1", Terminate("t1", 1))]
    assert p2.pending["t1"].round == 1 and p2.pending["t1"].promised == 0


def test_3pc_recovering_participant_keeps_precommit() -> None:
    p = part3("p1", precommit=True)
    fresh = Participant3PC("p1", {"A1": 100}, random.Random(2), CFG)
    fresh.restore(p.durable_state())
    assert fresh.pending["t1"].precommitted and fresh.pending["t1"].recovering
    assert PreCommitted("t1", 0) in fresh.durable_state()


@pytest.mark.parametrize(
    ("states", "n", "expected"),
    [
        ({"a": ("uncertain", False), "b": ("committed", False)}, 3, "commit"),
        ({"a": ("uncertain", False), "b": ("aborted", False)}, 3, "abort"),
        ({"a": ("uncertain", False), "b": ("precommitted", True)}, 3, "precommit"),
        ({"a": ("uncertain", False), "b": ("uncertain", False)}, 3, "abort"),
        ({"a": ("uncertain", True)}, 3, "wait"),
        (
            {"a": ("uncertain", True), "b": ("uncertain", True), "c": ("uncertain", True)},
            3,
            "abort",
        ),
    ],
)
def test_termination_rule(states: dict[str, tuple[str, bool]], n: int, expected: str) -> None:
    assert rule(states, n) == expected


def test_recovery_coordinator_rotates() -> None:
    assert [rc_of(("p3", "p1", "p2"), r) for r in (1, 2, 3, 4)] == ["p1", "p2", "p3", "p1"]


def test_decision_register_keeps_the_first_outcome() -> None:
    store = DecisionStore()
    assert store.execute(b"DECIDE t1 commit") == "commit"
    assert store.execute(b"DECIDE t1 abort") == "commit"
    store2 = DecisionStore()
    store2.load(store.dump())
    assert store2.execute(b"DECIDE t1 abort") == "commit"


def test_config_rejects_bad_timings() -> None:
    with pytest.raises(CommitLabError, match="retry_ms"):
        CommitConfig(retry_ms=0)
    with pytest.raises(CommitLabError, match="round_timeout_ms"):
        CommitConfig(collect_ms=500, round_timeout_ms=600)


# -- the coordinator log -----------------------------------------------------------
def test_log_round_trip_and_torn_tail(tmp_path: Path) -> None:
    log = CoordinatorLog(tmp_path / "c.wal")
    log.append(Outcome("t1", True, PARTS))
    log.append(Outcome("t2", False, PARTS))
    with (tmp_path / "c.wal").open("a") as out:
        out.write('1234abcd {"type":"end","tx')  # a crash in the middle of a write
    assert log.read() == [Outcome("t1", True, PARTS), Outcome("t2", False, PARTS)]
    assert log.dropped_torn_tail


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("garbage line\n", "c.wal:1: expected"),
        ('00000000 {"type":"end","txid":"t1"}\n', "c.wal:1: checksum mismatch"),
    ],
)
def test_log_damage_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "c.wal"
    path.write_text(content)
    with pytest.raises(LogCorruptError, match=message):
        CoordinatorLog(path).read()


def test_log_contradictions_are_refused(tmp_path: Path) -> None:
    log = CoordinatorLog(tmp_path / "c.wal")
    log.append(Outcome("t1", True, PARTS))
    log.append(Outcome("t1", False, PARTS))
    with pytest.raises(LogCorruptError, match="both committed and aborted"):
        log.read()
    other = CoordinatorLog(tmp_path / "d.wal")
    from commit_lab.core.messages import End

    other.append(End("t7"))
    with pytest.raises(LogCorruptError, match=r"d\.wal:1: end record for t7"):
        other.read()


def test_register_problems_flag_split_decisions() -> None:
    agreed = {"g1": {"t1": "commit", "t2": "abort"}, "g2": {"t1": "commit", "t2": "abort"}}
    applied = {"p1": {"t1": True, "t2": False}, "p2": {"t1": True}}
    assert register_problems(agreed, applied) == []
    split = {"g1": {"t1": "commit"}, "g2": {"t1": "abort"}}
    assert register_problems(split, {}) == [
        "split decision (in the Raft register): t1 {'g1': 'commit', 'g2': 'abort'}"
    ]
    assert register_problems(agreed, {"p3": {"t1": False}}) == [
        "split decision: p3 aborted t1 but the register holds commit"
    ]


@pytest.mark.parametrize("txid", ["", "t 1", "t\n1"])
def test_decision_key_refuses_ids_that_cannot_be_keys(txid: str) -> None:
    with pytest.raises(CommitLabError, match="cannot name a decision key"):
        decision_key(txid)
    assert decision_key("t1") == "commit-decision:t1"
