"""The HTML report: structure, lanes, marks, fault windows, ops, escaping, size, determinism."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.events import Event
from labkit.timeline import TimelineError, first_occurrences, merge, parse_log
from labkit.timeline.html import render_html, write_html
from labkit.timeline.merge import Anchor, Timeline
from labkit.timeline.report import (
    FaultWindow,
    OpOutcome,
    OpSpan,
    ReportError,
    Scale,
    SummaryTable,
    aggregate_ops,
    assign_op_lanes,
    derive_fault_windows,
    kind_of,
    nice_ticks,
    relative_ns,
    tick_label,
)

MS = 1_000_000
S = 1_000_000_000
ZERO_NS = 1_795_667_827_000_000_000  # 26 Nov 2026 04:37:07.000 UTC
SVG = "{http://www.w3.org/2000/svg}"
MASTER = "master mymaster 127.0.0.1 6379"
OUTCOMES: list[OpOutcome] = ["ok", "ok", "ok", "fail", "info"]

SENTINEL_LOG = """\
4191:X 26 Nov 2026 04:37:04.524 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo
4191:X 26 Nov 2026 04:37:04.530 # +monitor master mymaster 127.0.0.1 6379 quorum 2
4191:X 26 Nov 2026 04:37:12.031 # +sdown master mymaster 127.0.0.1 6379
4191:X 26 Nov 2026 04:37:12.104 # +odown master mymaster 127.0.0.1 6379 #quorum 2/2
4191:X 26 Nov 2026 04:37:12.105 # +new-epoch 1
4191:X 26 Nov 2026 04:37:12.121 # +elected-leader master mymaster 127.0.0.1 6379
4191:X 26 Nov 2026 04:37:13.105 # +promoted-slave slave 127.0.0.2:6380 127.0.0.2 6380 @ mymaster 127.0.0.1 6379
4191:X 26 Nov 2026 04:37:13.190 # +switch-master mymaster 127.0.0.1 6379 127.0.0.2 6380
4191:X 26 Nov 2026 04:37:14.000 # -sdown master mymaster 127.0.0.2 6380
"""


def ev(source: str, name: str, at_ms: int, inst: str = "", details: str = "") -> Event:
    return Event(source, name, ZERO_NS + at_ms * MS, inst, details)


def nemesis(name: str, at_ms: int, link: str, details: str) -> Event:
    return ev("nemesis", name, at_ms, f"link {link}", details)


NEMESIS = [
    nemesis("+partition", -3000, "s1-m", "source=127.0.0.3 direction=both"),
    nemesis("-fault", -1500, "s1-m", "source=*"),
    nemesis("+reset", 500, "r1-m", "source=* connections=2"),
    nemesis("+delay", 2000, "r1-m", "source=* direction=both delay=200.0ms jitter=0.0ms"),
    nemesis("+partition", 7000, "s2-m", "source=* direction=to_upstream"),
]
SENTINEL_2 = [
    ev("sentinel-2", "+sdown", 5077, MASTER),
    ev("sentinel-2", "+odown", 5160, MASTER, "#quorum 3/2"),
    ev("sentinel-2", "+switch-master", 6290, "", "mymaster 127.0.0.1 6379 127.0.0.2 6380"),
]
REPLICA = [
    ev("replica-1", "Connection with master lost.", 11),
    ev("replica-1", "MASTER MODE enabled (user request)", 5210),
]


def sentinel_1() -> list[Event]:
    return list(parse_log(SENTINEL_LOG.splitlines(), source="sentinel-1").events)


def timeline() -> Timeline:
    return merge([NEMESIS, sentinel_1(), SENTINEL_2, REPLICA], ZERO_NS)


def ops_sample() -> list[OpSpan]:
    return [
        OpSpan(0, -2000 * MS, -1990 * MS, "ok", "p0 write 1 ok"),
        OpSpan(0, -1000 * MS, -995 * MS, "ok", "p0 write 2 ok", lost=True),
        OpSpan(1, 100 * MS, 1200 * MS, "info", "p1 write 3 info"),
        OpSpan(2, 200 * MS, 900 * MS, "fail", "p2 write 4 fail"),
        OpSpan(0, 6500 * MS, 6510 * MS, "ok", "p0 read -> 1 ok", first_violation=True),
        OpSpan(3, 3000 * MS, None, "info", "p3 read (no completion)"),
    ]


def svg_of(page: str) -> ET.Element:
    start = page.index("<svg")
    end = page.index("</svg>") + len("</svg>")
    return ET.fromstring(page[start:end])


def page_tree(page: str) -> ET.Element:
    assert page.startswith("<!DOCTYPE html>\n")
    return ET.fromstring(page.removeprefix("<!DOCTYPE html>\n"))


def classes(el: ET.Element) -> set[str]:
    return set(el.get("class", "").split())


def find(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [el for el in root.iter(f"{SVG}{tag}") if cls in classes(el)]


def tip(el: ET.Element) -> str:
    title = el.find(f"{SVG}title")
    assert title is not None and title.text is not None
    return title.text


def scale_of(svg: ET.Element) -> Scale:
    return Scale(
        int(svg.get("data-t0-ns", "")),
        int(svg.get("data-t1-ns", "")),
        float(svg.get("data-plot-x", "")),
        float(svg.get("data-plot-w", "")),
    )


class TagChecker(HTMLParser):
    """Checks that every element is closed in order, and records the tags seen."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_tags(page: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.stack == []
    return checker


