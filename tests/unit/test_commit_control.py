"""The control stream between agent processes and the world: round trips and bad input."""

from __future__ import annotations

import argparse

import pytest

from commit_lab.agent import AgentSpec, agent_argv, parse_address, parse_peers
from commit_lab.cli import build_parser
from commit_lab.control import (
    ParticipantView,
    decode_actions,
    decode_input,
    decode_line,
    encode_actions,
    encode_input,
    encode_line,
    participant_state,
)
from commit_lab.core import Participant2PC
from commit_lab.core.messages import (
    Decided,
    Leg,
    Opening,
    Outcome,
    Prepare,
    Prepared,
    Transfer,
    TxOutcome,
    Vote,
)
from commit_lab.wire import WireError
from labkit.actions import Action, Emit, Persist, Reply, Send
from labkit.core import ClientRequest, Received
from labkit.errors import UsageError
from labkit.events import Event

LEGS = (Leg("A1", -20), Leg("B1", 20))


def test_actions_and_inputs_survive_the_round_trip() -> None:
    actions: list[Action] = [
        Persist(Prepared("t1", "c", ("p1", "p2"), LEGS)),
        Persist(Opening((("A1", 100),)), sync=False),
        Persist(Outcome("t1", True, ("p1", "p2"))),
        Send("c", Vote("t1", True)),
        Emit(Event(source="p1", name="+prepared", wall_ns=5, instance="t1", mono_ns=7)),
        Reply("client1", TxOutcome("t1", "committed")),
    ]
    line = encode_line({"op": "step", "actions": encode_actions(actions)})
    assert decode_actions(decode_line(line)["actions"]) == actions
    for event in (None, Received("c", Prepare("t1", "c", ("p1",), LEGS))):
        assert decode_input(encode_input(event)) == event
    request = ClientRequest("client1", Transfer("t1", LEGS))
    assert decode_input(encode_input(request)) == request


def test_participant_state_becomes_a_view_the_checkers_read() -> None:
    import random

    core = Participant2PC("p1", {"A1": 100}, random.Random(1))
    core.restore([Prepared("t1", "c", ("p1",), (Leg("A1", -20),))])
    view = ParticipantView.of(participant_state(core))
    assert view is not None
    assert view.balances == {"A1": 100} and view.locks == {"A1": "t1"}
    assert list(view.pending) == ["t1"] and view.outcomes == {}
    core.restore([Decided("t1", True)])
    assert ParticipantView.of({}) is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "no op"),
        (b'{"op": 3}', "no op"),
    ],
)
def test_malformed_control_lines_are_wire_errors(line: bytes, message: str) -> None:
    with pytest.raises(WireError, match=message):
        decode_line(line)


@pytest.mark.parametrize(
    "actions",
    [
        "nope",
        [{"a": "teleport"}],
        [{"a": "send", "to": "c", "value": {"type": "Bomb", "body": {}}}],
        [{"a": "send", "to": "c", "value": {"type": "Vote", "body": {"txid": 5}}}],
        [{"a": "persist", "sync": True, "value": {"type": "Prepared"}}],
        [{"a": "emit", "event": {"source": "p1"}}],
        [{"a": "emit", "event": "x"}],
        [7],
    ],
)
def test_malformed_actions_are_wire_errors(actions: object) -> None:
    with pytest.raises(WireError):
        decode_actions(actions)


def test_malformed_inputs_and_states_are_wire_errors() -> None:
    for data in ("tick", {"kind": "dream"}, {"kind": "received", "from": 1}):
        with pytest.raises(WireError):
            decode_input(data)
    with pytest.raises(WireError, match="malformed participant state"):
        ParticipantView.of({"balances": {"A1": "lots"}, "locks": {}, "pending": [], "outcomes": {}})


def _agent_args(*extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["commit", "agent", *extra])


def test_agent_flags_give_a_spec_and_back() -> None:
    args = _agent_args(
        "--id", "p1", "--protocol", "2pc", "--shard", "127.0.0.1:7000",
        "--listen", "7001", "--peers", "c=127.0.0.1:7002, p2=127.0.0.2:7003",
    )  # fmt: skip
    spec = AgentSpec.from_args(args)
    assert spec.role == "participant" and spec.listen == ("127.0.0.1", 7001)
    assert spec.peers == {"c": ("127.0.0.1", 7002), "p2": ("127.0.0.2", 7003)}
    again = AgentSpec.from_args(build_parser().parse_args(["commit", *agent_argv(spec)]))
    assert again == spec


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--protocol", "4pc", "--shard", "1"], "unknown protocol '4pc'"),
        (["--protocol", "2pc"], "give exactly one of --shard"),
        (["--protocol", "2pc", "--shard", "1", "--log", "x"], "give exactly one of --shard"),
        (["--protocol", "2pc", "--shard", "host:1"], "'host' is not an IP address"),
        (["--protocol", "2pc", "--shard", "8.8.8.8:1"], "only loopback addresses"),
        (["--protocol", "2pc", "--shard", "1", "--listen", "99999"], "port 99999 is out of range"),
        (["--protocol", "2pc", "--raft", "1"], "only serves protocol 2pc-consensus"),
        (["--protocol", "2pc", "--log", "x", "--peers", "c"], "peer 'c': expected NAME=HOST:PORT"),
        (["--protocol", "2pc", "--log", "x", "--peers", "p1=1"], "names the agent itself"),
        (["--protocol", "2pc", "--log", "x", "--timing", "fast"], "unknown timing 'fast'"),
    ],
)
def test_bad_agent_flags_name_the_bad_value(flags: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        AgentSpec.from_args(_agent_args("--id", "p1", *flags))
    with pytest.raises(UsageError):
        parse_peers("a=1,a=2")
    with pytest.raises(UsageError, match="the port is not a number"):
        parse_address("127.0.0.1:x")
