"""The cheap checks: lost acknowledged writes, and stale reads."""

from __future__ import annotations

import random
from typing import cast

import pytest

from labkit.history import (
    History,
    HistoryEvent,
    ModelError,
    check_linearizability,
    check_lost_writes,
    check_stale_reads,
    freeze,
)
from labkit.history.generate import register_history
from labkit.history.ops import EventType, Value


def history(*specs: tuple[int, str, str, object] | tuple[int, str, str, object, str]) -> History:
    events = []
    for line, (process, kind, f, value, *key) in enumerate(specs, start=1):
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


SET_HISTORY = history(
    (0, "invoke", "add", 1),
    (0, "ok", "add", 1),  # acknowledged, present
    (1, "invoke", "add", 2),
    (1, "ok", "add", 2),  # acknowledged, lost
    (2, "invoke", "add", 3),
    (2, "info", "add", None),  # unknown, present
    (3, "invoke", "add", 4),
    (3, "info", "add", None),  # unknown, absent
    (4, "invoke", "add", 5),
    (4, "fail", "add", 5),  # refused
    (5, "invoke", "add", 6),
    (5, "fail", "add", 6),  # refused, but present: it did happen
    (6, "invoke", "add", 7),
    (9, "invoke", "read", None),
    (9, "ok", "read", [1, 3, 6, 8]),  # 8: nobody added it
    (6, "ok", "add", 7),  # completed after the final read began: not judged
)


def test_lost_writes_on_a_set() -> None:
    result = check_lost_writes(SET_HISTORY, "set")
    assert not result.valid
    (key,) = result.keys
    assert key.final_read is not None and key.final_read.call_line == 14
    assert key.acknowledged == 2
    assert [op.value for op in key.lost] == [2]
    assert (key.unknown_present, key.unknown_absent, key.refused) == (1, 1, 2)
    assert [op.value for op in key.refused_present] == [6]
    assert key.unexpected == (8,)
    assert key.in_flight == 1
    assert (result.acknowledged, len(result.lost), result.unknown_present, result.refused) == (
        2,
        1,
        1,
        2,
    )
    # The linearizability checker agrees that this history is broken.
    assert not check_linearizability(SET_HISTORY, "set").valid


def test_lost_writes_on_lists_by_key_and_without_a_final_read() -> None:
    h = history(
        (0, "invoke", "append", 1, "a"),
        (0, "ok", "append", 1, "a"),
        (1, "invoke", "append", 2, "a"),
        (1, "ok", "append", 2, "a"),
        (2, "invoke", "read", None, "a"),
        (2, "ok", "read", [2, 1], "a"),
        (0, "invoke", "append", 3, "b"),
        (0, "fail", "append", 3, "b"),
    )
    result = check_lost_writes(h, "list")
    assert result.valid
    a, b = result.keys
    assert (a.key, a.acknowledged, a.lost) == ("a", 2, ())
    assert (b.key, b.final_read, b.refused) == ("b", None, 1)


def test_lost_writes_needs_a_set_or_list_model() -> None:
    with pytest.raises(ModelError, match="for set and list histories, not register"):
        check_lost_writes(SET_HISTORY, "register")
    with pytest.raises(ModelError, match="line 1: model set has no operation 'write'"):
        check_lost_writes(history((0, "invoke", "write", 1)), "set")


def test_a_read_older_than_a_completed_write_is_stale() -> None:
    h = history(
        (0, "invoke", "write", 1),
        (0, "ok", "write", 1),
        (0, "invoke", "write", 2),
        (0, "ok", "write", 2),
        (1, "invoke", "read", None),
        (1, "ok", "read", 1),  # stale: write 2 completed before the read began
    )
    result = check_stale_reads(h)
    assert not result.valid
    (stale,) = result.stale
    assert stale.read.call_line == 5
    assert stale.newer_write.value == 2
    assert stale.source is not None and stale.source.value == 1
    assert result.reads == 1


@pytest.mark.parametrize(
    ("specs", "stale", "unwritten"),
    [
        # nil after a completed write: stale, from the initial state
        (
            [
                (0, "invoke", "write", 1),
                (0, "ok", "write", 1),
                (1, "invoke", "read", None),
                (1, "ok", "read", None),
            ],
            1,
            0,
        ),
        # the read overlaps the newer write: not stale
        (
            [
                (0, "invoke", "write", 1),
                (0, "ok", "write", 1),
                (0, "invoke", "write", 2),
                (1, "invoke", "read", None),
                (1, "ok", "read", 1),
                (0, "ok", "write", 2),
            ],
            0,
            0,
        ),
        # the two writes overlap: either may be last
        (
            [
                (0, "invoke", "write", 1),
                (2, "invoke", "write", 2),
                (0, "ok", "write", 1),
                (2, "ok", "write", 2),
                (1, "invoke", "read", None),
                (1, "ok", "read", 1),
            ],
            0,
            0,
        ),
        # an info write of the value read may have landed late: never stale
        (
            [
                (0, "invoke", "write", 1),
                (0, "info", "write", None),
                (2, "invoke", "write", 2),
                (2, "ok", "write", 2),
                (1, "invoke", "read", None),
                (1, "ok", "read", 1),
            ],
            0,
            0,
        ),
        # cas writes its second value
        (
            [
                (0, "invoke", "cas", [None, 1]),
                (0, "ok", "cas", [None, 1]),
                (2, "invoke", "write", 2),
                (2, "ok", "write", 2),
                (1, "invoke", "read", None),
                (1, "ok", "read", 1),
            ],
            1,
            0,
        ),
        # a value only a failed write wrote, and one nobody wrote
        (
            [
                (0, "invoke", "write", 1),
                (0, "fail", "write", 1),
                (1, "invoke", "read", None),
                (1, "ok", "read", 1),
                (1, "invoke", "read", None),
                (1, "ok", "read", 9),
            ],
            0,
            2,
        ),
        # keys are separate
        (
            [
                (0, "invoke", "write", 1, "a"),
                (0, "ok", "write", 1, "a"),
                (1, "invoke", "read", None, "b"),
                (1, "ok", "read", None, "b"),
            ],
            0,
            0,
        ),
    ],
)
def test_stale_read_cases(
    specs: list[tuple[int, str, str, object]], stale: int, unwritten: int
) -> None:
    result = check_stale_reads(history(*specs))
    assert (len(result.stale), len(result.unwritten)) == (stale, unwritten)


def test_stale_reads_and_linearizability_agree_on_generated_histories() -> None:
    """A stale read is a linearizability violation; linearizable histories have none."""
    for seed in range(20):
        events = register_history(random.Random(seed), 300, keys=3, clients=5)
        assert check_stale_reads(History(tuple(events))).valid
        # Make one late read return the first value written to its key.
        first: dict[Value, Value] = {}
        for e in events:
            if e.type == "ok" and e.f == "write":
                first.setdefault(e.key, e.value)
        late = [
            i
            for i, e in enumerate(events)
            if i > len(events) // 2
            and e.type == "ok"
            and e.f == "read"
            and e.key in first
            and e.value != first[e.key]
        ]
        if not late:
            continue
        i = late[-1]
        events[i] = HistoryEvent(
            events[i].process, "ok", "read", first[events[i].key], events[i].key
        )
        h = History(tuple(events))
        if not check_stale_reads(h).valid:
            assert not check_linearizability(h, "register").valid
