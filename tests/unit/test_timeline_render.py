"""Text rendering: offsets, width-aware cutting, tables, lanes and summary grids."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.events import Event
from labkit.timeline import (
    first_occurrences,
    format_offset,
    merge,
    render_first_occurrences,
    render_lanes,
    render_summary,
    render_table,
)
from labkit.timeline.render import display_width, fit, short_instance

MS = 1_000_000
ZERO_NS = 1_795_667_827_000_000_000
MASTER = "master m 127.0.0.1 6379"
SLAVE = "slave 127.0.0.1:6380 127.0.0.1 6380 @ m 127.0.0.1 6379"


def ev(source: str, name: str, at_ms: int, inst: str = "", details: str = "") -> Event:
    return Event(source, name, ZERO_NS + at_ms * MS, inst, details)


EVENTS = [
    [
        ev("sentinel-1", "+monitor", -1500, MASTER, "quorum 2"),
        ev("sentinel-1", "+sdown", 1012, MASTER),
        ev("sentinel-1", "+odown", 1120, MASTER, "#quorum 2/2"),
        ev("sentinel-1", "+switch-master", 1800, "", "m 127.0.0.1 6379 127.0.0.1 6380"),
    ],
    [
        ev("sentinel-2", "+sdown", 1050, MASTER),
        ev("sentinel-2", "+slave", 1900, SLAVE),
    ],
    [ev("replica", "MASTER <-> REPLICA sync: Finished with success", -1200)],
]
TIMELINE = merge(EVENTS, ZERO_NS)


@pytest.mark.parametrize(
    ("rel_ns", "text"),
    [
        (0, "+0.000s"),
        (1_234_567_890, "+1.234s"),
        (-120 * MS, "-0.120s"),
        (-400_000, "+0.000s"),
        (-1 * MS, "-0.001s"),
        (75_500 * MS, "+75.500s"),
        (999_999, "+0.000s"),
    ],
)
def test_format_offset(rel_ns: int, text: str) -> None:
    assert format_offset(rel_ns) == text


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("hello", 5, "hello"),
        ("hello world", 6, "hello…"),
        ("日本語テキスト", 5, "日本…"),
        ("abc", 0, ""),
        ("abc", 1, "…"),
    ],
)
def test_fit_counts_terminal_cells(text: str, width: int, expected: str) -> None:
    assert fit(text, width) == expected
    assert display_width(fit(text, width)) <= width


def test_fit_with_ascii_ellipsis() -> None:
    assert fit("hello world", 8, ellipsis="...") == "hello..."


def test_display_width() -> None:
    assert display_width("abc") == 3
    assert display_width("日本") == 4
    assert display_width("e\u0301") == 1  # e + combining acute


@pytest.mark.parametrize(
    ("instance", "short"),
    [
        (MASTER, "master m"),
        (SLAVE, "slave 127.0.0.1:6380"),
        ("", ""),
        ("mymaster 127.0.0.1 6379", "mymaster 127.0.0.1 6379"),
    ],
)
def test_short_instance(instance: str, short: str) -> None:
    assert short_instance(instance) == short


def test_table_rows_in_time_order_with_zero_rule() -> None:
    text = render_table(TIMELINE)
    lines = text.splitlines()
    assert lines[0].split() == ["time", "source", "event", "instance", "/", "details"]
    assert set(lines[1]) == {"─"}
    body = lines[2:]
    assert body[0].split()[:3] == ["-1.500s", "sentinel-1", "+monitor"]
    assert body[1].split()[:3] == ["-1.200s", "replica", "MASTER"]
    assert "zero" in body[2]
    assert body[2].startswith("+0.000s")
    assert body[3].split() == ["+1.012s", "sentinel-1", "+sdown", *MASTER.split()]
    assert body[5].split() == ["+1.120s", "sentinel-1", "+odown", *MASTER.split(), "#quorum", "2/2"]
    assert "m 127.0.0.1 6379 127.0.0.1 6380" in body[6]
    assert len(body) == 8
    # event names share one column, after time and source
    assert len({re.match(r"\S+\s+\S+\s+", line).end() for line in body[3:]}) == 1  # type: ignore[union-attr]


def test_table_zero_rule_at_the_end_when_everything_is_before_zero() -> None:
    lines = render_table(merge(EVENTS, ZERO_NS + 10_000 * MS)).splitlines()
    assert "zero" in lines[-1]
    assert "zero" not in render_table(TIMELINE, zero_label=None)


@pytest.mark.parametrize("width", [30, 50, 72, 100])
def test_table_respects_width(width: int) -> None:
    for ascii_only in (False, True):
        text = render_table(TIMELINE, width=width, ascii_only=ascii_only)
        assert all(display_width(line) <= width for line in text.splitlines()), text
    assert "+switch-master" in render_table(TIMELINE, width=50)


def test_table_short_instances() -> None:
    text = render_table(TIMELINE, short=True)
    assert "+slave" in text
    assert "slave 127.0.0.1:6380" in text
    assert "@ m" not in text


def test_control_characters_never_reach_the_terminal() -> None:
    hostile = [[ev("evil\x1b[31m", "+x", 1, "", "\x1b]0;title\x07 details\ttab")]]
    for text in (
        render_table(merge(hostile, ZERO_NS)),
        render_lanes(merge(hostile, ZERO_NS)),
        render_first_occurrences(first_occurrences(merge(hostile, ZERO_NS), ["+x"])),
    ):
        assert "\x1b" not in text
        assert "\x07" not in text
        assert "\t" not in text


def test_lanes_put_each_event_in_its_source_column() -> None:
    text = render_lanes(TIMELINE, ascii_only=True)
    lines = text.splitlines()
    header = lines[0]
    assert [c.strip() for c in header.split(" | ")] == [
        "time",
        "sentinel-1",
        "sentinel-2",
        "replica",
    ]
    lane_start = {name: header.index(name) for name in ("sentinel-1", "sentinel-2", "replica")}
    expected = [
        ("-1.500s", "sentinel-1", "+monitor master m quorum 2"),
        ("-1.200s", "replica", "MASTER <-> REPLICA sync"),
        ("+1.012s", "sentinel-1", "+sdown master m"),
        ("+1.050s", "sentinel-2", "+sdown master m"),
        ("+1.120s", "sentinel-1", "+odown master m #quorum 2/2"),
        ("+1.800s", "sentinel-1", "+switch-master m 127.0.0.1 6379"),
        ("+1.900s", "sentinel-2", "+slave slave 127.0.0.1:6380"),
    ]
    assert len(lines) == 2 + len(expected)
    for line, (time, lane, text_start) in zip(lines[2:], expected, strict=True):
        assert line.startswith(time)
        assert line.index(text_start) == lane_start[lane], line


@pytest.mark.parametrize("width", [40, 80, 120])
def test_lanes_share_the_width(width: int) -> None:
    text = render_lanes(TIMELINE, width=width)
    assert all(display_width(line) <= width for line in text.splitlines()), text


def test_lanes_pick_sources_and_empty_timeline() -> None:
    text = render_lanes(TIMELINE, sources=["sentinel-2"])
    assert "sentinel-1" not in text
    assert "+slave" in text
    assert render_lanes(merge([], 0)) == ""


def test_summary_grid_generic() -> None:
    values: dict[str, dict[str, int | None]] = {"a": {"x": 1, "y": 22}, "bb": {"y": None}}
    text = render_summary(
        ["a", "bb", "ccc"], ["x", "y"], values, corner="row", fmt=lambda v: f"{v}!"
    )
    lines = text.splitlines()
    assert lines[0].split() == ["row", "x", "y"]
    assert lines[2].split() == ["a", "1!", "22!"]
    assert lines[3].split() == ["bb", "-", "-"]
    assert lines[4].split() == ["ccc", "-", "-"]
    # values are right-aligned under their headers
    assert lines[2].endswith("22!")
    assert lines[0].index("y") == lines[2].index("22!") + 2


def test_summary_respects_width_by_cutting_headers_first() -> None:
    columns = ["+sdown", "+odown", "+elected-leader", "+failover-state-select-slave"]
    values = {"sentinel-with-a-long-name": dict.fromkeys(columns, 1_234 * MS)}
    text = render_summary(list(values), columns, values, fmt=format_offset, width=60)
    lines = text.splitlines()
    assert all(display_width(line) <= 60 for line in lines), text
    assert lines[2].split()[1:] == ["+1.234s"] * 4


def test_first_occurrence_summary() -> None:
    table = first_occurrences(TIMELINE, ["+sdown", "+odown", "+switch-master"], after_zero=True)
    lines = render_first_occurrences(table).splitlines()
    assert lines[0].split() == ["source", "+sdown", "+odown", "+switch-master"]
    assert lines[2].split() == ["sentinel-1", "+1.012s", "+1.120s", "+1.800s"]
    assert lines[3].split() == ["sentinel-2", "+1.050s", "-", "-"]
    assert lines[4].split() == ["replica", "-", "-", "-"]


_texts = st.text(st.characters(codec="utf-8"), max_size=40)


@given(
    st.lists(st.tuples(_texts, _texts, st.integers(-5000, 5000)), max_size=12),
    st.integers(1, 140),
)
def test_any_text_renders_within_width(rows: list[tuple[str, str, int]], width: int) -> None:
    timeline = merge([[ev(s, n, t) for s, n, t in rows]], ZERO_NS)
    for text in (render_table(timeline, width=width), render_lanes(timeline, width=width)):
        assert all(display_width(line) <= width for line in text.splitlines()), text
        assert "\n\n" not in text
