"""Reading Redis logs: real Redis 7.0.15 and Sentinel lines, garbage, strict mode, raw lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from labkit.events import Event
from labkit.timeline import (
    LogParseError,
    is_event,
    parse_line,
    parse_log,
    read_log,
    split_message,
)

# 26 Nov 2026 04:37:07.083 UTC
T0_NS = 1_795_667_827_083_000_000
RUNID = "a1407d307dc1a7d95d33a92d0af0d4737e04b210"


def ns(day: int, hms: str, ms: int, month: int = 11) -> int:
    """Unix ns of a 2026 UTC time (November unless told), built without the code under test."""
    hour, minute, second = (int(x) for x in hms.split(":"))
    when = datetime(2026, month, day, hour, minute, second, tzinfo=UTC)
    return int(when.timestamp()) * 1_000_000_000 + ms * 1_000_000


# Lines captured from real redis-server / redis-sentinel 7.0.15 on this machine, and the
# Sentinel event shapes of src/sentinel.c at 7.0.15.
REAL_LINES: list[tuple[str, tuple[int, str, int, str, str, str, str]]] = [
    (
        "4191:X 26 Nov 2026 04:37:04.524 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo",
        (
            4191,
            "X",
            ns(26, "04:37:04", 524),
            "#",
            "oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo",
            "",
            "",
        ),
    ),
    (
        "4190:C 26 Nov 2026 04:37:04.529 # Configuration loaded",
        (4190, "C", ns(26, "04:37:04", 529), "#", "Configuration loaded", "", ""),
    ),
    (
        "4190:M 26 Nov 2026 04:37:04.531 * Ready to accept connections",
        (4190, "M", ns(26, "04:37:04", 531), "*", "Ready to accept connections", "", ""),
    ),
    (
        "4192:S 26 Nov 2026 04:38:00.001 * MASTER <-> REPLICA sync: Finished with success",
        (
            4192,
            "S",
            ns(26, "04:38:00", 1),
            "*",
            "MASTER <-> REPLICA sync: Finished with success",
            "",
            "",
        ),
    ),
    (
        "4191:X 26 Nov 2026 04:37:04.526 * Running mode=sentinel, port=35367.",
        (4191, "X", ns(26, "04:37:04", 526), "*", "Running mode=sentinel, port=35367.", "", ""),
    ),
    (
        "4191:X 26 Nov 2026 04:37:04.529 # +monitor master m 127.0.0.1 57279 quorum 1",
        (
            4191,
            "X",
            ns(26, "04:37:04", 529),
            "#",
            "+monitor",
            "master m 127.0.0.1 57279",
            "quorum 1",
        ),
    ),
    (
        "4191:X 26 Nov 2026 04:37:07.083 # +sdown master mymaster 127.0.0.1 6379",
        (4191, "X", T0_NS, "#", "+sdown", "master mymaster 127.0.0.1 6379", ""),
    ),
    (
        "4191:X 26 Nov 2026 04:37:07.083 # +odown master mymaster 127.0.0.1 6379 #quorum 2/2",
        (4191, "X", T0_NS, "#", "+odown", "master mymaster 127.0.0.1 6379", "#quorum 2/2"),
    ),
    (
        "1:X 26 Nov 2026 04:37:07.083 # +switch-master mymaster 127.0.0.1 6379 127.0.0.1 6380",
        (1, "X", T0_NS, "#", "+switch-master", "", "mymaster 127.0.0.1 6379 127.0.0.1 6380"),
    ),
    (
        "1:X 26 Nov 2026 04:37:07.083 # +new-epoch 1",
        (1, "X", T0_NS, "#", "+new-epoch", "", "1"),
    ),
    (
        f"1:X 26 Nov 2026 04:37:07.083 # +vote-for-leader {RUNID} 1",
        (1, "X", T0_NS, "#", "+vote-for-leader", "", f"{RUNID} 1"),
    ),
    (
        "1:X 26 Nov 2026 04:37:07.083 * +slave slave 127.0.0.1:6380 127.0.0.1 6380 "
        "@ mymaster 127.0.0.1 6379",
        (
            1,
            "X",
            T0_NS,
            "*",
            "+slave",
            "slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379",
            "",
        ),
    ),
    (
        "1:X 26 Nov 2026 04:37:07.083 # +tilt #tilt mode entered",
        (1, "X", T0_NS, "#", "+tilt", "", "#tilt mode entered"),
    ),
    (
        "1:X 26 Nov 2026 04:37:07.083 # -tilt #tilt mode exited",
        (1, "X", T0_NS, "#", "-tilt", "", "#tilt mode exited"),
    ),
    (
        f"1:X 26 Nov 2026 04:37:07.083 # +config-update-from sentinel {RUNID} 127.0.0.1 26380 "
        "@ mymaster 127.0.0.1 6379",
        (
            1,
            "X",
            T0_NS,
            "#",
            "+config-update-from",
            f"sentinel {RUNID} 127.0.0.1 26380 @ mymaster 127.0.0.1 6379",
            "",
        ),
    ),
    (
        "1:X 26 Nov 2026 04:37:07.083 # +failover-state-select-slave master mymaster "
        "127.0.0.1 6379",
        (1, "X", T0_NS, "#", "+failover-state-select-slave", "master mymaster 127.0.0.1 6379", ""),
    ),
    (
        "1:X 26 Nov 2026 04:37:07.083 # -failover-abort-not-elected master mymaster 127.0.0.1 6379",
        (1, "X", T0_NS, "#", "-failover-abort-not-elected", "master mymaster 127.0.0.1 6379", ""),
    ),
    (
        "1:X 26 Nov 2026 04:37:07.083 - -role-change slave 127.0.0.1:6380 127.0.0.1 6380 "
        "@ mymaster 127.0.0.1 6379 new reported role is master",
        (
            1,
            "X",
            T0_NS,
            "-",
            "-role-change",
            "slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379",
            "new reported role is master",
        ),
    ),
    (
        "1:X 26 Nov 2026 04:37:07.083 . -cmd-link-reconnection master m ::1 6379 "
        "@ m ::1 6379 #Failed to establish connection",
        (
            1,
            "X",
            T0_NS,
            ".",
            "-cmd-link-reconnection",
            "master m ::1 6379 @ m ::1 6379",
            "#Failed to establish connection",
        ),
    ),
    (
        "1:X 26 Nov 2026 04:37:07.083 * +sentinel-address-switch master m 127.0.0.1 6379 "
        f"ip 127.0.0.2 port 26380 for {RUNID}",
        (
            1,
            "X",
            T0_NS,
            "*",
            "+sentinel-address-switch",
            "master m 127.0.0.1 6379",
            f"ip 127.0.0.2 port 26380 for {RUNID}",
        ),
    ),
    (
        "1:X 26 Nov 2026 04:37:07.083 # -script-error /bin/notify.sh 0 2",
        (1, "X", T0_NS, "#", "-script-error", "", "/bin/notify.sh 0 2"),
    ),
    # serverLog(level, "%s %s", type, msg) with an empty msg leaves a trailing space.
    (
        "1:X 26 Nov 2026 04:37:07.083 # +custom ",
        (1, "X", T0_NS, "#", "+custom", "", ""),
    ),
    (
        "1:X 26 Nov 2026 04:37:07.083 # Next failover delay: I will not start a failover "
        "before Thu Nov 26 04:43:07 2026",
        (
            1,
            "X",
            T0_NS,
            "#",
            "Next failover delay: I will not start a failover before Thu Nov 26 04:43:07 2026",
            "",
            "",
        ),
    ),
    ("7:M 01 Jan 2026 00:00:00.000 * ", (7, "M", ns(1, "00:00:00", 0, month=1), "*", "", "", "")),
]


@pytest.mark.parametrize(
    ("line", "expected"), REAL_LINES, ids=[f"L{i}" for i in range(len(REAL_LINES))]
)
def test_parse_real_lines(line: str, expected: tuple[int, str, int, str, str, str, str]) -> None:
    event = parse_line(line + "\n", source="sentinel-1")
    pid, role, wall_ns, level, name, instance, details = expected
    assert event == Event(
        source="sentinel-1",
        name=name,
        wall_ns=wall_ns,
        instance=instance,
        details=details,
        mono_ns=None,
        level=level,
        pid=pid,
        role=role,
    )


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("+sdown master m 127.0.10.1 6379", ("+sdown", "master m 127.0.10.1 6379", "")),
        (
            "+sdown slave [::1]:6380 ::1 6380 @ m ::1 6379",
            ("+sdown", "slave [::1]:6380 ::1 6380 @ m ::1 6379", ""),
        ),
        (
            "+sdown sentinel abc 127.0.0.1 26379 @ m 127.0.0.1 6379",
            ("+sdown", "sentinel abc 127.0.0.1 26379 @ m 127.0.0.1 6379", ""),
        ),
        # not an instance: the port is not a number, or the type word is unknown
        ("+x master m 127.0.0.1 port", ("+x", "", "master m 127.0.0.1 port")),
        ("+x replica m 127.0.0.1 6379", ("+x", "", "replica m 127.0.0.1 6379")),
        ("+x master m 127.0.0.1 6379x", ("+x", "", "master m 127.0.0.1 6379x")),
        (
            "+switch-master master 127.0.0.1 6379 127.0.0.1 6380",
            ("+switch-master", "", "master 127.0.0.1 6379 127.0.0.1 6380"),
        ),
        # not events: capital letters, bare sign, separator lines
        ("+OK", ("+OK", "", "")),
        ("+", ("+", "", "")),
        ("--- crash report", ("--- crash report", "", "")),
        ("-", ("-", "", "")),
        ("", ("", "", "")),
    ],
)
def test_split_message(message: str, expected: tuple[str, str, str]) -> None:
    assert split_message(message) == expected


def test_is_event() -> None:
    assert is_event(Event(source="s", name="+sdown", wall_ns=0))
    assert is_event(Event(source="s", name="-failover-abort-not-elected", wall_ns=0))
    assert not is_event(Event(source="s", name="Ready to accept connections", wall_ns=0))


def test_parse_line_reads_local_time_in_given_tz() -> None:
    line = "1:X 26 Nov 2026 05:37:07.083 # +new-epoch 1"
    assert parse_line(line, tz=ZoneInfo("Europe/Berlin")).wall_ns == T0_NS
    assert parse_line(line, tz=timezone(timedelta(hours=1))).wall_ns == T0_NS
    assert parse_line(line).wall_ns == T0_NS + 3600 * 10**9


def test_yearless_lines_of_redis_3_and_4() -> None:
    line = "4191:X 26 Nov 04:37:07.083 # +sdown master m 127.0.0.1 6379"
    event = parse_line(line, year=2026)
    assert (event.wall_ns, event.name, event.instance) == (
        T0_NS,
        "+sdown",
        "master m 127.0.0.1 6379",
    )
    with pytest.raises(LogParseError, match="year"):
        parse_line(line)
    assert parse_log([line], source="s").skipped[0].reason.startswith("year-less")


GARBAGE = [
    "",
    "garbage",
    "\x00\x01\x02",
    "                _._                                                  ",
    " |`-._`-...-` __...-.``-._|'` _.-'|     Port: 57279",
    "------ STACK TRACE ------",
    "[4191] 26 Nov 04:37:07.083 # Redis 2.x line",  # the 2.x form is not read
    "4191:Z 26 Nov 2026 04:37:07.083 # bad role",
    "4191:X 26 Foo 2026 04:37:07.083 # bad month",
    "4191:X 26 nov 2026 04:37:07.083 # lower-case month",
    "4191:X 31 Feb 2026 04:37:07.083 # no such day",
    "4191:X 26 Nov 2026 24:37:07.083 # no such hour",
    "4191:X 26 Nov 2026 04:37:07.08 # two-digit ms",
    "4191:X 26 Nov 2026 04:37:07.083 ! bad level",
    "4191:X 26 Nov 2026 04:37:07.083#no space",
    "-12:X 26 Nov 2026 04:37:07.083 # negative pid",
    "4191:X 26 Nov 0000 04:37:07.083 # year zero",
]


@pytest.mark.parametrize("line", GARBAGE)
def test_garbage_line_raises_typed_error_with_line_number(line: str) -> None:
    with pytest.raises(LogParseError) as info:
        parse_line(line, line_no=42)
    assert info.value.line_no == 42
    assert "line 42" in str(info.value)


def test_parse_log_skips_garbage_and_keeps_order() -> None:
    good = [
        "1:X 26 Nov 2026 04:37:07.083 # +sdown master m 127.0.0.1 6379",
        "1:X 26 Nov 2026 04:37:07.084 # +odown master m 127.0.0.1 6379 #quorum 1/1",
    ]
    lines = [GARBAGE[3], good[0], *GARBAGE, good[1], ""]
    parsed = parse_log(lines, source="s")
    assert [e.name for e in parsed.events] == ["+sdown", "+odown"]
    assert [s.line_no for s in parsed.skipped] == [1, *range(3, 3 + len(GARBAGE)), 21]
    with pytest.raises(LogParseError) as info:
        parse_log(lines, source="s", strict=True)
    assert info.value.line_no == 1


def test_strict_mode_passes_blank_lines_but_not_garbage() -> None:
    good = "1:X 26 Nov 2026 04:37:07.083 # +new-epoch 1"
    assert len(parse_log([good, "", "  ", good], source="s", strict=True).events) == 2
    with pytest.raises(LogParseError) as info:
        parse_log([good, good, "nope"], source="s", strict=True)
    assert info.value.line_no == 3


def test_keep_raw_gives_raw_lines_the_nearest_time() -> None:
    lines = [
        "      _._      ",
        "1:M 26 Nov 2026 04:37:07.083 * first",
        "  logo  ",
        "1:M 26 Nov 2026 04:37:08.000 * second",
    ]
    parsed = parse_log(lines, source="m", keep_raw=True)
    assert [(e.name, e.wall_ns, e.level) for e in parsed.events] == [
        ("      _._      ", T0_NS, ""),
        ("first", T0_NS, "*"),
        ("  logo  ", T0_NS, ""),
        ("second", T0_NS + 917_000_000, "*"),
    ]
    assert parsed.skipped == ()
    only_raw = parse_log(["logo"], source="m", keep_raw=True)
    assert only_raw.events == ()
    assert only_raw.skipped[0].line_no == 1


def test_read_log_tolerates_bad_utf8_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "sentinel-7.log"
    path.write_bytes(
        b"1:X 26 Nov 2026 04:37:07.083 # +new-epoch 1\r\n"
        b"\xff\xfe garbage\n"
        b"1:X 26 Nov 2026 04:37:07.083 # bytes \xc3\x28 here\n"
    )
    parsed = read_log(path)
    assert [e.source for e in parsed.events] == ["sentinel-7", "sentinel-7"]
    assert parsed.events[0].details == "1"
    assert parsed.events[1].name == "bytes \ufffd( here"
    assert [s.line_no for s in parsed.skipped] == [2]
