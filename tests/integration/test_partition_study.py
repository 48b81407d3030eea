"""The partition study on real Redis + real Sentinels: asynchronous replication loses writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.studies.cli import write_report
from labkit.studies.partition import run_partition

pytestmark = [pytest.mark.realredis, pytest.mark.slow]


def test_plain_replication_loses_acknowledged_writes(tmp_path: Path) -> None:
    run = run_partition("none", partition_s=4.0, before_s=1.0, clients=3)
    assert run.promoted_after_s is not None and 1.0 < run.promoted_after_s < 4.0
    assert run.acknowledged > 100
    # The old master acknowledged writes while cut off, then dropped them on rejoining.
    assert run.lost_count > 0
    lost_times = [op.call_time for op in run.lost.lost if op.call_time is not None]
    assert min(lost_times) >= run.zero.mono_ns - 2_000_000_000  # type: ignore[operator]
    assert any(span.lost for span in run.ops)
    assert [span.label for span in run.ops if span.first_violation] == ["read"]
    page = tmp_path / "report.html"
    write_report(page, run)
    text = page.read_text()
    assert "lost acknowledged writes" in text and f"{run.lost_count:,}" in text
    assert "+switch-master" in text and "+partition" in text
