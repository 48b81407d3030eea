"""Seeded fault schedules are data: deterministic, bounded, one fault at a time."""

from __future__ import annotations

import random

import pytest

from labkit.faults.nemesis import PROCESS_FAULTS, Fault, NemesisError, ScheduleRunner, plan


@pytest.mark.parametrize("seed", range(30))
def test_plan_is_deterministic_and_ends_before_the_liveness_phase(seed: int) -> None:
    args = {"processes": ["master", "replica-1"], "links": ["master"], "duration_s": 20.0}
    first = plan(random.Random(seed), **args)  # type: ignore[arg-type]
    assert first == plan(random.Random(seed), **args)  # type: ignore[arg-type]
    end = 0.0
    for fault in first:
        assert fault.at_s >= end, "faults never overlap"
        assert fault.at_s + fault.duration_s <= 20.0 + 1e-9
        end = fault.at_s + fault.duration_s
        if fault.kind in PROCESS_FAULTS:
            assert fault.target in args["processes"]  # type: ignore[operator]
        else:
            assert fault.target in args["links"]  # type: ignore[operator]


def test_plan_needs_something_to_break() -> None:
    with pytest.raises(NemesisError, match="at least one"):
        plan(random.Random(1), duration_s=5)
    with pytest.raises(NemesisError, match="needs a link"):
        plan(random.Random(1), processes=["a"], duration_s=50, kinds=["partition"])


def test_runner_refuses_unknown_targets() -> None:
    with pytest.raises(NemesisError, match="no process named 'ghost'"):
        ScheduleRunner([Fault(0, "kill", "ghost", 1)])
    with pytest.raises(NemesisError, match="no proxy link named 'x'"):
        ScheduleRunner([Fault(0, "partition", "x", 1)])
