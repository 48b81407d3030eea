"""The JSON-lines event stream: round trips, and bad lines named by number."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.events import Event
from labkit.timeline import (
    EventStreamError,
    EventStreamWriter,
    LogFormatError,
    dumps_event,
    iter_events,
    loads_event,
    read_events,
    write_events,
)
from labkit.timeline.jsonl import format_wall, parse_wall

T0_NS = 1_795_667_827_083_456_789  # 26 Nov 2026 04:37:07.083456789 UTC

EVENT = Event(
    source="sentinel-1",
    name="+odown",
    wall_ns=T0_NS,
    instance="master m 127.0.0.1 6379",
    details="#quorum 1/1",
    mono_ns=987_654_321,
    level="#",
    pid=4191,
    role="X",
)


def test_line_has_every_field_and_a_readable_wall() -> None:
    record = json.loads(dumps_event(EVENT))
    assert record == {
        "wall": "2026-11-26T04:37:07.083Z",
        "wall_ns": T0_NS,
        "mono_ns": 987_654_321,
        "source": "sentinel-1",
        "name": "+odown",
        "instance": "master m 127.0.0.1 6379",
        "details": "#quorum 1/1",
        "level": "#",
        "pid": 4191,
        "role": "X",
    }
    assert "\n" not in dumps_event(EVENT)


@pytest.mark.parametrize(
    ("wall_ns", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (999_999, "1970-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (T0_NS, "2026-11-26T04:37:07.083Z"),
        (-62_135_596_800 * 10**9, "0001-01-01T00:00:00.000Z"),
        (253_402_300_799 * 10**9 + 999_999_999, "9999-12-31T23:59:59.999Z"),
    ],
)
def test_format_wall(wall_ns: int, text: str) -> None:
    assert format_wall(wall_ns) == text


def test_times_outside_years_1_to_9999_are_refused() -> None:
    with pytest.raises(LogFormatError, match="out of range"):
        dumps_event(Event(source="s", name="+x", wall_ns=253_402_300_800 * 10**9))
    with pytest.raises(EventStreamError, match="ISO-8601"):
        loads_event('{"source": "s", "name": "+x", "wall": "0001-01-01T00:00:00+01:00"}')


def test_parse_wall_accepts_offsets_and_refuses_naive_times() -> None:
    assert parse_wall("2026-11-26T04:37:07.083Z") == T0_NS - 456_789
    assert parse_wall("2026-11-26T05:37:07.083+01:00") == T0_NS - 456_789
    with pytest.raises(ValueError, match="offset"):
        parse_wall("2026-11-26T04:37:07.083")


def test_wall_alone_is_enough_and_defaults_fill_the_rest() -> None:
    event = loads_event('{"wall": "2026-11-26T04:37:07.083Z", "source": "s", "name": "+x"}')
    assert event == Event(source="s", name="+x", wall_ns=T0_NS - 456_789)


def test_unknown_keys_are_ignored() -> None:
    line = dumps_event(EVENT)[:-1] + ', "added_later": [1, 2]}'
    assert loads_event(line) == EVENT


BAD_LINES = [
    ("{not json", "not JSON"),
    ("[1, 2]", "not a JSON object but list"),
    ('"text"', "not a JSON object but str"),
    ('{"name": "+x", "wall_ns": 1}', "'source' missing"),
    ('{"source": 5, "name": "+x", "wall_ns": 1}', "'source' not a string"),
    ('{"source": "s", "name": "+x", "wall_ns": "1"}', "'wall_ns' not an integer"),
    ('{"source": "s", "name": "+x", "wall_ns": true}', "'wall_ns' not an integer"),
    ('{"source": "s", "name": "+x", "wall_ns": 1.5}', "'wall_ns' not an integer"),
    ('{"source": "s", "name": "+x"}', "neither 'wall_ns' nor 'wall'"),
    ('{"source": "s", "name": "+x", "wall": "yesterday"}', "'wall' not an ISO-8601 time"),
    ('{"source": "s", "name": "+x", "wall": "2026-11-26T04:37:07"}', "offset"),
    ('{"source": "s", "name": "+x", "wall": 17}', "'wall' not a string"),
    (
        f'{{"source": "s", "name": "+x", "wall": "2026-11-26T04:37:08.083Z", "wall_ns": {T0_NS}}}',
        "disagree",
    ),
    ('{"source": "s", "name": "+x", "wall_ns": 1, "mono_ns": "x"}', "'mono_ns' not an integer"),
    ('{"source": "s", "name": "+x", "wall_ns": 1, "pid": 1.0}', "'pid' not an integer"),
    ('{"source": "s", "name": "+x", "wall_ns": 1, "level": null}', "'level' not a string"),
    ("[" * 100_000, "not JSON"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES, ids=[r for _, r in BAD_LINES])
def test_bad_line_is_reported_with_its_number(line: str, reason: str) -> None:
    good = dumps_event(EVENT)
    stream = [good, "", good, line, good]
    events = iter_events(stream)
    assert next(events) == EVENT
    assert next(events) == EVENT
    with pytest.raises(EventStreamError) as info:
        next(events)
    assert info.value.line_no == 4
    assert reason in info.value.reason
    assert str(info.value).startswith("line 4: ")


def test_file_round_trip_and_writer(tmp_path: Path) -> None:
    events = [EVENT, Event(source="m", name="Ready to accept connections", wall_ns=5, role="M")]
    path = tmp_path / "events.jsonl"
    assert write_events(path, events) == 2
    assert read_events(path) == events
    stream = io.StringIO()
    writer = EventStreamWriter(stream)
    for event in events:
        writer.write(event)
    assert stream.getvalue() == path.read_text(encoding="utf-8")


def test_read_events_names_the_line_with_bad_utf8(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    good = dumps_event(EVENT).encode()
    path.write_bytes(good + b"\n\n" + good + b"\n" + b'{"source": "\xff"}\n')
    with pytest.raises(EventStreamError) as info:
        read_events(path)
    assert info.value.line_no == 4
    assert "UTF-8" in info.value.reason


_text = st.text(st.characters(codec="utf-8"), max_size=30)


@given(
    st.builds(
        Event,
        source=_text,
        name=_text,
        wall_ns=st.integers(-62_135_596_800 * 10**9, 253_402_300_799 * 10**9 + 999_999_999),
        instance=_text,
        details=_text,
        mono_ns=st.none() | st.integers(-(2**70), 2**70),
        level=_text,
        pid=st.none() | st.integers(-(2**40), 2**40),
        role=_text,
    )
)
def test_any_event_round_trips_exactly(event: Event) -> None:
    line = dumps_event(event)
    assert "\n" not in line
    assert loads_event(line) == event
    assert list(iter_events(io.StringIO(line + "\n"))) == [event]
