"""Workloads against a real redis-server: histories that the checkers accept."""

from __future__ import annotations

import pytest

from labkit.history.checks import check_lost_writes
from labkit.history.linearizability import Verdict, check_linearizability
from labkit.history.recorder import HistoryRecorder
from labkit.realredis import Lab
from labkit.workloads import DirectTarget, final_reads, get_workload, run_workload

pytestmark = pytest.mark.realredis


@pytest.mark.parametrize("name", ["register", "counter", "set", "list"])
def test_a_single_server_is_linearizable(redis_lab: Lab, name: str) -> None:
    server = redis_lab.server()
    target = DirectTarget(server.host, server.port)
    workload = get_workload(name)
    recorder = HistoryRecorder(meta={"workload": name})
    stats = run_workload(
        target, workload, recorder, clients=4, keys=2, duration_s=0.6, max_ops=400, seed=1
    )
    assert final_reads(target, workload, recorder, keys=2)
    recorder.close()
    assert stats.total("ok") > 20 and stats.total("info") == 0
    history = recorder.history()
    result = check_linearizability(history, workload.model, budget_s=30)
    assert result.verdict is Verdict.VALID, result
    if name in ("set", "list"):
        lost = check_lost_writes(history, workload.model)
        assert lost.valid and not lost.lost and lost.acknowledged > 0


def test_a_killed_server_gives_info_and_fail_outcomes(redis_lab: Lab) -> None:
    server = redis_lab.server()
    target = DirectTarget(server.host, server.port, timeout_s=0.2)
    server.kill()
    recorder = HistoryRecorder()
    stats = run_workload(
        target, get_workload("register"), recorder, clients=2, duration_s=0.3, seed=2
    )
    assert stats.total("ok") == 0
    assert stats.total("fail") > 0  # connection refused: certainly not applied
