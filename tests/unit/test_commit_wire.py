"""The agents' wire format: every message round-trips; bad frames are WireErrors."""

from __future__ import annotations

import pytest

from commit_lab.core.consensus_decision import DecisionResult, NotLeader, Propose
from commit_lab.core.messages import (
    Ack,
    Decision,
    Inquiry,
    Leg,
    OnePhaseDone,
    OnePhaseWrite,
    PreCommit,
    PreCommitAck,
    Prepare,
    Refuse,
    StateReply,
    StateRequest,
    Terminate,
    Transfer,
    TxOutcome,
    Uncertain,
    Vote,
)
from commit_lab.errors import CommitLabError
from commit_lab.wire import MAX_LINE, MESSAGE_TYPES, Frame, FrameReader, WireError, decode, encode

LEGS = (Leg("A1", -20), Leg("B1", 10), Leg("C1", 10))
SAMPLES: list[object] = [
    Prepare("t1", "c", ("p1", "p2", "p3"), LEGS),
    Vote("t1", True),
    Vote("t1", False, "A1 is locked by t0"),
    Decision("t1", True),
    Ack("t1"),
    Inquiry("t1"),
    Uncertain("t1"),
    PreCommit("t1", 2),
    PreCommitAck("t1", 2),
    StateRequest("t1", 3),
    StateReply("t1", 3, "precommitted", recovering=True),
    Refuse("t1", 3, 4),
    Terminate("t1", 3),
    OnePhaseWrite("t1", LEGS[:1]),
    OnePhaseDone("t1", False, "insufficient funds in A1"),
    Transfer("t1", LEGS),
    TxOutcome("t1", "committed"),
    Propose("t1", False),
    DecisionResult("t1", True),
    NotLeader("t1", None),
    NotLeader("t1", "g2"),
]


def test_every_wire_type_has_a_sample() -> None:
    assert {type(m).__name__ for m in SAMPLES} == set(MESSAGE_TYPES)


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip_whole_byte_by_byte_and_with_trailing_data(message: object) -> None:
    frame = Frame("c", "p1", message)
    line = encode(frame)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode(line[:-1]) == frame
    reader = FrameReader()
    got = [f for i in range(len(line)) for f in reader.feed(line[i : i + 1])]
    assert got == [frame]
    two = FrameReader().feed(line + line + line[:5])
    assert two == [frame, frame]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json", "frame is not JSON"),
        (b"\xff\xfe", "frame is not JSON"),
        (b"[1, 2]", "exactly from, to, type and body"),
        (b'{"from": "c", "to": "p1", "type": "Vote"}', "exactly from, to, type and body"),
        (b'{"from": "", "to": "p1", "type": "Vote", "body": {}}', "non-empty strings"),
        (b'{"from": "c", "to": "p1", "type": "Nuke", "body": {}}', "unknown message type 'Nuke'"),
        (b'{"from": "c", "to": "p1", "type": ["Vote"], "body": {}}', "unknown message type"),
        (b'{"from": "c", "to": "p1", "type": "Vote", "body": []}', "Vote: expected an object"),
        (
            b'{"from": "c", "to": "p1", "type": "Vote", "body": {"txid": "t1"}}',
            "missing field 'yes'",
        ),
        (
            b'{"from": "c", "to": "p1", "type": "Vote", "body": {"txid": "t1", "yes": 1}}',
            r"Vote.yes: 1 is not a bool",
        ),
        (
            b'{"from": "c", "to": "p1", "type": "PreCommit", "body": {"txid": "t1", "round": true}}',
            r"PreCommit.round: True is not a int",
        ),
        (
            b'{"from": "c", "to": "p1", "type": "Ack", "body": {"txid": "t1", "x": 1}}',
            "unknown field",
        ),
        (
            b'{"from": "c", "to": "p1", "type": "Prepare", "body": {"txid": "t1", '
            b'"coordinator": "c", "participants": ["p1"], "legs": [["A1", -1]]}}',
            r"Prepare.legs\[0\]: expected an object",
        ),
        (
            b'{"from": "c", "to": "p1", "type": "Prepare", "body": {"txid": "t1", '
            b'"coordinator": "c", "participants": "p1", "legs": []}}',
            r"Prepare.participants: 'p1' is not a tuple",
        ),
        (
            b'{"from": "c", "to": "p1", "type": "NotLeader", "body": {"txid": "t1", "leader": 2}}',
            "NotLeader.leader: 2 is not a str",
        ),
    ],
)
def test_bad_frames_are_wire_errors(line: bytes, message: str) -> None:
    with pytest.raises(WireError, match=message):
        decode(line)
    assert issubclass(WireError, CommitLabError)


def test_overlong_frames_are_refused_before_they_are_buffered_whole() -> None:
    with pytest.raises(WireError, match="nested too deeply"):
        decode(b"[" * 60_000)
    with pytest.raises(WireError, match="over the"):
        decode(b" " * (MAX_LINE + 1))
    reader = FrameReader(limit=100)
    with pytest.raises(WireError, match="with no line end"):
        reader.feed(b"x" * 101)
    with pytest.raises(WireError, match="over the 100-byte limit"):
        FrameReader(limit=100).feed(b"x" * 50 + b"y" * 60 + b"\n")


def test_only_wire_messages_can_be_sent() -> None:
    with pytest.raises(WireError, match="not a wire message"):
        encode(Frame("c", "p1", object()))
    with pytest.raises(WireError, match="not a wire message"):
        encode(Frame("c", "p1", {"txid": "t1"}))
