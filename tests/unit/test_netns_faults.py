"""The namespace backend's fault book: cuts, replacement, heal scopes and events."""

from __future__ import annotations

import pytest

from labkit.faults.netns_faults import (
    CONTROL,
    FaultBook,
    TbfLimit,
    isolate_fault,
    limit_fault,
    link_fault,
    partition_fault,
)


@pytest.mark.parametrize(
    ("direction", "cuts", "shown"),
    [
        ("both", {("a", "b"), ("b", "a")}, "both"),
        ("a_to_b", {("a", "b")}, "a->b"),
        ("b_to_a", {("b", "a")}, "b->a"),
    ],
)
def test_partition_cuts(direction: str, cuts: set[tuple[str, str]], shown: str) -> None:
    fault = partition_fault("a", "b", direction)  # type: ignore[arg-type]
    assert fault.cuts == cuts
    assert fault.instance == "link a-b"
    assert f"direction={shown}" in fault.details


def test_partition_instance_is_the_same_whichever_order() -> None:
    first, second = partition_fault("b", "a"), partition_fault("a", "b")
    assert first.key == second.key and first.instance == second.instance == "link a-b"
    assert "direction=b->a" in partition_fault("b", "a", "a_to_b").details


@pytest.mark.parametrize(("a", "b", "direction"), [("a", "a", "both"), ("a", "b", "left")])
def test_bad_partitions_are_refused(a: str, b: str, direction: str) -> None:
    with pytest.raises(ValueError):
        partition_fault(a, b, direction)  # type: ignore[arg-type]


def test_isolate_cuts_every_peer_both_ways() -> None:
    fault = isolate_fault("a", ["a", "b", "c", CONTROL])
    assert fault.cuts == {(x, y) for p in ("b", "c", CONTROL) for x, y in (("a", p), (p, "a"))}
    assert fault.instance == "host a"


def test_book_events_replacement_and_union_of_cuts() -> None:
    book = FaultBook()
    assert book.add(partition_fault("a", "b")) == [
        ("+partition", "link a-b", "direction=both backend=netns")
    ]
    events = book.add(partition_fault("a", "b", "a_to_b"))
    assert [e[0] for e in events] == ["-fault", "+partition"]
    book.add(isolate_fault("c", ["a", "b", "c"]))
    assert book.cuts() == {("a", "b"), ("c", "a"), ("a", "c"), ("c", "b"), ("b", "c")}


def test_ending_one_of_two_faults_on_a_host_reopens_the_other() -> None:
    book = FaultBook()
    book.add(link_fault("a"))
    limit = TbfLimit("1mbit", 32768, 200.0, "both")
    book.add(limit_fault("a", limit))
    assert book.down_links() == {"a"} and book.limits() == {"a": limit}
    events = book.remove([("link", "a")])
    assert [(name, instance) for name, instance, _ in events] == [
        ("-fault", "host a"),
        ("+throttle", "host a"),
    ]
    assert book.down_links() == set()
    assert book.remove([("link", "a")]) == [], "removing what is not on says nothing"


def test_heal_scopes() -> None:
    book = FaultBook()
    book.add(partition_fault("a", "b"))
    book.add(partition_fault("b", "c"))
    book.add(isolate_fault("a", ["a", "b", "c"]))
    book.add(link_fault("c"))
    assert book.keys_for("a", "b") == [("partition", "a", "b")]
    assert sorted(book.keys_for("a")) == [("isolate", "a"), ("partition", "a", "b")]
    assert sorted(book.keys_for("c")) == [("link", "c"), ("partition", "b", "c")]
    assert len(book.keys_for()) == 4
    book.remove(book.keys_for("a", "b"))
    assert ("a", "b") in book.cuts(), "a is still isolated"
    book.remove(book.keys_for())
    assert book.cuts() == set() and not book.active


def test_limit_direction_is_checked() -> None:
    with pytest.raises(ValueError, match="direction"):
        limit_fault("a", TbfLimit("1mbit", 32768, 200.0, "up"))  # type: ignore[arg-type]
