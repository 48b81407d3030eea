"""The models as tables: function names, values, and one step at a time."""

from __future__ import annotations

from typing import ClassVar

import pytest

from labkit.history import (
    MODELS,
    UNKNOWN,
    History,
    HistoryEvent,
    Model,
    ModelError,
    Operation,
    OpInput,
    check_linearizability,
    get_model,
    register_model,
)
from labkit.history.models import Output, State
from labkit.history.ops import Value


def op(f: str, value: Value = None, output: Value = None, outcome: str = "ok") -> Operation:
    return Operation(0, 0, f, None, value, output, outcome, 0, 1)  # type: ignore[arg-type]


def run(model: str, *steps: tuple[str, Value, Value]) -> list[bool]:
    """Apply ``(f, value, output)`` steps in order; the model's yes/no for each."""
    m = get_model(model)
    state = m.init()
    answers = []
    for f, value, output in steps:
        op_input, op_output = m.prepare(op(f, value, output))
        ok, new_state = m.step(state, op_input, op_output)
        if ok:  # the checker keeps the state of accepted steps only
            state = new_state
        answers.append(ok)
    return answers


@pytest.mark.parametrize(
    ("model", "steps", "answers"),
    [
        (
            "register",
            [
                ("read", None, None),
                ("write", 1, 1),
                ("GET", None, 1),
                ("set", 2, None),
                ("r", None, 1),
            ],
            [True, True, True, True, False],
        ),
        (
            "register",
            [("cas", (None, 1), None), ("cas", (None, 2), None), ("read", None, 1)],
            [True, False, True],
        ),
        (
            "kv",
            [
                ("get", None, None),
                ("append", "a", 1),
                ("put", "b", "OK"),
                ("append", "c", 2),
                ("read", None, "bc"),
            ],
            [True] * 5,
        ),
        ("kv", [("put", "x", None), ("get", None, "y")], [True, False]),
        (
            "list",
            [
                ("lrange", None, None),
                ("rpush", 1, 1),
                ("append", 2, 2),
                ("read", None, (1, 2)),
                ("read", None, (2, 1)),
            ],
            [True, True, True, True, False],
        ),
        (
            "counter",
            [
                ("read", None, None),
                ("incr", None, 1),
                ("incrby", 5, 6),
                ("get", None, "6"),
                ("read", None, 7),
            ],
            [True, True, True, True, False],
        ),
        (
            "set",
            [
                ("read", None, ()),
                ("sadd", "a", 1),
                ("add", "a", 0),
                ("smembers", None, ("a",)),
                ("read", None, ("a", "b")),
            ],
            [True, True, True, True, False],
        ),
    ],
)
def test_model_steps(
    model: str, steps: list[tuple[str, Value, Value]], answers: list[bool]
) -> None:
    assert run(model, *steps) == answers


@pytest.mark.parametrize(
    ("model", "f", "value", "output", "message"),
    [
        ("register", "append", "x", None, "model register has no operation 'append'"),
        ("register", "cas", (1, 2, 3), None, r"a cas value must be \[from, to\]"),
        ("kv", "append", 5, None, "an append value must be a string"),
        ("kv", "get", None, 5, "a get returns a string or nil"),
        ("list", "read", None, 5, "a list read returns a list"),
        ("counter", "incr", "x", None, "an increment must be an integer"),
        ("counter", "read", None, (1,), "a counter read returns an integer"),
        ("set", "read", None, 5, "a set read returns a list or set"),
    ],
)
def test_values_the_models_refuse(
    model: str, f: str, value: Value, output: Value, message: str
) -> None:
    with pytest.raises(ModelError, match=message):
        get_model(model).prepare(op(f, value, output))


def test_info_outputs_are_unknown_and_reads_are_known() -> None:
    m = get_model("register")
    assert m.prepare(op("write", 3, None, "info")) == (OpInput("write", 3), UNKNOWN)
    assert m.is_read("GET") and not m.is_read("cas")
    assert sorted(MODELS) == ["counter", "kv", "list", "register", "set"]
    for model in MODELS.values():
        assert model.description
        hash(model.init())
    assert get_model("set").describe_state(frozenset({"b", "a"})) == "#{'a' 'b'}"


class QueueModel(Model):
    """A FIFO queue: enqueue and dequeue (nil when empty). A new model in a few lines."""

    name = "test-queue"
    description = "a FIFO queue"
    functions: ClassVar[dict[str, tuple[str, ...]]] = {"enqueue": (), "dequeue": ()}
    reads = frozenset[str]()

    def init(self) -> State:
        return ()

    def step(self, state: State, op_input: OpInput, op_output: Output) -> tuple[bool, State]:
        assert isinstance(state, tuple)
        if op_input.f == "enqueue":
            return True, (*state, op_input.value)
        head = state[0] if state else None
        return (op_output is UNKNOWN or op_output == head), state[1:]


def test_adding_a_model_is_easy() -> None:
    register_model(QueueModel())
    try:
        events = [
            HistoryEvent(0, "invoke", "enqueue", 1),
            HistoryEvent(1, "invoke", "enqueue", 2),
            HistoryEvent(0, "ok", "enqueue", 1),
            HistoryEvent(1, "ok", "enqueue", 2),
            HistoryEvent(0, "invoke", "dequeue", None),
            HistoryEvent(0, "ok", "dequeue", 2),
            HistoryEvent(0, "invoke", "dequeue", None),
            HistoryEvent(0, "ok", "dequeue", 2),
        ]
        assert not check_linearizability(History(tuple(events)), "test-queue").valid
        assert check_linearizability(History(tuple(events[:6])), "test-queue").valid
    finally:
        del MODELS["test-queue"]
