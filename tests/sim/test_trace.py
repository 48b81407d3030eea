"""Trace hashing and conversion to timeline events."""

from __future__ import annotations

from labkit.actions import Emit
from labkit.events import Event
from labkit.sim import Trace
from labkit.sim.trace import DEFAULT_ANCHOR_WALL_NS


def test_hash_depends_on_every_field() -> None:
    def digest(*entry: object) -> str:
        trace = Trace()
        trace.record(*entry)  # type: ignore[arg-type]
        return trace.hexdigest()

    base = digest(1, "send", "a", ("x", 1))
    assert base == digest(1, "send", "a", ("x", 1))
    assert (
        len(
            {
                base,
                digest(2, "send", "a", ("x", 1)),
                digest(1, "emit", "a", ("x", 1)),
                digest(1, "send", "b", ("x", 1)),
                digest(1, "send", "a", ("x", 2)),
            }
        )
        == 5
    )


def test_unkept_trace_still_hashes() -> None:
    kept, unkept = Trace(), Trace(keep=False)
    for trace in (kept, unkept):
        trace.record(5, "deliver", "a", "m")
    assert kept.hexdigest() == unkept.hexdigest()
    assert unkept.entries == [] and unkept.count == 1


def test_to_events_stamps_virtual_time() -> None:
    trace = Trace()
    event = Event(source="", name="+elected", wall_ns=0, details="epoch 1", role="L")
    trace.record(250, "emit", "n1", Emit(event))
    trace.record(300, "crash", "n2", "between steps")
    trace.record(310, "deliver", "n3", "m")
    events = trace.to_events()
    assert [e.name for e in events] == ["+elected", "+crash"]
    elected, crash = events
    assert elected.source == "n1" and elected.role == "L" and elected.details == "epoch 1"
    assert elected.wall_ns == DEFAULT_ANCHOR_WALL_NS + 250_000_000
    assert elected.mono_ns == 250_000_000
    assert crash.source == "sim" and crash.instance == "n2"
    with_messages = trace.to_events(anchor_wall_ns=0, include_messages=True)
    assert with_messages[-1].name == "deliver" and with_messages[-1].wall_ns == 310_000_000
