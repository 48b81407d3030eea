"""Merging sources onto one time axis, and first occurrences."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.events import Event
from labkit.timeline import Anchor, MergeError, first_occurrence, first_occurrences, merge

MS = 1_000_000
ZERO_NS = 1_795_667_827_000_000_000


def ev(source: str, name: str, at_ms: int, *, mono_ms: int | None = None, inst: str = "") -> Event:
    mono = None if mono_ms is None else mono_ms * MS
    return Event(
        source=source, name=name, wall_ns=ZERO_NS + at_ms * MS, instance=inst, mono_ns=mono
    )


S1 = [
    ev("s1", "+monitor", -500),
    ev("s1", "+sdown", 1000, inst="master m 127.0.0.1 6379"),
    ev("s1", "+odown", 1000, inst="master m 127.0.0.1 6379"),
    ev("s1", "+sdown", 3000, inst="slave 127.0.0.1:6380 127.0.0.1 6380 @ m 127.0.0.1 6379"),
]
S2 = [
    ev("s2", "+sdown", 900, inst="master m 127.0.0.1 6379"),
    ev("s2", "+sdown", 1000, inst="master m 127.0.0.1 6379"),
]
MASTER = [ev("master", "Ready to accept connections", -900)]


def test_sorted_by_time_then_source_order_then_original_order() -> None:
    timeline = merge([S1, S2, MASTER], ZERO_NS)
    assert [(e.source, e.event.name, e.rel_ns // MS) for e in timeline] == [
        ("master", "Ready to accept connections", -900),
        ("s1", "+monitor", -500),
        ("s2", "+sdown", 900),
        ("s1", "+sdown", 1000),
        ("s1", "+odown", 1000),
        ("s2", "+sdown", 1000),
        ("s1", "+sdown", 3000),
    ]
    assert timeline.sources == ("s1", "s2", "master")
    assert timeline.clock == "wall"
    assert timeline.zero == Anchor(ZERO_NS)
    assert timeline.entries[2].rel_ms == 900.0
    assert len(timeline) == 7


def test_swapping_source_lists_swaps_ties() -> None:
    names = [(e.source, e.rel_ns) for e in merge([S2, S1], ZERO_NS) if e.rel_ns == 1000 * MS]
    assert [n for n, _ in names] == ["s2", "s1", "s1"]


def test_mono_is_used_when_every_event_and_the_anchor_have_it() -> None:
    # wall clocks disagree (s2's clock is 5 s off); monotonic readings put them right
    a = [Event("a", "+x", ZERO_NS, mono_ns=10_000 * MS)]
    b = [Event("b", "+y", ZERO_NS + 5000 * MS, mono_ns=9_000 * MS)]
    anchor = Anchor(wall_ns=ZERO_NS, mono_ns=9_500 * MS)
    timeline = merge([a, b], anchor)
    assert timeline.clock == "mono"
    assert [(e.source, e.rel_ns // MS) for e in timeline] == [("b", -500), ("a", 500)]
    assert merge([a, b], anchor, clock="wall").clock == "wall"
    c = [Event("c", "parsed from a log", ZERO_NS)]
    assert merge([a, b, c], anchor).clock == "wall"
    assert merge([a, b], ZERO_NS).clock == "wall"


def test_forced_mono_without_readings_is_a_merge_error() -> None:
    a = [Event("a", "+x", ZERO_NS, mono_ns=1)]
    with pytest.raises(MergeError, match="anchor"):
        merge([a], ZERO_NS, clock="mono")
    with pytest.raises(MergeError, match="'b' has no mono_ns"):
        merge([a, [Event("b", "+y", ZERO_NS)]], Anchor(ZERO_NS, 0), clock="mono")


def test_empty_inputs() -> None:
    timeline = merge([], ZERO_NS)
    assert (timeline.entries, timeline.sources) == ((), ())
    assert merge([[], S2], ZERO_NS).sources == ("s2",)


def test_select_keeps_sources_and_zero() -> None:
    timeline = merge([S1, S2], ZERO_NS).select(lambda e: e.event.name == "+odown")
    assert [e.event.name for e in timeline] == ["+odown"]
    assert timeline.sources == ("s1", "s2")


def test_first_occurrence_per_source() -> None:
    timeline = merge([S1, S2, MASTER], ZERO_NS)
    first = first_occurrence(timeline, "+sdown")
    assert {s: e.rel_ns // MS for s, e in first.items()} == {"s1": 1000, "s2": 900}
    slaves = first_occurrence(timeline, "+sdown", where=lambda e: e.instance.startswith("slave "))
    assert {s: e.rel_ns // MS for s, e in slaves.items()} == {"s1": 3000}
    assert first_occurrence(timeline, "+monitor", after_zero=True) == {}
    assert first_occurrence(timeline, "+monitor")["s1"].rel_ns == -500 * MS


def test_first_occurrences_table_has_every_source_and_name() -> None:
    table = first_occurrences(merge([S1, S2, MASTER], ZERO_NS), ["+sdown", "+odown", "+nope"])
    assert table == {
        "s1": {"+sdown": 1000 * MS, "+odown": 1000 * MS, "+nope": None},
        "s2": {"+sdown": 900 * MS, "+odown": None, "+nope": None},
        "master": {"+sdown": None, "+odown": None, "+nope": None},
    }
    assert list(table["s1"]) == ["+sdown", "+odown", "+nope"]


_source_lists = st.lists(
    st.lists(st.integers(-50, 50), max_size=8),
    max_size=5,
)


@given(_source_lists, st.integers(-60, 60))
def test_merge_matches_a_naive_stable_sort(times: list[list[int]], zero_ms: int) -> None:
    sources = [[ev(f"s{i}", f"e{j}", t) for j, t in enumerate(ts)] for i, ts in enumerate(times)]
    timeline = merge(sources, ZERO_NS + zero_ms * MS)
    flat = [(t - zero_ms, i, j) for i, ts in enumerate(times) for j, t in enumerate(ts)]
    expected = sorted(flat)  # a tuple sort: time, then source position, then position in it
    assert [(e.rel_ns // MS, e.source_index, e.index) for e in timeline] == expected
    assert all(e.event is sources[e.source_index][e.index] for e in timeline)
