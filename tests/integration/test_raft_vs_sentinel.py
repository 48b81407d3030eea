"""The comparison study: one workload and one partition against real Redis + Sentinel
(min-replicas-to-write 1) and against redis_raft. Real Redis loses acknowledged writes;
redis_raft loses none and its histories are linearizable."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from labkit.studies.raft_vs_sentinel import (
    report_table,
    run_raft_side,
    run_sentinel_side,
    write_reports,
)

pytestmark = [pytest.mark.realredis, pytest.mark.slow]

SHORT = {"partition_s": 4.0, "before_s": 1.0, "clients": 4, "keys": 3, "budget_s": 60.0}


def test_counter_real_sentinel_loses_writes_raft_does_not(tmp_path: Path) -> None:
    sentinel = run_sentinel_side("counter", **SHORT)  # type: ignore[arg-type]
    raft = run_raft_side("counter", **SHORT)  # type: ignore[arg-type]
    out = io.StringIO()
    report_table([sentinel, raft], out)
    print(out.getvalue())

    # Real Redis + Sentinel: the cut-off master acknowledged increments it later dropped.
    assert sentinel.acknowledged > 100
    assert sentinel.lost is not None and sentinel.lost > 0
    assert sentinel.verdict == "invalid"
    assert sentinel.failover_s is not None

    # redis_raft: nothing acknowledged is lost, and the history is linearizable.
    assert raft.acknowledged > 50
    assert raft.lost == 0
    assert raft.verdict == "valid", raft.detail
    assert raft.failover_s is not None

    pages = write_reports(tmp_path / "report.html", [sentinel, raft])
    assert [p.name for p in pages] == ["report-sentinel.html", "report-raft.html"]
    assert "acknowledged and lost" in pages[0].read_text()


def test_register_on_raft_is_linearizable_under_the_partition() -> None:
    raft = run_raft_side("register", seed=1, **SHORT)  # type: ignore[arg-type]
    assert raft.acknowledged > 50
    assert raft.verdict == "valid", raft.detail
    assert raft.lost is None  # not measurable for a register: the checker decides
