"""Redis log lines: writing them, and format-then-parse round trips."""

from __future__ import annotations

import contextlib
import io
import string
from dataclasses import replace
from datetime import UTC, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from labkit.events import Event
from labkit.timeline import (
    LogFormatError,
    LogParseError,
    RedisLogWriter,
    format_line,
    is_event,
    parse_line,
    parse_log,
    split_message,
)
from labkit.timeline.redislog import format_time, parse_time

# 26 Nov 2026 04:37:07.083 UTC
T0_NS = 1_795_667_827_083_000_000


# ----------------------------------------------------------------------------- writing


def test_format_line_matches_redis_layout() -> None:
    event = Event(
        source="s1",
        name="+odown",
        wall_ns=T0_NS + 999_999,  # sub-ms part is truncated, as Redis does with tv_usec/1000
        instance="master mymaster 127.0.0.1 6379",
        details="#quorum 2/2",
        pid=4191,
        role="X",
        level="#",
    )
    assert format_line(event) == (
        "4191:X 26 Nov 2026 04:37:07.083 # +odown master mymaster 127.0.0.1 6379 #quorum 2/2"
    )


@pytest.mark.parametrize(
    ("wall_ns", "tz", "expected"),
    [
        (0, UTC, "01 Jan 1970 00:00:00.000"),
        (5 * 86400 * 10**9 + 7_000_000, UTC, "06 Jan 1970 00:00:00.007"),
        (T0_NS, timezone(timedelta(hours=2)), "26 Nov 2026 06:37:07.083"),
        (T0_NS, timezone(timedelta(hours=-5, minutes=-30)), "25 Nov 2026 23:07:07.083"),
        (T0_NS, ZoneInfo("Europe/Berlin"), "26 Nov 2026 05:37:07.083"),  # CET in November
        (-1, UTC, "31 Dec 1969 23:59:59.999"),
    ],
)
def test_format_time(wall_ns: int, tz: timezone, expected: str) -> None:
    assert format_time(wall_ns, tz) == expected


def test_format_time_without_year() -> None:
    assert format_time(T0_NS, with_year=False) == "26 Nov 04:37:07.083"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"level": "!"}, "level"),
        ({"level": "##"}, "level"),
        ({"role": "Q"}, "role"),
        ({"pid": None}, "pid"),
        ({"pid": -1}, "pid"),
        ({"details": "two\nlines"}, "line break"),
        ({"details": "cr\r"}, "line break"),
        ({"wall_ns": 10**21}, "out of range"),
    ],
)
def test_format_line_refuses_what_cannot_be_a_log_line(
    changes: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {"source": "s", "name": "+x", "wall_ns": T0_NS, "pid": 1}
    fields.update(changes)
    event = Event(**fields)  # type: ignore[arg-type]
    with pytest.raises(LogFormatError, match=message):
        format_line(event)


def test_writer_fills_missing_pid_and_flushes_each_line() -> None:
    stream = io.StringIO()
    writer = RedisLogWriter(stream, pid=77, tz=timezone(timedelta(hours=1)))
    writer.write(Event(source="s", name="+new-epoch", details="3", wall_ns=T0_NS))
    writer.write(Event(source="s", name="hello", wall_ns=T0_NS, pid=5, role="M", level="*"))
    assert stream.getvalue().splitlines() == [
        "77:X 26 Nov 2026 05:37:07.083 # +new-epoch 3",
        "5:M 26 Nov 2026 05:37:07.083 * hello",
    ]


def test_raw_event_is_written_raw() -> None:
    raw = Event(source="s", name="   _._   ", wall_ns=T0_NS, level="", role="", pid=None)
    assert format_line(raw) == "   _._   "


# ----------------------------------------------------------------------------- properties

_token = st.text(
    alphabet=st.characters(exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=12,
)
_free_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"),
    max_size=40,
)
_event_name = st.builds(
    lambda sign, head, tail: sign + head + tail,
    st.sampled_from("+-"),
    st.sampled_from(string.ascii_lowercase),
    st.text(alphabet=string.ascii_lowercase + string.digits + "-", max_size=25),
)


@st.composite
def _instances(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["master", "slave", "sentinel"]))
    base = f"{kind} {draw(_token)} {draw(_token)} {draw(st.integers(0, 65535))}"
    if draw(st.booleans()):
        base += f" @ {draw(_token)} {draw(_token)} {draw(st.integers(0, 65535))}"
    return base


@st.composite
def _messages(draw: st.DrawFn) -> tuple[str, str, str]:
    if draw(st.booleans()):
        plain = draw(_free_text)
        assume(not is_event(Event(source="", name=plain, wall_ns=0)))
        return plain, "", ""
    name = draw(_event_name)
    instance = draw(st.one_of(st.just(""), _instances()))
    details = draw(st.one_of(st.just(""), _free_text.map(lambda t: "#" + t), _free_text))
    assume(not details.endswith(" "))
    if "@" not in instance:
        assume(not details.startswith("@ "))
    if not instance:
        assume(split_message(f"{name} {details}")[1] == "")
    return name, instance, details


@st.composite
def _events(draw: st.DrawFn) -> Event:
    name, instance, details = draw(_messages())
    return Event(
        source="src",
        name=name,
        wall_ns=draw(st.integers(-2_000_000_000 * 10**9, 200_000_000_000 * 10**9)),
        instance=instance,
        details=details,
        mono_ns=draw(st.none() | st.integers()),
        level=draw(st.sampled_from(".-*#")),
        pid=draw(st.integers(0, 2**31)),
        role=draw(st.sampled_from("XMSC")),
    )


@given(event=_events(), offset_min=st.integers(-14 * 60, 14 * 60))
def test_format_then_parse_gives_back_the_event(event: Event, offset_min: int) -> None:
    tz = timezone(timedelta(minutes=offset_min))
    back = parse_line(format_line(event, tz=tz), source="src", tz=tz)
    ms_ns = event.wall_ns - event.wall_ns % 1_000_000
    assert back == replace(event, wall_ns=ms_ns, mono_ns=None)


@given(st.text(max_size=120))
def test_parse_line_raises_only_the_typed_error(text: str) -> None:
    with contextlib.suppress(LogParseError):
        parse_line(text)


@given(st.lists(st.text(max_size=60), max_size=20), st.booleans())
def test_parse_log_never_raises_when_not_strict(lines: list[str], keep_raw: bool) -> None:
    parsed = parse_log(lines, source="s", keep_raw=keep_raw)
    assert len(parsed.events) + len(parsed.skipped) <= len(lines)


def test_parse_time_rejects_unknown_month() -> None:
    with pytest.raises(ValueError, match="month"):
        parse_time(1, "Foo", 2026, (0, 0, 0, 0))
