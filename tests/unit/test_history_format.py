"""Reading histories: JSON lines, EDN, Jepsen logs; bad input named by line number."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.history import (
    History,
    HistoryEvent,
    HistoryFormatError,
    HistoryHeader,
    detect_format,
    dumps_event,
    dumps_header,
    pair_operations,
    parse_history,
    parse_jsonl,
    read_history,
    write_history,
)
from labkit.history.edn import EdnSyntaxError, loads_edn

JSONL = """\
{"kind": "labkit-history", "version": 1, "wall_ns": 1795667827083456789, "mono_ns": 5000, "meta": {"workload": "register"}}
{"process": 0, "type": "invoke", "f": "cas", "value": [1, 2], "key": "k1", "time": 5100}

{"process": 0, "type": "ok", "f": "cas", "value": [1, 2], "key": "k1", "time": 5200, "extra": true}
{"process": "c1", "type": "invoke", "f": "read", "value": null}
{"process": "c1", "type": "info", "f": "read", "error": "TimeoutError: Timeout reading"}
"""


def test_jsonl_with_a_header() -> None:
    h = parse_history(JSONL)
    assert h.header == HistoryHeader(
        wall_ns=1795667827083456789, mono_ns=5000, meta={"workload": "register"}
    )
    assert h.header.wall_ns_of(5100) == 1795667827083456789 + 100
    assert h.events == (
        HistoryEvent(0, "invoke", "cas", (1, 2), "k1", 5100, line=2),
        HistoryEvent(0, "ok", "cas", (1, 2), "k1", 5200, line=4),
        HistoryEvent("c1", "invoke", "read", None, None, None, line=5),
        HistoryEvent(
            "c1", "info", "read", None, None, None, line=6, error="TimeoutError: Timeout reading"
        ),
    )
    ops = h.operations()
    assert [(op.f, op.outcome, op.lines()) for op in ops] == [
        ("cas", "ok", "lines 2-4"),
        ("read", "info", "lines 5-6"),
    ]


def test_round_trip_through_write_history(tmp_path: Path) -> None:
    h = parse_history(JSONL)
    path = tmp_path / "h.jsonl"
    write_history(path, h.events, h.header)
    again = read_history(path)
    assert again.header == h.header
    strip = [
        e.__class__(e.process, e.type, e.f, e.value, e.key, e.time, None, e.error)
        for e in again.events
    ]
    assert strip == [
        e.__class__(e.process, e.type, e.f, e.value, e.key, e.time, None, e.error) for e in h.events
    ]
    header = json.loads(path.read_text().splitlines()[0])
    assert header["wall"] == "2026-11-26T04:37:07.083Z"


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=6,
)


@given(
    process=st.integers(0, 100) | st.text(min_size=1, max_size=4),
    kind=st.sampled_from(["invoke", "ok", "fail", "info"]),
    f=st.text(min_size=1, max_size=6),
    value=values,
    key=st.none() | st.text(max_size=3),
    time=st.none() | st.integers(0, 2**63),
)
def test_any_event_round_trips(
    process: int | str, kind: str, f: str, value: object, key: str | None, time: int | None
) -> None:
    event = HistoryEvent(process, kind, f, value, key, time)  # type: ignore[arg-type]
    line = dumps_event(event)
    assert "\n" not in line
    (back,) = parse_jsonl([line]).events
    assert back == HistoryEvent(process, kind, f, value, key, time, line=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "line_no", "message"),
    [
        (
            '{"process": 0, "type": "invoke", "f": "read"}\n{"process": 0, "type": "ok"',
            2,
            "not JSON",
        ),
        ("\n\n[1, 2]\n", 3, "expected a JSON object"),
        ('{"type": "invoke", "f": "read"}', 1, "'process' must be an integer or a string"),
        ('{"process": true, "type": "invoke", "f": "read"}', 1, "'process'"),
        (
            '{"process": 1, "type": "invoked", "f": "read"}',
            1,
            "'type' must be one of invoke, ok, fail, info",
        ),
        ('{"process": 1, "type": "invoke", "f": ""}', 1, "'f' must be a non-empty string"),
        ('{"process": 1, "type": "invoke", "f": "read", "time": 1.5}', 1, "'time' must be integer"),
        (
            '{"process": 1, "type": "invoke", "f": "r"}\n{"kind": "labkit-history", "version": 1, "wall_ns": 0}',
            2,
            "header may only be the first line",
        ),
        (
            '{"kind": "labkit-history", "version": 2, "wall_ns": 0}',
            1,
            "unsupported history version 2",
        ),
        (
            '{"kind": "labkit-history", "version": 1, "wall_ns": "x"}',
            1,
            "'wall_ns' must be an integer",
        ),
    ],
)
def test_bad_jsonl_names_the_line(text: str, line_no: int, message: str) -> None:
    with pytest.raises(HistoryFormatError, match=message) as caught:
        parse_history(text, "jsonl")
    assert caught.value.line_no == line_no
    assert str(caught.value).startswith(f"line {line_no}: ")


@pytest.mark.parametrize(
    ("lines", "line_no", "message"),
    [
        (
            ['{"process": 0, "type": "ok", "f": "read"}'],
            1,
            "ok read of process 0 has no pending invoke",
        ),
        (
            [
                '{"process": 0, "type": "invoke", "f": "read"}',
                '{"process": 0, "type": "invoke", "f": "write"}',
            ],
            2,
            r"process 0 invokes write while its read \(line 1\) is still pending",
        ),
        (
            [
                '{"process": 0, "type": "invoke", "f": "read"}',
                '{"process": 0, "type": "ok", "f": "write"}',
            ],
            2,
            "does not match its invoke read",
        ),
        (
            [
                '{"process": 0, "type": "invoke", "f": "read", "key": "a"}',
                '{"process": 0, "type": "ok", "f": "read", "key": "b"}',
            ],
            2,
            "names key b, its invoke",
        ),
    ],
)
def test_events_that_do_not_pair_up(lines: list[str], line_no: int, message: str) -> None:
    h = parse_jsonl(lines)
    with pytest.raises(HistoryFormatError, match=message) as caught:
        h.operations()
    assert caught.value.line_no == line_no


def test_completion_key_may_be_left_out_and_nemesis_is_skipped() -> None:
    h = parse_jsonl(
        [
            '{"process": "nemesis", "type": "info", "f": "start"}',
            '{"process": 0, "type": "invoke", "f": "read", "key": "a"}',
            '{"process": "nemesis", "type": "info", "f": "start"}',
            '{"process": 0, "type": "ok", "f": "read", "value": 3}',
        ]
    )
    (op,) = pair_operations(h.events)
    assert (op.key, op.output, op.call, op.ret) == ("a", 3, 1, 3)


EDN_LINES = """\
; a Knossos history
{:process 0, :type :invoke, :f :write, :value 3, :time 10, :index 0}
{:process 1 :type :invoke :f :cas :value [3 4] :key "k1"}
{:process 0, :type :ok, :f :write, :value 3}
{:process 1, :type :fail, :f :cas, :value [3 4], :error :timeout}
{:process :nemesis, :type :info, :f :start, :value nil}
{:process 2, :type :invoke, :f :read, :value nil}
{:process 2, :type :ok, :f :read, :value 3}
"""


def test_edn_maps_one_per_line() -> None:
    h = parse_history(EDN_LINES)
    assert h.header is None
    first, second = h.events[:2]
    assert first == HistoryEvent(0, "invoke", "write", 3, None, 10, line=2)
    assert second == HistoryEvent(1, "invoke", "cas", (3, 4), "k1", None, line=3)
    assert h.events[3].error == "timeout"
    ops = h.operations()
    assert [(op.process, op.f, op.outcome, op.output) for op in ops] == [
        (0, "write", "ok", 3),
        (1, "cas", "fail", None),
        (2, "read", "ok", 3),
    ]


def test_edn_vector_of_maps_spanning_lines() -> None:
    text = """[{:process 0 :type :invoke :f :add :value 1}
 {:process 0
  :type :ok :f :add :value 1}
 #_{:process 9 :type :ok :f :add}
 {:process 1 :type :invoke :f :read :value nil}  ; comment
 {:process 1 :type :ok :f :read :value #{1 "two" :three 4.5 -6N}}]
"""
    h = parse_history(text)
    assert [e.line for e in h.events] == [1, 2, 5, 6]
    assert h.events[3].value == frozenset({1, "two", "three", 4.5, -6})


def test_jepsen_independent_tuples_set_the_key() -> None:
    text = "{:process 0, :type :invoke, :f :read, :value #jepsen.independent.Tuple{:key 7, :value nil}}\n"
    (event,) = parse_history(text).events
    assert (event.key, event.value) == (7, None)


@pytest.mark.parametrize(
    ("text", "line_no", "message"),
    [
        (
            "{:process 0 :type :invoke :f :read}\n{:process 1 :type :invoke\n{:process 2}\n",
            2,
            "unterminated map",
        ),
        (
            '{:process 0 :type :invoke :f :read}\n{:process 1 :type :ok :f :read :value "abc}\n',
            2,
            "unterminated string",
        ),
        (
            "{:process 0 :type :invoke :f :read}\n{:process 1 :type :ok :f :read :value]\n",
            2,
            "closes a map",
        ),
        ("{:process 0 :type :invoke :f :read}\n\n{:process 1 :type}\n", 3, "even number of forms"),
        ("{:process 0 :type :invoke :f :read}\n[1 2]\n", 2, "expected an EDN map"),
        ("[{:process 0 :type :invoke :f :read}\n 5]\n", 2, "expected an EDN map, got int 5"),
        ("[{:process 0 :type :invoke :f :read}] {:a 1}\n", 1, "text after the history vector"),
        (
            "{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f :read :value 1/0}",
            2,
            "zero denominator",
        ),
        (
            '{:process 0 :type :invoke\n :f :read :value "\\q"}',
            2,
            r"bad string escape .*in the form that starts on line 1",
        ),
        (
            "{:process 0 :type :invoke :f :read :value #{[1] {:a 1}}}",
            1,
            "set element cannot be a map",
        ),
        ("{:process 0 :type :boom :f :read}", 1, "'type' must be one of"),
    ],
)
def test_bad_edn_names_the_line(text: str, line_no: int, message: str) -> None:
    with pytest.raises(HistoryFormatError, match=message) as caught:
        parse_history(text, "edn")
    assert caught.value.line_no == line_no


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("nil", None),
        ("true", True),
        ("[1 -2 +3 4.5e1 7M 8N]", (1, -2, 3, 45.0, 7.0, 8)),
        ("(:a b/c)", ("a", "b/c")),
        (r'"a\"b\n\u00e9"', 'a"b\né'),
        (r"[\a \newline \u0041]", ("a", "\n", "A")),
        ('#inst "2020-01-01"', "2020-01-01"),
        ("{:a [1 {:b 2}]}", {"a": (1, {"b": 2})}),
        ("#{}", frozenset()),
        ("1/4", 0.25),
    ],
)
def test_edn_values(text: str, value: object) -> None:
    assert loads_edn(text) == value


@given(st.text(alphabet='{}[]()#_:;"\\ ,\nabc01-+/.e', max_size=40))
def test_edn_reader_raises_only_its_own_error(text: str) -> None:
    try:
        parse_history(text, "edn")
    except HistoryFormatError as exc:
        assert exc.line_no is None or exc.line_no >= 1
    with contextlib.suppress(EdnSyntaxError):
        loads_edn(text)


JEPSEN_LOG = (
    "INFO  jepsen.core - Running test\n"
    "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
    "INFO  jepsen.util - 1\t:invoke\t:cas\t[4 4]\n"
    "INFO  jepsen.util - 0\t:ok\t:read\t3\n"
    "INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n"
    "INFO  jepsen.util - 1\t:info\t:cas\t:timed-out\n"
)


def test_jepsen_log() -> None:
    assert detect_format(JEPSEN_LOG) == "jepsen-log"
    h = parse_history(JEPSEN_LOG, "jepsen-log")
    assert [e.line for e in h.events] == [2, 3, 4, 5, 6]
    ops = h.operations()
    assert [(op.process, op.f, op.value, op.outcome, op.output) for op in ops] == [
        (0, "read", None, "ok", 3),
        (1, "cas", (4, 4), "info", None),
    ]
    with pytest.raises(HistoryFormatError, match="line 1: bad EDN in Jepsen log line"):
        parse_history("INFO  jepsen.util - 0\t:invoke\t:read\t[1\n", "jepsen-log")
    with pytest.raises(HistoryFormatError, match="no Jepsen op lines"):
        parse_history("hello\n", "jepsen-log")


def test_jepsen_log_with_spaces_instead_of_tabs() -> None:
    """Some published Jepsen logs (Porcupine's etcd_100..102) lost their tabs."""
    text = JEPSEN_LOG.replace("\t", "   ")
    assert detect_format(text) == "jepsen-log"
    spaced = parse_history(text, "jepsen-log").operations()
    tabbed = parse_history(JEPSEN_LOG, "jepsen-log").operations()
    assert [(op.f, op.value, op.outcome, op.output) for op in spaced] == [
        (op.f, op.value, op.outcome, op.output) for op in tabbed
    ]


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ('{"process": 0}\n', "jsonl"),
        ("\n  { }\n", "jsonl"),
        ("{:process 0}\n", "edn"),
        ("[{:process 0}]", "edn"),
        ("; comment\n{:process 0}", "edn"),
        ("INFO  jepsen.util - 0\t:invoke\t:read\tnil\n", "jepsen-log"),
        ("", "jsonl"),
    ],
)
def test_detect_format(text: str, fmt: str) -> None:
    assert detect_format(text) == fmt


def test_undetectable_format() -> None:
    with pytest.raises(HistoryFormatError, match="line 2: cannot tell the format"):
        parse_history("\nhello world\n")


def test_read_history_from_stdin_and_bad_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"process": 0, "type": "invoke", "f": "read"}\n'))
    assert len(read_history("-").events) == 1
    path = tmp_path / "bin.jsonl"
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(HistoryFormatError, match="not UTF-8"):
        read_history(path)


def test_header_line_shape() -> None:
    line = dumps_header(HistoryHeader(wall_ns=0, mono_ns=12, meta={"a": 1}))
    assert json.loads(line) == {
        "kind": "labkit-history",
        "version": 1,
        "wall_ns": 0,
        "wall": "1970-01-01T00:00:00.000Z",
        "mono_ns": 12,
        "meta": {"a": 1},
    }
    assert History(events=()).operations() == ()
