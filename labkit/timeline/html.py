"""A self-contained HTML report of one run: summary, chart, and the full event list.

One file with inline CSS and no script; it fetches nothing (a Content-Security-Policy
forbids it) and works opened from disk. The chart is inline SVG (:mod:`.chart`): a time
axis in seconds from the timeline's zero, one lane per source with its events coloured by
kind (:func:`~labkit.timeline.report.kind_of`), fault windows shaded across the lanes and
drawn as bars on the ``nemesis`` lane, and one lane per client process with operations as
bars coloured by outcome. Past ``max_op_marks`` operations the op lanes are drawn as
pixel buckets coloured by their worst outcome, and the page says so.

Times of :class:`~labkit.timeline.report.OpSpan` and
:class:`~labkit.timeline.report.FaultWindow` are relative ns from the timeline's zero.
All input text is escaped; the output depends only on the input (no generation time).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from labkit.timeline.chart import ChartOptions, esc, render_chart
from labkit.timeline.merge import Timeline
from labkit.timeline.render import format_offset
from labkit.timeline.report import (
    NEMESIS_SOURCE,
    EventKind,
    FaultWindow,
    OpSpan,
    SummaryTable,
    derive_fault_windows,
    kind_of,
)

__all__ = ["render_html", "write_html"]

_KIND_LEGEND: tuple[tuple[EventKind, str], ...] = (
    ("milestone", "milestone (+elected-leader, +promoted-slave, +switch-master)"),
    ("warning", "warning (+sdown, +odown, +tilt, aborts)"),
    ("progress", "other + event"),
    ("clear", "- event (cleared, healed)"),
    ("fault", "fault injected"),
    ("log", "plain log line"),
)
_OP_LEGEND = (
    ("ok", "ok"),
    ("fail", "fail"),
    ("info", "info (unknown)"),
    ("lost", "acknowledged write lost"),
)
_FAULT_LANE = "faults"

_CSS = """
:root{--milestone:#2b8a3e;--warning:#e8590c;--progress:#1971c2;--clear:#0c8599;
--fault:#c92a2a;--log:#adb5bd;--ok:#69db7c;--fail:#ff6b6b;--info:#fcc419;--lost:#9c36b5;
--ink:#212529;--muted:#6c757d;--rule:#dee2e6}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
-webkit-print-color-adjust:exact;print-color-adjust:exact}
main{max-width:1240px;margin:0 auto;padding:20px 20px 40px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:var(--muted);margin:0 0 16px}
code,.mono,table.events td.t,table.events td.e{
font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12.5px}
dl.summary{display:grid;grid-template-columns:max-content auto;gap:3px 18px;margin:0 0 16px;
padding:10px 14px;background:#f8f9fa;border:1px solid var(--rule);border-radius:6px;
width:max-content;max-width:100%}
dl.summary dt{color:var(--muted)}dl.summary dd{margin:0;font-weight:600}
table{border-collapse:collapse}
table.grid{margin:0 0 12px}table.grid caption{text-align:left;color:var(--muted);padding:0 0 4px}
table.grid th,table.grid td{border:1px solid var(--rule);padding:3px 10px}
table.grid thead th{background:#f1f3f5}table.grid td{text-align:right;font-variant-numeric:tabular-nums}
table.grid tbody th{text-align:left;font-weight:600}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:4px 0 8px;color:#495057;font-size:12.5px}
.legend span{display:inline-flex;align-items:center;gap:5px}
.sw{display:inline-block;width:10px;height:10px;border-radius:50%}
.sw.bar{width:16px;height:9px;border-radius:1px}
.sw.win{width:16px;height:12px;border-radius:1px;background:rgba(250,82,82,.18)}
.sw.zero{width:2px;height:14px;border-radius:0;background:var(--ink)}
.sw.viol{width:16px;height:9px;border-radius:1px;border:2px solid var(--ink)}
.scroll{overflow-x:auto;border:1px solid var(--rule);border-radius:6px}
.note{color:#495057;font-size:12.5px;margin:6px 0 0}
svg.chart{display:block;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
svg .lane-bg{fill:#fff}svg .lane-bg.alt{fill:#f8f9fa}
svg .grid{stroke:#e9ecef;stroke-width:1}
svg .tick{font-size:11px;fill:var(--muted);text-anchor:middle}
svg .lane-lbl{font-size:12px;fill:var(--ink);text-anchor:end;font-family:system-ui,sans-serif}
svg .op-lbl{font-size:10.5px;fill:var(--muted)}
svg .sep{font-size:12px;font-weight:600;fill:var(--muted);font-family:system-ui,sans-serif}
svg .sep-line{stroke:#adb5bd;stroke-width:1}
svg .zero{stroke:var(--ink);stroke-width:1.5;stroke-dasharray:5 3}
svg .zero-lbl{font-size:12px;font-weight:700;fill:var(--ink);
font-family:system-ui,sans-serif}
svg .lbl{font-size:11px;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg .lead{stroke:#ced4da;stroke-width:1}
svg .ev{stroke:#fff;stroke-width:1}
svg .k-milestone{fill:var(--milestone)}svg .k-warning{fill:var(--warning)}
svg .k-progress{fill:var(--progress)}svg .k-fault{fill:var(--fault)}
svg .k-log{fill:var(--log)}svg .lbl.k-log{fill:var(--muted)}
svg .k-clear{fill:var(--clear)}svg circle.k-clear{fill:#fff;stroke:var(--clear);stroke-width:1.8}
svg .lbl.k-milestone{font-weight:700}
svg .fw{fill:rgba(134,142,150,.13)}svg .fw.f-partition{fill:rgba(250,82,82,.13)}
svg .fw.f-delay{fill:rgba(252,196,25,.18)}svg .fw.f-throttle{fill:rgba(132,94,247,.13)}
svg .fbar{fill:#868e96}svg .fbar.f-partition{fill:#fa5252}svg .fbar.f-delay{fill:#fab005}
svg .fbar.f-throttle{fill:#845ef7}
svg .o-ok{fill:var(--ok)}svg .o-fail{fill:var(--fail)}svg .o-info{fill:var(--info)}
svg .o-lost{fill:var(--lost)}svg .op.open{opacity:.45}
svg .viol{fill:none;stroke:var(--ink);stroke-width:2}
svg .viol-lbl{font-size:11px;font-weight:700;fill:#c92a2a;paint-order:stroke;stroke:#fff;
stroke-width:3px;font-family:system-ui,sans-serif}
.sw.k-milestone{background:var(--milestone)}.sw.k-warning{background:var(--warning)}
.sw.k-progress{background:var(--progress)}.sw.k-fault{background:var(--fault)}
.sw.k-log{background:var(--log)}.sw.k-clear{background:#fff;border:2px solid var(--clear)}
.sw.o-ok{background:var(--ok)}.sw.o-fail{background:var(--fail)}
.sw.o-info{background:var(--info)}.sw.o-lost{background:var(--lost)}
table.events{width:100%;font-size:13px}
table.events th{text-align:left;background:#f1f3f5;border-bottom:1px solid var(--rule);
padding:4px 8px;position:sticky;top:0}
table.events td{padding:2px 8px;border-bottom:1px solid #f1f3f5;vertical-align:top}
table.events td.t{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
table.events td.s{white-space:nowrap}
table.events td.e{white-space:nowrap}table.events td.d{word-break:break-word;color:#495057}
table.events tr.k-log td.e{color:var(--muted);white-space:normal;word-break:break-word}
table.events td.e.k-milestone{color:var(--milestone);font-weight:700}
table.events td.e.k-warning{color:var(--warning);font-weight:600}
table.events td.e.k-fault{color:var(--fault);font-weight:600}
table.events td.e.k-clear{color:var(--clear)}table.events td.e.k-progress{color:var(--progress)}
table.events tr.zero td{border-top:2px dashed var(--ink);font-weight:700;background:#f8f9fa}
footer{margin-top:24px;color:var(--muted);font-size:12px}
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render_html(
    timeline: Timeline,
    *,
    title: str,
    summary: Sequence[tuple[str, str]] = (),
    table: SummaryTable | None = None,
    ops: Sequence[OpSpan] = (),
    faults: Sequence[FaultWindow] | None = None,
    zero_label: str = "zero",
    lanes: Sequence[str] | None = None,
    subtitle: str = "",
    kinds: Mapping[str, EventKind] | None = None,
    width: int = 1200,
    span_ns: tuple[int, int] | None = None,
    max_op_marks: int = 4000,
    max_op_lanes: int = 48,
    max_table_rows: int = 20_000,
    nemesis_source: str = NEMESIS_SOURCE,
) -> str:
    """The report page as one string.

    ``summary`` are key/value lines; ``table`` a grid shown above the chart. ``faults``
    None derives windows from the ``nemesis_source`` events
    (:func:`~labkit.timeline.report.derive_fault_windows`); pass ``()`` for none.
    ``lanes`` picks and orders the event lanes (default: the nemesis source first, then
    every source in timeline order). ``kinds`` maps event names to colour kinds.
    ``span_ns`` fixes the chart's time range (relative ns); events outside it are only in
    the table. ``width`` is the chart's width in pixels.
    """
    windows = derive_fault_windows(timeline, source=nemesis_source) if faults is None else faults
    lane_names = _lanes(timeline, lanes, nemesis_source)
    fault_lane = nemesis_source if nemesis_source in lane_names else _FAULT_LANE
    if windows and fault_lane not in lane_names:
        lane_names = (fault_lane, *lane_names)
    chart = render_chart(
        timeline,
        ops,
        windows,
        ChartOptions(
            lanes=lane_names,
            fault_lane=fault_lane,
            zero_label=zero_label,
            width=width,
            span_ns=span_ns,
            kinds=kinds,
            max_op_marks=max_op_marks,
            max_op_lanes=max_op_lanes,
        ),
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"/>',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}"/>',
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>",
        "<body><main>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">{_meta(timeline, ops, subtitle)}</p>',
    ]
    if summary:
        parts.append('<dl class="summary">')
        parts.extend(f"<dt>{esc(key)}</dt><dd>{esc(value)}</dd>" for key, value in summary)
        parts.append("</dl>")
    if table is not None:
        parts.append(_summary_table(table))
    parts.append('<section class="timeline"><h2>Timeline</h2>')
    parts.append(_legend(bool(ops), bool(windows), zero_label))
    parts.append(f'<div class="scroll">{chart.svg}</div>')
    parts.extend(f'<p class="note">{esc(note)}</p>' for note in chart.notes)
    violation = next((op for op in ops if op.first_violation), None)
    if violation is not None:
        parts.append(
            '<p class="note"><strong>First operation that cannot be linearized:</strong> '
            f"{esc(violation.label or str(violation.process))}, invoked at "
            f"{esc(format_offset(violation.start_ns))}.</p>"
        )
    parts.append("</section>")
    parts.append(_event_table(timeline, zero_label, kinds, max_table_rows))
    parts.append("<footer>labkit.timeline.html</footer></main></body></html>")
    return "\n".join(parts) + "\n"


def write_html(
    path: str | os.PathLike[str],
    timeline: Timeline,
    *,
    title: str,
    summary: Sequence[tuple[str, str]] = (),
    table: SummaryTable | None = None,
    ops: Sequence[OpSpan] = (),
    faults: Sequence[FaultWindow] | None = None,
    zero_label: str = "zero",
    lanes: Sequence[str] | None = None,
    subtitle: str = "",
    kinds: Mapping[str, EventKind] | None = None,
    width: int = 1200,
    span_ns: tuple[int, int] | None = None,
    max_op_marks: int = 4000,
    max_op_lanes: int = 48,
    max_table_rows: int = 20_000,
    nemesis_source: str = NEMESIS_SOURCE,
) -> Path:
    """:func:`render_html` written to ``path`` as UTF-8; returns the path."""
    page = render_html(
        timeline,
        title=title,
        summary=summary,
        table=table,
        ops=ops,
        faults=faults,
        zero_label=zero_label,
        lanes=lanes,
        subtitle=subtitle,
        kinds=kinds,
        width=width,
        span_ns=span_ns,
        max_op_marks=max_op_marks,
        max_op_lanes=max_op_lanes,
        max_table_rows=max_table_rows,
        nemesis_source=nemesis_source,
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8", newline="\n")
    return target


def _lanes(timeline: Timeline, lanes: Sequence[str] | None, nemesis: str) -> tuple[str, ...]:
    if lanes is not None:
        return tuple(dict.fromkeys(lanes))
    first = [nemesis] if nemesis in timeline.sources else []
    return (*first, *(s for s in timeline.sources if s != nemesis))


def _meta(timeline: Timeline, ops: Sequence[OpSpan], subtitle: str) -> str:
    seconds, rest_ns = divmod(timeline.zero.wall_ns, 1_000_000_000)
    try:
        when = datetime.fromtimestamp(seconds, UTC)
        zero = f"{when:%Y-%m-%d %H:%M:%S}.{rest_ns // 1_000_000:03d} UTC"
    except (OverflowError, OSError, ValueError):
        zero = f"{timeline.zero.wall_ns} ns after the epoch"
    items = [esc(subtitle)] if subtitle else []
    items.append(f"zero at {esc(zero)} ({esc(timeline.clock)} clock)")
    items.append(f"{len(timeline):,} events from {len(timeline.sources)} sources")
    if ops:
        items.append(f"{len(ops):,} client operations")
    return " · ".join(items)


def _summary_table(table: SummaryTable) -> str:
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in table.columns)
    rows = "".join(
        f'<tr><th scope="row">{esc(label)}</th>'
        + "".join(f"<td>{esc(cell)}</td>" for cell in cells)
        + "</tr>"
        for label, cells in table.rows
    )
    caption = f"<caption>{esc(table.caption)}</caption>" if table.caption else ""
    return (
        f'<table class="grid">{caption}<thead><tr><th scope="col">{esc(table.corner)}</th>'
        f"{head}</tr></thead><tbody>{rows}</tbody></table>"
    )


def _legend(with_ops: bool, with_faults: bool, zero_label: str) -> str:
    items = [f'<span><i class="sw k-{kind}"></i>{esc(text)}</span>' for kind, text in _KIND_LEGEND]
    items.append(f'<span><i class="sw zero"></i>zero: {esc(zero_label)}</span>')
    if with_faults:
        items.append('<span><i class="sw win"></i>fault window</span>')
    if with_ops:
        items.extend(
            f'<span><i class="sw bar o-{shade}"></i>op {esc(text)}</span>'
            for shade, text in _OP_LEGEND
        )
        items.append('<span><i class="sw viol"></i>first non-linearizable op</span>')
    return f'<div class="legend">{"".join(items)}</div>'


def _event_table(
    timeline: Timeline,
    zero_label: str,
    kinds: Mapping[str, EventKind] | None,
    max_rows: int,
) -> str:
    total = len(timeline)
    shown = timeline.entries[:max_rows]
    title = (
        f"Events ({total:,})"
        if len(shown) == total
        else f"Events (first {len(shown):,} of {total:,})"
    )
    rows: list[str] = []
    zero_row = (
        f'<tr class="zero"><td class="t">{esc(format_offset(0))}</td>'
        f'<td colspan="3">{esc(zero_label)}</td></tr>'
    )
    zero_done = False
    for entry in shown:
        if not zero_done and entry.rel_ns >= 0:
            rows.append(zero_row)
            zero_done = True
        event = entry.event
        kind = kind_of(event, kinds)
        rest = " ".join(p for p in (event.instance, event.details) if p)
        rows.append(
            f'<tr class="k-{kind}"><td class="t">{esc(format_offset(entry.rel_ns))}</td>'
            f'<td class="s">{esc(event.source)}</td><td class="e k-{kind}">{esc(event.name)}</td>'
            f'<td class="d">{esc(rest)}</td></tr>'
        )
    if not zero_done:
        rows.append(zero_row)
    return (
        f'<section class="events"><h2>{esc(title)}</h2><table class="events"><thead><tr>'
        "<th>time</th><th>source</th><th>event</th><th>instance / details</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )
