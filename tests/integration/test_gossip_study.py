"""The side-by-side cluster study (``redis-lab study gossip``), one failover of each kind:
both converge, the phases come in order, the report is written. No timing thresholds:
the figures are printed (``pytest -s``), not judged."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from labkit.studies import gossip as study
from labkit.studies.cli import register_gossip

pytestmark = [pytest.mark.realredis, pytest.mark.slow]


def test_cli_parses() -> None:
    parser = argparse.ArgumentParser()
    register_gossip(parser.add_subparsers())
    args = parser.parse_args(["gossip", "--runs", "2", "--node-timeout-ms", "2000"])
    assert (args.runs, args.node_timeout_ms, args.html) == (2, 2000, None)
    with pytest.raises(SystemExit):
        parser.parse_args(["gossip", "--node-timeout-ms", "5"])


def _ordered(run: study.ClusterRun) -> None:
    study.check(run)
    for name in run.nodes:
        pfail, fail, promoted = run.pfail_s[name], run.fail_s[name], run.promoted_s[name]
        assert pfail is not None and fail is not None and promoted is not None
        assert 0 <= pfail <= fail <= promoted, (run.kind, name, pfail, fail, promoted)
    fail_all, promoted_all = run.everywhere(run.fail_s), run.everywhere(run.promoted_s)
    assert fail_all is not None and promoted_all is not None
    won = run.log_s["Failover election won"]
    marked = run.log_s["Marking ... as failing"]
    assert marked is not None and won is not None, run.kind
    assert marked <= won <= promoted_all + 0.5
    assert run.outage_s is not None and run.outage_s >= marked
    assert run.writes_before_kill >= 5
    names = [entry.event.name for entry in run.timeline]
    first_marked = next(i for i, n in enumerate(names) if "as failing (quorum reached)" in n)
    first_won = next(i for i, n in enumerate(names) if n.startswith("Failover election won"))
    assert first_marked < first_won


def test_real_and_ours_side_by_side(tmp_path: Path) -> None:
    runs = study.run_side_by_side(1, say=print)
    assert [r.kind for r in runs] == ["real", "ours"]
    for run in runs:
        _ordered(run)
    table = study.render_medians(runs)
    print("\n" + table)
    assert "ours/real" in table
    page = study.write_report(tmp_path / "gossip.html", runs, runs, study.StudySettings())
    text = page.read_text()
    assert "Redis Cluster and gossip_cluster" in text
    assert "Failover election won" in text
