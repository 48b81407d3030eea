"""``SlotBitmap`` against a naive set-of-ints reference and the wire's bit layout."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gossip_cluster.wire import CLUSTER_SLOTS, SlotBitmap

slot_sets = st.one_of(
    st.sets(st.integers(0, CLUSTER_SLOTS - 1), max_size=200),
    st.lists(st.tuples(st.integers(0, 16383), st.integers(0, 300)), max_size=6).map(
        lambda runs: {s for a, n in runs for s in range(a, min(a + n, 16383) + 1)}
    ),
)


def naive_ranges(slots: set[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for slot in sorted(slots):
        if out and out[-1][1] == slot - 1:
            out[-1] = (out[-1][0], slot)
        else:
            out.append((slot, slot))
    return out


def naive_bytes(slots: set[int]) -> bytes:
    raw = bytearray(2048)
    for slot in slots:
        raw[slot >> 3] |= 1 << (slot & 7)
    return bytes(raw)


@settings(max_examples=200, deadline=None)
@given(slot_sets)
def test_matches_a_naive_set(slots: set[int]) -> None:
    bitmap = SlotBitmap.of(slots)
    assert list(bitmap) == sorted(slots)
    assert len(bitmap) == len(slots) and bool(bitmap) == bool(slots)
    assert bitmap.ranges() == naive_ranges(slots)
    assert SlotBitmap.from_ranges(bitmap.ranges()) == bitmap
    assert bitmap.to_bytes() == naive_bytes(slots)
    assert SlotBitmap.from_bytes(naive_bytes(slots)) == bitmap
    for probe in [0, 1, 8, 5000, 16383, *list(slots)[:5]]:
        assert bitmap.test(probe) is (probe in slots) and (probe in bitmap) is (probe in slots)


@settings(max_examples=100, deadline=None)
@given(slot_sets, slot_sets)
def test_set_algebra(a: set[int], b: set[int]) -> None:
    x, y = SlotBitmap.of(a), SlotBitmap.of(b)
    assert set(x | y) == a | b and set(x & y) == a & b and set(x - y) == a - b
    assert set(x.set(*b)) == a | b and set(x.clear(*b)) == a - b
    assert (x == y) is (a == b) and (hash(x) == hash(y) or a != b)


def test_bit_layout_and_edges() -> None:
    assert SlotBitmap.of([0]).to_bytes()[0] == 1
    assert SlotBitmap.of([9]).to_bytes()[1] == 2
    assert SlotBitmap.of([16383]).to_bytes()[2047] == 0x80
    full = SlotBitmap.full()
    assert (
        len(full) == 16384 and full.ranges() == [(0, 16383)] and full.to_bytes() == b"\xff" * 2048
    )
    assert SlotBitmap().ranges() == [] and not SlotBitmap() and list(SlotBitmap()) == []
    assert repr(SlotBitmap.from_ranges([(0, 5460), (7000, 7000)])) == "SlotBitmap(0-5460 7000)"
    assert "x" not in SlotBitmap.full() and -1 not in SlotBitmap.full()


@pytest.mark.parametrize(
    "build",
    [
        lambda: SlotBitmap.of([16384]),
        lambda: SlotBitmap.of([-1]),
        lambda: SlotBitmap.from_ranges([(5, 4)]),
        lambda: SlotBitmap.from_ranges([(0, 16384)]),
        lambda: SlotBitmap.from_bytes(bytes(2047)),
        lambda: SlotBitmap(1 << 16384),
        lambda: SlotBitmap().test(16384),
        lambda: SlotBitmap().set(-1),
    ],
)
def test_out_of_range(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


def test_immutable() -> None:
    bitmap = SlotBitmap.of([1])
    with pytest.raises(AttributeError):
        bitmap._bits = 0
    assert bitmap.set(2) is not bitmap and list(bitmap) == [1]