def event_rows(page: str) -> list[list[str]]:
    root = page_tree(page)
    table = next(t for t in root.iter("table") if t.get("class") == "events")
    body = table.find("tbody")
    assert body is not None
    return [["".join(td.itertext()) for td in tr] for tr in body]


# ----------------------------------------------------------------------------- structure


def test_page_is_well_formed_and_self_contained() -> None:
    page = render_html(timeline(), title="failover", ops=ops_sample(), zero_label="master killed")
    checker = check_tags(page)
    page_tree(page)  # the whole page is also well-formed XML
    svg_of(page)
    tags = {tag for tag, _ in checker.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "url(" not in page
    assert "default-src 'none'" in page


def test_every_source_has_a_lane_nemesis_first() -> None:
    tl = timeline()
    svg = svg_of(render_html(tl, title="t"))
    lanes = [g.get("data-lane") for g in find(svg, "g", "lane")]
    assert lanes == ["nemesis", "sentinel-1", "sentinel-2", "replica-1"]
    assert set(lanes) == set(tl.sources)


def test_lanes_argument_picks_and_orders() -> None:
    svg = svg_of(render_html(timeline(), title="t", lanes=["sentinel-2", "sentinel-1"], faults=()))
    assert [g.get("data-lane") for g in find(svg, "g", "lane")] == ["sentinel-2", "sentinel-1"]
    sources = {tip(c).split("\n")[0].split()[1] for c in find(svg, "circle", "ev")}
    assert sources == {"sentinel-1", "sentinel-2"}


def test_every_event_is_in_the_table_in_order_with_the_zero_row() -> None:
    tl = timeline()
    rows = event_rows(render_html(tl, title="t", zero_label="master killed"))
    zero_at = rows.index(["+0.000s", "master killed"])
    events = [r for r in rows if len(r) == 4]
    assert len(events) == len(tl)
    for row, entry in zip(events, tl.entries, strict=True):
        e = entry.event
        assert row[1:3] == [e.source, e.name]
        assert row[3] == " ".join(p for p in (e.instance, e.details) if p)
    first_after = next(i for i, e in enumerate(tl.entries) if e.rel_ns >= 0)
    assert zero_at == first_after


def test_marks_sit_at_their_time_in_order() -> None:
    tl = timeline()
    svg = svg_of(render_html(tl, title="t"))
    scale = scale_of(svg)
    for lane in find(svg, "g", "lane"):
        marks = [c for c in lane.iter(f"{SVG}circle") if "ev" in classes(c)]
        xs = [float(c.get("cx", "")) for c in marks]
        ts = [int(c.get("data-t", "")) for c in marks]
        expected = [e.rel_ns for e in tl.entries if e.source == lane.get("data-lane")]
        assert ts == expected
        assert xs == sorted(xs)
        for x, t in zip(xs, ts, strict=True):
            assert x == pytest.approx(scale.x(t), abs=0.06)
    zero = find(svg, "line", "zero")[0]
    assert float(zero.get("x1", "")) == pytest.approx(scale.x(0), abs=0.06)
    assert [t.text for t in find(svg, "text", "zero-lbl")] == ["zero"]


def test_marks_are_coloured_by_kind() -> None:
    svg = svg_of(render_html(timeline(), title="t"))
    kind = {}
    for circle in find(svg, "circle", "ev"):
        name = tip(circle).split("\n")[1].split(" ")[0]
        kind[name] = next(c for c in classes(circle) if c.startswith("k-"))
    assert kind["+sdown"] == kind["+odown"] == "k-warning"
    assert kind["+elected-leader"] == kind["+switch-master"] == "k-milestone"
    assert kind["+promoted-slave"] == "k-milestone"
    assert kind["-sdown"] == kind["-fault"] == "k-clear"
    assert kind["+partition"] == kind["+reset"] == "k-fault"
    assert kind["+new-epoch"] == kind["+monitor"] == "k-progress"
    assert kind["Connection"] == kind["MASTER"] == kind["oO0OoO0OoO0Oo"] == "k-log"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("+sdown", "warning"),
        ("+odown", "warning"),
        ("+tilt", "warning"),
        ("-failover-abort-not-elected", "warning"),
        ("+failover-end-for-timeout", "warning"),
        ("+elected-leader", "milestone"),
        ("+promoted-slave", "milestone"),
        ("+switch-master", "milestone"),
        ("+failover-end", "milestone"),
        ("-odown", "clear"),
        ("-tilt", "clear"),
        ("-fault", "clear"),
        ("+partition", "fault"),
        ("+throttle", "fault"),
        ("+slave-reconf-sent", "progress"),
        ("Ready to accept connections", "log"),
    ],
)
def test_kind_of(name: str, kind: str) -> None:
    assert kind_of(Event("s", name, 0)) == kind


