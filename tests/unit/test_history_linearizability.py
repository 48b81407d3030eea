"""Hand-written histories with known verdicts, the violation report, and the budget."""

from __future__ import annotations

import itertools
import time
from typing import cast

import pytest

from labkit.history import (
    History,
    HistoryEvent,
    ModelError,
    UnknownModelError,
    Verdict,
    check_linearizability,
    freeze,
    get_model,
)
from labkit.history.ops import EventType

Spec = tuple[int, str, str, object] | tuple[int, str, str, object, str]


def history(*specs: Spec) -> History:
    """Events from ``(process, type, f, value[, key])``, numbered as lines 1, 2, ..."""
    events = []
    for line, spec in enumerate(specs, start=1):
        process, kind, f, value, *key = spec
        events.append(
            HistoryEvent(
                process,
                cast("EventType", kind),
                f,
                freeze(value),
                key[0] if key else None,
                line=line,
            )
        )
    return History(tuple(events))


def verdict(h: History, model: str = "register") -> Verdict:
    return check_linearizability(h, model).verdict


VALID = Verdict.VALID
INVALID = Verdict.INVALID

REGISTER_CASES: list[tuple[str, History, Verdict]] = [
    ("empty", history(), VALID),
    (
        "sequential write then read",
        history(
            (0, "invoke", "write", 1),
            (0, "ok", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
        ),
        VALID,
    ),
    (
        "a read of nil after a completed write",
        history(
            (0, "invoke", "write", 1),
            (0, "ok", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", None),
        ),
        INVALID,
    ),
    (
        "a read concurrent with a write may see the old value",
        history(
            (0, "invoke", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", None),
            (0, "ok", "write", 1),
        ),
        VALID,
    ),
    (
        "a read concurrent with a write may see the new value",
        history(
            (0, "invoke", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
            (0, "ok", "write", 1),
        ),
        VALID,
    ),
    (
        "new-old inversion: once a reader saw 2, a later reader may not see 1",
        history(
            (0, "invoke", "write", 1),
            (0, "ok", "write", 1),
            (0, "invoke", "write", 2),
            (1, "invoke", "read", None),
            (1, "ok", "read", 2),
            (2, "invoke", "read", None),
            (2, "ok", "read", 1),
            (0, "ok", "write", 2),
        ),
        INVALID,
    ),
    (
        "two overlapping reads may see old and new in either order of return",
        history(
            (0, "invoke", "write", 1),
            (0, "ok", "write", 1),
            (0, "invoke", "write", 2),
            (1, "invoke", "read", None),
            (2, "invoke", "read", None),
            (2, "ok", "read", 1),
            (1, "ok", "read", 2),
            (0, "ok", "write", 2),
        ),
        VALID,
    ),
    (
        "concurrent writes, then reads that disagree over time",
        history(
            (0, "invoke", "write", 1),
            (1, "invoke", "write", 2),
            (0, "ok", "write", 1),
            (1, "ok", "write", 2),
            (2, "invoke", "read", None),
            (2, "ok", "read", 2),
            (2, "invoke", "read", None),
            (2, "ok", "read", 1),
        ),
        INVALID,
    ),
    (
        "a read of a value nobody wrote",
        history((0, "invoke", "read", None), (0, "ok", "read", 7)),
        INVALID,
    ),
    (
        "cas from the current value",
        history(
            (0, "invoke", "write", 0),
            (0, "ok", "write", 0),
            (1, "invoke", "cas", [0, 1]),
            (1, "ok", "cas", [0, 1]),
            (2, "invoke", "read", None),
            (2, "ok", "read", 1),
        ),
        VALID,
    ),
    (
        "two sequential cas from the same value cannot both succeed",
        history(
            (0, "invoke", "write", 0),
            (0, "ok", "write", 0),
            (1, "invoke", "cas", [0, 1]),
            (1, "ok", "cas", [0, 1]),
            (2, "invoke", "cas", [0, 2]),
            (2, "ok", "cas", [0, 2]),
        ),
        INVALID,
    ),
    (
        "two concurrent cas may both succeed when they chain",
        history(
            (0, "invoke", "write", 0),
            (0, "ok", "write", 0),
            (1, "invoke", "cas", [1, 2]),
            (2, "invoke", "cas", [0, 1]),
            (1, "ok", "cas", [1, 2]),
            (2, "ok", "cas", [0, 1]),
            (3, "invoke", "read", None),
            (3, "ok", "read", 2),
        ),
        VALID,
    ),
    (
        "a failed cas is ignored",
        history(
            (1, "invoke", "cas", [None, 5]),
            (1, "fail", "cas", [None, 5]),
            (2, "invoke", "read", None),
            (2, "ok", "read", None),
        ),
        VALID,
    ),
    (
        "an info write may take effect long after its invoke",
        history(
            (0, "invoke", "write", 1),
            (0, "ok", "write", 1),
            (1, "invoke", "write", 2),
            (1, "info", "write", None),
            (2, "invoke", "read", None),
            (2, "ok", "read", 1),
            (2, "invoke", "read", None),
            (2, "ok", "read", 2),
        ),
        VALID,
    ),
    (
        "an info write that took effect stays in effect",
        history(
            (0, "invoke", "write", 1),
            (0, "ok", "write", 1),
            (1, "invoke", "write", 2),
            (1, "info", "write", None),
            (2, "invoke", "read", None),
            (2, "ok", "read", 2),
            (2, "invoke", "read", None),
            (2, "ok", "read", 1),
        ),
        INVALID,
    ),
    (
        "an info write may never be visible",
        history(
            (1, "invoke", "write", 2),
            (1, "info", "write", None),
            (2, "invoke", "read", None),
            (2, "ok", "read", None),
            (2, "invoke", "read", None),
            (2, "ok", "read", None),
        ),
        VALID,
    ),
    (
        "an info write cannot take effect before its invoke",
        history(
            (2, "invoke", "read", None),
            (2, "ok", "read", 2),
            (1, "invoke", "write", 2),
            (1, "info", "write", None),
        ),
        INVALID,
    ),
    (
        "an invoke with no completion counts as info",
        history(
            (0, "invoke", "write", 3),
            (1, "invoke", "read", None),
            (1, "ok", "read", 3),
        ),
        VALID,
    ),
    (
        "a failed write is ignored: nobody may read its value",
        history(
            (0, "invoke", "write", 1),
            (0, "fail", "write", 1),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
        ),
        INVALID,
    ),
    (
        "an info cas may have found another value and changed nothing",
        history(
            (0, "invoke", "cas", [5, 6]),
            (0, "info", "cas", None),
            (1, "invoke", "read", None),
            (1, "ok", "read", None),
        ),
        VALID,
    ),
    (
        "an info read constrains nothing",
        history(
            (0, "invoke", "read", None),
            (0, "info", "read", "timed-out"),
            (1, "invoke", "read", None),
            (1, "ok", "read", None),
        ),
        VALID,
    ),
]


@pytest.mark.parametrize(
    ("h", "expected"),
    [pytest.param(h, v, id=name) for name, h, v in REGISTER_CASES],
)
def test_register_histories(h: History, expected: Verdict) -> None:
    assert verdict(h) is expected


def test_keys_are_checked_independently_and_the_failing_key_is_named() -> None:
    h = history(
        (0, "invoke", "write", 1, "a"),
        (0, "ok", "write", 1, "a"),
        (1, "invoke", "read", None, "b"),
        (1, "ok", "read", None, "b"),
        (1, "invoke", "read", None, "a"),
        (1, "ok", "read", 1, "a"),
        (0, "invoke", "write", 2, "b"),
        (0, "ok", "write", 2, "b"),
        (1, "invoke", "read", None, "b"),
        (1, "ok", "read", None, "b"),
    )
    result = check_linearizability(h, "register")
    assert result.verdict is INVALID
    assert result.failing_key == "b"
    assert result.key_count == 2
    assert result.ops == 5


def test_a_violation_names_the_prefix_and_the_operations_that_could_not_go_next() -> None:
    h = history(
        (0, "invoke", "write", 1),  # 1
        (0, "ok", "write", 1),  # 2
        (0, "invoke", "write", 2),  # 3
        (1, "invoke", "read", None),  # 4
        (1, "ok", "read", 2),  # 5
        (2, "invoke", "read", None),  # 6
        (2, "ok", "read", 1),  # 7
        (0, "ok", "write", 2),  # 8
    )
    result = check_linearizability(h, "register")
    violation = result.violation
    assert violation is not None
    assert violation.key is None
    assert [(op.f, op.value, op.output) for op in violation.prefix] == [
        ("write", 1, 1),
        ("write", 2, 2),
        ("read", None, 2),
    ]
    assert violation.state == "2"
    assert [(n.op.call_line, n.accepted) for n in violation.next_ops] == [(6, False)]
    assert violation.first_return is not None
    assert violation.first_return.call_line == 6
    assert violation.first_return.describe() == "p2 read -> 1 (ok)"


def test_stats() -> None:
    h = history(
        (0, "invoke", "write", 1),
        (0, "fail", "write", 1),
        (1, "invoke", "read", None),
        (1, "info", "read", None),
        (2, "invoke", "read", None),
        (2, "ok", "read", None),
    )
    result = check_linearizability(h, "register")
    assert result.valid
    assert (result.ops, result.dropped, result.key_count) == (3, 2, 1)
    assert [(k.key, k.ops, k.verdict) for k in result.keys] == [(None, 1, VALID)]
    assert result.explored == 1
    assert result.elapsed_s >= 0


@pytest.mark.parametrize(
    ("model", "specs", "expected"),
    [
        (
            "counter",
            [
                (0, "invoke", "incr", 2),
                (0, "ok", "incr", 2),
                (1, "invoke", "read", None),
                (1, "ok", "read", 2),
            ],
            VALID,
        ),
        (
            "counter",
            [
                (0, "invoke", "incr", None),
                (0, "ok", "incr", None),
                (1, "invoke", "read", None),
                (1, "ok", "read", "1"),
            ],
            VALID,
        ),
        (
            "counter",
            [
                (0, "invoke", "incr", 2),
                (0, "ok", "incr", 2),
                (1, "invoke", "read", None),
                (1, "ok", "read", None),
            ],
            INVALID,
        ),
        (
            "counter",
            [
                (0, "invoke", "incr", 1),
                (0, "info", "incr", None),
                (1, "invoke", "read", None),
                (1, "ok", "read", 1),
            ],
            VALID,
        ),
        (
            "set",
            [
                (0, "invoke", "add", 1),
                (0, "ok", "add", 1),
                (1, "invoke", "read", None),
                (1, "ok", "read", [1]),
            ],
            VALID,
        ),
        (
            "set",
            [
                (0, "invoke", "add", 1),
                (0, "ok", "add", 1),
                (1, "invoke", "read", None),
                (1, "ok", "read", []),
            ],
            INVALID,
        ),
        (
            "set",
            [
                (0, "invoke", "add", 1),
                (1, "invoke", "add", 2),
                (0, "ok", "add", 1),
                (1, "ok", "add", 2),
                (2, "invoke", "read", None),
                (2, "ok", "read", [2, 1, 2]),
            ],
            VALID,
        ),
        (
            "list",
            [
                (0, "invoke", "append", 1),
                (1, "invoke", "append", 2),
                (0, "ok", "append", 1),
                (1, "ok", "append", 2),
                (2, "invoke", "read", None),
                (2, "ok", "read", [2, 1]),
            ],
            VALID,
        ),
        (
            "list",
            [
                (0, "invoke", "append", 1),
                (0, "ok", "append", 1),
                (1, "invoke", "append", 2),
                (1, "ok", "append", 2),
                (2, "invoke", "read", None),
                (2, "ok", "read", [2, 1]),
            ],
            INVALID,
        ),
        (
            "list",
            [
                (0, "invoke", "rpush", 1),
                (0, "ok", "rpush", 1),
                (2, "invoke", "lrange", None),
                (2, "ok", "lrange", None),
            ],
            INVALID,
        ),
        (
            "kv",
            [
                (0, "invoke", "set", "a"),
                (0, "ok", "set", "a"),
                (1, "invoke", "append", "b"),
                (1, "ok", "append", 2),
                (2, "invoke", "get", None),
                (2, "ok", "get", "ab"),
            ],
            VALID,
        ),
        (
            "kv",
            [
                (1, "invoke", "append", "b"),
                (1, "ok", "append", 1),
                (2, "invoke", "get", None),
                (2, "ok", "get", "b"),
            ],
            VALID,
        ),
        (
            "kv",
            [
                (0, "invoke", "put", "a"),
                (0, "ok", "put", "a"),
                (1, "invoke", "append", "b"),
                (1, "ok", "append", 2),
                (2, "invoke", "get", None),
                (2, "ok", "get", "a"),
            ],
            INVALID,
        ),
    ],
)
def test_other_models(model: str, specs: list[Spec], expected: Verdict) -> None:
    assert verdict(history(*specs), model) is expected


def test_an_operation_the_model_does_not_know_is_refused_with_its_line() -> None:
    h = history(
        (0, "invoke", "write", 1),
        (0, "ok", "write", 1),
        (1, "invoke", "append", "x"),
        (1, "ok", "append", "x"),
    )
    with pytest.raises(ModelError, match=r"line 3: model register has no operation 'append'"):
        check_linearizability(h, "register")
    bad_cas = history((0, "invoke", "cas", 1), (0, "ok", "cas", 1))
    with pytest.raises(ModelError, match=r"line 1: .*cas value must be \[from, to\]"):
        check_linearizability(bad_cas, "register")


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(UnknownModelError, match=r"unknown model 'queue' .*register"):
        get_model("queue")


def pathological(writers: int = 24) -> History:
    """Many concurrent writes and a read of a value nobody wrote: every subset is tried."""
    specs: list[Spec] = [(p, "invoke", "write", p) for p in range(writers)]
    specs += [(writers, "invoke", "read", None), (writers, "ok", "read", -1)]
    specs += [(p, "ok", "write", p) for p in range(writers)]
    return history(*specs)


def test_the_budget_gives_unknown_instead_of_hanging() -> None:
    ticks = itertools.count()
    result = check_linearizability(
        pathological(), "register", budget_s=5, clock=lambda: float(next(ticks))
    )
    assert result.verdict is Verdict.UNKNOWN
    assert result.violation is None
    assert [k.verdict for k in result.keys] == [Verdict.UNKNOWN]
    assert result.explored > 0


def test_the_budget_on_the_real_clock() -> None:
    started = time.monotonic()
    result = check_linearizability(pathological(), "register", budget_s=0.05)
    assert result.verdict is Verdict.UNKNOWN
    assert time.monotonic() - started < 5


def test_smaller_keys_go_first_so_a_cheap_violation_beats_the_budget() -> None:
    big: list[Spec] = [(e.process, e.type, e.f, e.value, "big") for e in pathological().events]  # type: ignore[misc]
    small: list[Spec] = [(100, "invoke", "read", None, "small"), (100, "ok", "read", 5, "small")]
    result = check_linearizability(history(*big, *small), "register", budget_s=0.05)
    assert result.verdict is INVALID
    assert result.failing_key == "small"
    assert [k.key for k in result.keys] == ["small"]


def test_a_large_generated_history_is_checked_quickly() -> None:
    import random

    from labkit.history.generate import register_history

    events = register_history(random.Random(7), 2000, keys=4, clients=8)
    result = check_linearizability(History(tuple(events)), "register", budget_s=30)
    assert result.verdict is VALID
    assert result.key_count == 4


def test_info_operations_nothing_could_observe_are_left_out() -> None:
    h = history(
        (0, "invoke", "write", 1),
        (0, "info", "write", None),  # 1 is never read: left out
        (1, "invoke", "write", 2),
        (1, "info", "write", None),  # 2 is read: kept
        (2, "invoke", "read", None),
        (2, "ok", "read", 2),
    )
    result = check_linearizability(h, "register")
    assert result.valid
    assert result.dropped == 1
    assert [k.ops for k in result.keys] == [2]
    sets = history(
        (0, "invoke", "add", 1),
        (0, "info", "add", None),
        (1, "invoke", "read", None),
        (1, "ok", "read", []),
    )
    assert check_linearizability(sets, "set").dropped == 1


def test_max_states_bounds_the_memo() -> None:
    result = check_linearizability(pathological(), "register", max_states=5000)
    assert result.verdict is Verdict.UNKNOWN
    assert 5000 <= result.explored < 5000 + 1024
