"""Tables and the HTML report of the side-by-side Sentinel study.

The medians table has one row per figure and one column per kind (real, ours, ours with
the early switch), plus ``ours/real``: the ratio of the medians. Timelines of different
runs are drawn on one axis whose zero is each run's kill, one lane per sentinel, named
``<kind> <sentinel>``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

from labkit.studies.sentinel import KINDS, PHASES, FailoverRun
from labkit.timeline.html import write_html
from labkit.timeline.merge import first_occurrences, side_by_side
from labkit.timeline.render import render_first_occurrences
from labkit.timeline.report import SummaryTable

__all__ = [
    "FIGURES",
    "medians",
    "medians_table",
    "per_sentinel_text",
    "render_medians",
    "side_by_side",
    "write_report",
]

Figure = Callable[[FailoverRun], float | None]


def _leader_addr(run: FailoverRun) -> float | None:
    return run.addr_switch_s.get(run.leader) if run.leader else None


def _leader_switch(run: FailoverRun) -> float | None:
    if run.leader is None:
        return None
    value = run.phases[run.leader]["+switch-master"]
    return None if value is None else value / 1e9


def _first_addr(run: FailoverRun) -> float | None:
    values = [v for v in run.addr_switch_s.values() if v is not None]
    return min(values) if values else None


FIGURES: tuple[tuple[str, Figure, str], ...] = (
    ("+sdown (first sentinel)", lambda r: r.phase_s("+sdown"), "s"),
    ("+odown (first sentinel)", lambda r: r.phase_s("+odown"), "s"),
    ("+elected-leader", lambda r: r.phase_s("+elected-leader"), "s"),
    ("+promoted-slave", lambda r: r.phase_s("+promoted-slave"), "s"),
    ("+switch-master (first sentinel)", lambda r: r.phase_s("+switch-master"), "s"),
    ("+switch-master (leader)", _leader_switch, "s"),
    ("+switch-master (last sentinel)", lambda r: r.phase_s("+switch-master", max), "s"),
    ("GET-MASTER-ADDR-BY-NAME: first sentinel", _first_addr, "s"),
    ("GET-MASTER-ADDR-BY-NAME: the leader", _leader_addr, "s"),
    ("first write via the Sentinel API", lambda r: r.first_write_s, "s"),
    ("client outage (master_for)", lambda r: r.client.outage_s, "s"),
    ("client errors", lambda r: float(r.client.errors), "n"),
    ("client slowest operation", lambda r: r.client.max_latency_s, "s"),
)
"""(label, value of one run, unit): what the medians table shows, in seconds after the kill."""


def medians(runs: Sequence[FailoverRun]) -> dict[str, dict[str, float | None]]:
    """``{figure: {kind: median over the runs of that kind}}``."""
    out: dict[str, dict[str, float | None]] = {}
    for label, figure, _ in FIGURES:
        row: dict[str, float | None] = {}
        for kind in KINDS:
            values = [v for r in runs if r.kind == kind and (v := figure(r)) is not None]
            if any(r.kind == kind for r in runs):
                row[kind] = statistics.median(values) if values else None
        out[label] = row
    return out


def _cell(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if unit == "n" else f"{value:.2f}"


def medians_table(
    runs: Sequence[FailoverRun],
) -> tuple[tuple[str, ...], list[tuple[str, tuple[str, ...]]]]:
    """Columns and rows of the medians table (cells as text)."""
    table = medians(runs)
    kinds = [k for k in KINDS if any(r.kind == k for r in runs)]
    columns = (*kinds, "ours/real") if {"real", "ours"} <= set(kinds) else tuple(kinds)
    rows: list[tuple[str, tuple[str, ...]]] = []
    for label, _, unit in FIGURES:
        row = table[label]
        cells = [_cell(row.get(k), unit) for k in kinds]
        if "ours/real" in columns:
            real, ours = row.get("real"), row.get("ours")
            cells.append(f"{ours / real:.2f}" if real and ours is not None else "-")
        rows.append((label, tuple(cells)))
    return columns, rows


def render_medians(runs: Sequence[FailoverRun]) -> str:
    """The medians table as fixed-width text."""
    columns, rows = medians_table(runs)
    counts = {k: sum(1 for r in runs if r.kind == k) for k in KINDS}
    header = [f"{c} (n={counts[c]})" if c in counts else c for c in columns]
    label_w = max(len(label) for label, _ in rows)
    widths = [max(len(h), *(len(cells[i]) for _, cells in rows)) for i, h in enumerate(header)]
    lines = [
        "median, seconds after the kill".ljust(label_w)
        + "  "
        + "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))
    ]
    lines.append("-" * len(lines[0]))
    for label, cells in rows:
        lines.append(
            label.ljust(label_w)
            + "  "
            + "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
        )
    return "\n".join(lines)


def per_sentinel_text(run: FailoverRun) -> str:
    """One run's first occurrences per sentinel (seconds after the kill)."""
    table = {n: run.phases[n] for n in run.sentinels}
    return render_first_occurrences(table, corner=f"{run.kind} sentinel")


def write_report(
    path: Path, runs: Sequence[FailoverRun], shown: Sequence[FailoverRun], subtitle: str
) -> Path:
    """The HTML report: the medians table, and the timelines of ``shown`` side by side."""
    columns, rows = medians_table(runs)
    timeline = side_by_side(shown)
    firsts = first_occurrences(timeline, PHASES, after_zero=True)
    summary = [
        (f"{r.kind}: first write", f"+{r.first_write_s:.2f} s on {r.new_master}") for r in shown
    ]
    summary.append(
        (
            "per sentinel",
            "; ".join(f"{s}: {_short(v)}" for s, v in firsts.items() if any(v.values())),
        )
    )
    return write_html(
        path,
        timeline,
        title="Redis Sentinel and sentinel_lab, side by side: master killed",
        subtitle=subtitle,
        summary=summary,
        table=SummaryTable(
            columns, tuple(rows), corner="median", caption="seconds after the kill (n runs each)"
        ),
        zero_label="master killed (SIGKILL)",
    )


def _short(values: dict[str, int | None]) -> str:
    return ", ".join(f"{k} {v / 1e9:.2f}" for k, v in values.items() if v is not None)