def test_kind_overrides() -> None:
    assert (
        kind_of(Event("s", "+leader-changed", 0), {"+leader-changed": "milestone"}) == "milestone"
    )
    svg = svg_of(render_html(timeline(), title="t", kinds={"+new-epoch": "warning"}))
    epoch = [c for c in find(svg, "circle", "ev") if c.get("data-t") == str(5105 * MS)]
    assert "k-warning" in classes(epoch[0])


def test_milestones_get_labels_first_when_crowded() -> None:
    crowd = [ev("s", f"+step-{i}", 1000 + i) for i in range(12)]
    crowd.append(ev("s", "+switch-master", 1013))
    svg = svg_of(render_html(merge([crowd], ZERO_NS), title="t"))
    labels = [t.text for t in find(svg, "text", "lbl")]
    assert "+switch-master" in labels
    assert len(labels) == 4  # one per label row, the rest only in tooltips


# ----------------------------------------------------------------------------- faults


def test_fault_windows_from_nemesis_events() -> None:
    windows = derive_fault_windows(timeline())
    assert windows == (
        FaultWindow(-3000 * MS, -1500 * MS, "partition s1-m from 127.0.0.3", "partition"),
        FaultWindow(2000 * MS, None, "delay r1-m", "delay"),
        FaultWindow(7000 * MS, None, "partition s2-m (to_upstream)", "partition"),
    )


def test_fault_window_rules() -> None:
    events = [
        nemesis("+partition", 0, "a", "source=127.0.10.1 direction=both"),
        nemesis("+partition", 1, "a", "source=127.0.10.2 direction=both"),
        nemesis("+delay", 2, "b", "source=* direction=to_upstream delay=5ms"),
        nemesis("+throttle", 3, "b", "source=* direction=from_upstream rate=10B/s"),
        nemesis("-fault", 4, "a", "source=127.0.10.2"),
        nemesis("+delay", 5, "b", "source=* direction=both delay=9ms"),
        nemesis("+partition", 6, "c", "source=* direction=both"),
        nemesis("-fault", 8, "*", "source=*"),
        ev("other", "+partition", 9, "link d", "source=*"),
    ]
    got = [
        (w.kind, w.label, w.start_ns // MS, None if w.end_ns is None else w.end_ns // MS)
        for w in derive_fault_windows(merge([events], ZERO_NS))
    ]
    assert got == [
        ("partition", "partition a from 127.0.10.1", 0, 8),
        ("partition", "partition a from 127.0.10.2", 1, 4),
        ("delay", "delay b (to_upstream)", 2, 5),
        ("throttle", "throttle b (from_upstream)", 3, 5),
        ("delay", "delay b", 5, 8),
        ("partition", "partition c", 6, 8),
    ]


def test_fault_rects_span_their_windows_and_an_open_one_runs_to_the_end() -> None:
    svg = svg_of(render_html(timeline(), title="t"))
    scale = scale_of(svg)
    shades = find(svg, "rect", "fw")
    bars = find(svg, "rect", "fbar")
    assert len(shades) == len(bars) == 3
    nemesis_lane = find(svg, "g", "lane")[0]
    assert all(bar in list(nemesis_lane) for bar in bars)
    ends = []
    for rect in shades:
        x, width = float(rect.get("x", "")), float(rect.get("width", ""))
        start = int(rect.get("data-start-ns", ""))
        end_attr = rect.get("data-end-ns", "")
        end_x = scale.x0 + scale.width if end_attr == "open" else scale.x(int(end_attr))
        assert x == pytest.approx(scale.x(start), abs=0.06)
        assert x + width == pytest.approx(end_x, abs=0.11)
        ends.append(end_attr)
    assert ends == [str(-1500 * MS), "open", "open"]
    assert tip(shades[1]) == "delay r1-m: +2.000s → still active at the end"


def test_explicit_fault_windows_get_their_own_lane() -> None:
    tl = merge([SENTINEL_2], ZERO_NS)
    windows = [FaultWindow(1 * S, 2 * S, "kill -STOP master", "pause")]
    svg = svg_of(render_html(tl, title="t", faults=windows))
    assert [g.get("data-lane") for g in find(svg, "g", "lane")] == ["faults", "sentinel-2"]
    rect = find(svg, "rect", "fw")[0]
    assert "f-pause" in classes(rect)
    assert find(svg_of(render_html(timeline(), title="t", faults=())), "rect", "fw") == []


# ----------------------------------------------------------------------------- operations


def test_op_bars_coloured_by_outcome() -> None:
    ops = ops_sample()
    svg = svg_of(render_html(timeline(), title="t", ops=ops))
    assert svg.get("data-ops") == "detail"
    assert [g.get("data-lane") for g in find(svg, "g", "oplane")] == ["p0", "p1", "p2", "p3"]
    bars = find(svg, "rect", "op")
    assert len(bars) == len(ops)
    shade = {tip(b).split("\n")[0]: classes(b) for b in bars}
    assert "o-ok" in shade["p0 write 1 ok"]
    assert "o-lost" in shade["p0 write 2 ok"]
    assert "o-info" in shade["p1 write 3 info"]
    assert "o-fail" in shade["p2 write 4 fail"]
    assert {"o-info", "open"} <= shade["p3 read (no completion)"]
    scale = scale_of(svg)
    open_bar = next(b for b in bars if "open" in classes(b))
    end = float(open_bar.get("x", "")) + float(open_bar.get("width", ""))
    assert end == pytest.approx(scale.x0 + scale.width, abs=0.11)


def test_first_violation_is_outlined_and_labelled() -> None:
    page = render_html(timeline(), title="t", ops=ops_sample())
    svg = svg_of(page)
    (group,) = find(svg, "g", "violation")
    outline = group.find(f"{SVG}rect")
    label = group.find(f"{SVG}text")
    assert outline is not None and label is not None
    assert label.text == "first non-linearizable op"
    bar = next(b for b in find(svg, "rect", "op") if b.get("data-t") == str(6500 * MS))
    assert float(outline.get("x", "")) < float(bar.get("x", ""))
    assert "First operation that cannot be linearized" in page
    assert "p0 read -&gt; 1 ok" in page


def test_many_processes_share_lanes() -> None:
    ops = [OpSpan(p, p * 10 * MS, p * 10 * MS + 5 * MS, "ok") for p in range(100)]
    labels, lane_of = assign_op_lanes(ops, end_ns=2 * S, max_lanes=8)
    assert labels == ("p0 +99",)
    assert set(lane_of.values()) == {0}
    overlapping = [OpSpan(p, 0, S, "ok") for p in range(10)]
    labels, lane_of = assign_op_lanes(overlapping, end_ns=2 * S, max_lanes=4)
    assert len(labels) == 4 and sorted(set(lane_of.values())) == [0, 1, 2, 3]
    labels, _ = assign_op_lanes(
        [OpSpan("c", 0, 1, "ok"), OpSpan(2, 0, 1, "ok")], end_ns=5, max_lanes=4
    )
    assert labels == ("p2", "c")


def test_aggregate_ops_worst_outcome_and_counts() -> None:
    scale = Scale(0, 100 * MS, 0.0, 100.0)  # 1 ms per pixel
    ops = [
        OpSpan(1, 0, 1 * MS, "ok"),
        OpSpan(1, 1 * MS, 3 * MS, "info"),
        OpSpan(1, 10 * MS, 11 * MS, "fail"),
        OpSpan(1, 10 * MS, 11 * MS, "ok", lost=True),
        OpSpan(1, 500 * MS, 600 * MS, "ok"),  # off the axis
    ]
    buckets = aggregate_ops(ops, {1: 0}, scale, bucket_px=2.0)
    got = [(b.x0, b.x1, b.worst, b.counts) for b in buckets]
    assert got == [
        (0.0, 4.0, "info", (("ok", 1), ("info", 1))),
        (10.0, 12.0, "lost", (("fail", 1), ("lost", 1))),
    ]


def test_fifty_thousand_ops_are_aggregated_and_the_page_stays_small() -> None:
    rng = random.Random(5)
    ops = []
    for i in range(50_000):
        start = rng.randint(-2_000, 10_000) * MS
        outcome = rng.choice(OUTCOMES)
        ops.append(
            OpSpan(
                i % 16,
                start,
                start + rng.randint(1, 40) * MS,
                outcome,
                f"p{i % 16} write {i}",
                lost=outcome == "ok" and rng.random() < 0.001,
                first_violation=i == 25_000,
            )
        )
    page = render_html(timeline(), title="big", ops=ops)
    assert len(page.encode()) < 2_000_000
    svg = svg_of(page)
    assert svg.get("data-ops") == "aggregated"
    assert len(find(svg, "rect", "op")) == 1  # only the first violation is drawn alone
    buckets = find(svg, "rect", "agg")
    assert 16 <= len(buckets) <= 16 * 600
    assert {"o-ok", "o-fail", "o-lost"} <= {c for b in buckets for c in classes(b)}
    assert len(find(svg, "g", "violation")) == 1
    assert "50,000 operations (more than 4,000)" in page


# ----------------------------------------------------------------------------- escaping


HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</svg><script>x</script>",
    "]]><!-- & &amp; &#60;",
    "nul\x00 esc\x1b[31m bell\x07 del\x7f c1\x85",
    "lone \ud800 surrogate",
    "\u202eright-to-left",
]


def test_hostile_text_is_escaped_everywhere() -> None:
    events = [ev(f"src{h}", h, i * 100, h, h) for i, h in enumerate(HOSTILE)]
    events += [ev("s", f"+{i}x", 5, h, h) for i, h in enumerate(HOSTILE)]
    tl = merge([events], ZERO_NS)
    page = render_html(
        tl,
        title=HOSTILE[0],
        subtitle=HOSTILE[1],
        summary=[(h, h) for h in HOSTILE],
        table=SummaryTable(("<b>c</b>",), tuple((h, (h,)) for h in HOSTILE), corner=HOSTILE[0]),
        ops=[OpSpan(h, 0, MS, "ok", h, first_violation=i == 0) for i, h in enumerate(HOSTILE)],
        faults=[FaultWindow(0, MS, h, h) for h in HOSTILE],
        zero_label=HOSTILE[2],
    )
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x00" not in page and "\x1b" not in page and "\ud800" not in page
    page.encode("utf-8")  # no lone surrogates left
    checker = check_tags(page)
    allowed = {
        "html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "p", "dl", "dt",
        "dd", "table", "caption", "thead", "tbody", "tr", "th", "td", "section", "div", "span",
        "i", "strong", "footer", "svg", "g", "rect", "line", "circle", "text",
    }  # fmt: skip
    assert {tag for tag, _ in checker.tags} <= allowed
    for _, attrs in checker.tags:
        assert not any(name.startswith("on") for name in attrs)
    page_tree(page)
    rows = event_rows(page)
    assert any(r[2] == HOSTILE[0] for r in rows if len(r) == 4)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(max_size=12), st.text(max_size=20), st.integers(-5_000, 5_000)),
        min_size=1,
        max_size=8,
    )
)
def test_any_text_gives_a_well_formed_page(items: list[tuple[str, str, int]]) -> None:
    tl = merge([[ev(src or "s", name, at) for src, name, at in items]], ZERO_NS)
    page = render_html(tl, title=items[0][1], zero_label=items[0][0])
    check_tags(page)
    page_tree(page)
    assert "<script" not in page


# ----------------------------------------------------------------------------- the rest


def test_summary_and_table() -> None:
    tl = timeline()
    firsts = first_occurrences(tl, ["+sdown", "+switch-master"], after_zero=True)
    table = SummaryTable.of_first_occurrences(firsts, caption="first per source")
    page = render_html(
        tl, title="t", summary=[("lost acknowledged writes", "107,053 of 145,910")], table=table
    )
    root = page_tree(page)
    dl = next(el for el in root.iter("dl"))
    assert ["".join(c.itertext()) for c in dl] == ["lost acknowledged writes", "107,053 of 145,910"]
    grid = next(t for t in root.iter("table") if t.get("class") == "grid")
    cells = [["".join(c.itertext()) for c in tr] for tr in grid.iter("tr")]
    assert cells[0] == ["source", "+sdown", "+switch-master"]
    assert ["sentinel-1", "+5.031s", "+6.190s"] in cells
    assert ["nemesis", "-", "-"] in cells


def test_summary_table_checks_row_width() -> None:
    with pytest.raises(ReportError):
        SummaryTable(("a", "b"), (("r", ("1",)),))


def test_bad_ops_and_windows_raise_typed_errors() -> None:
    with pytest.raises(ReportError) as info:
        OpSpan(1, 10, 5, "ok")
    assert isinstance(info.value, ValueError) and isinstance(info.value, TimelineError)
    with pytest.raises(ReportError):
        OpSpan(1, 0, 5, "maybe")  # type: ignore[arg-type]
    with pytest.raises(ReportError):
        FaultWindow(10, 5, "x")


def test_deterministic_output() -> None:
    first = render_html(timeline(), title="t", ops=ops_sample(), summary=[("a", "b")])
    second = render_html(timeline(), title="t", ops=ops_sample(), summary=[("a", "b")])
    assert first == second


def test_span_ns_limits_the_chart_but_not_the_table() -> None:
    tl = timeline()
    page = render_html(tl, title="t", span_ns=(0, 8 * S))
    svg = svg_of(page)
    assert (svg.get("data-t0-ns"), svg.get("data-t1-ns")) == ("0", str(8 * S))
    drawn = len(find(svg, "circle", "ev"))
    outside = sum(1 for e in tl.entries if not 0 <= e.rel_ns <= 8 * S)
    assert drawn == len(tl) - outside
    assert f"{outside} events outside the time range shown" in page
    assert [r.get("data-start-ns") for r in find(svg, "rect", "fw")] == [
        str(2000 * MS),
        str(7000 * MS),
    ]  # the window that closed before 0 is not drawn
    assert len([r for r in event_rows(page) if len(r) == 4]) == len(tl)


def test_empty_timeline_renders() -> None:
    page = render_html(merge([], ZERO_NS), title="nothing")
    svg = svg_of(page)
    assert find(svg, "g", "lane") == []
    assert "Events (0)" in page


def test_write_html(tmp_path: Path) -> None:
    path = write_html(tmp_path / "r.html", timeline(), title="ünïcode ✓", ops=ops_sample())
    assert path == tmp_path / "r.html"
    assert path.read_text(encoding="utf-8") == render_html(
        timeline(), title="ünïcode ✓", ops=ops_sample()
    )


@pytest.mark.parametrize(
    ("t0", "t1", "step"),
    [(0, 10 * S, S), (-3 * S, 11 * S, 2 * S), (0, 95 * MS, 10 * MS), (0, 7, 1), (-S, S, 200 * MS)],
)
def test_nice_ticks(t0: int, t1: int, step: int) -> None:
    got_step, ticks = nice_ticks(t0, t1, target=10)
    assert got_step == step
    assert ticks[0] >= t0 and ticks[-1] <= t1 and all(t % step == 0 for t in ticks)
    assert ticks[0] - step < t0 and ticks[-1] + step > t1


@pytest.mark.parametrize(
    ("t", "step", "text"),
    [
        (0, S, "0 s"),
        (2 * S, S, "+2 s"),
        (-1_500 * MS, 500 * MS, "-1.5 s"),
        (250 * MS, 50 * MS, "+0.25 s"),
        (3 * MS, MS, "+0.003 s"),
    ],
)
def test_tick_label(t: int, step: int, text: str) -> None:
    assert tick_label(t, step) == text


def test_relative_ns() -> None:
    wall = merge([[Event("s", "x", ZERO_NS + 5)]], Anchor(ZERO_NS, 1_000))
    assert relative_ns(wall, wall_ns=ZERO_NS + 7) == 7
    assert relative_ns(wall, mono_ns=1_010) == 10
    mono = merge([[Event("s", "x", ZERO_NS, mono_ns=1_100)]], Anchor(ZERO_NS, 1_000))
    assert mono.clock == "mono"
    assert relative_ns(mono, wall_ns=ZERO_NS + 7, mono_ns=1_050) == 50
    with pytest.raises(ReportError):
        relative_ns(merge([], ZERO_NS), mono_ns=5)
