"""The demo and the CLI core, end to end against real Redis and real Sentinels."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.demo import MILESTONES, run_demo
from labkit.timeline.merge import first_occurrences


@pytest.mark.realredis
@pytest.mark.slow
def test_demo_tells_a_real_failover(tmp_path: Path) -> None:
    out = io.StringIO()
    result = run_demo(out, html=tmp_path / "report.html")
    text = out.getvalue()
    assert result.new_master != result.old_master
    # Detection cannot beat down-after-milliseconds (1000 ms): a figure below it is a bug.
    assert result.first_write_s > 1.0
    firsts = first_occurrences(result.timeline, MILESTONES, after_zero=True)
    sentinels = [name for name in firsts if name.startswith("sentinel-")]
    assert len(sentinels) == 3
    for name in sentinels:
        assert firsts[name]["+sdown"] is not None
        assert firsts[name]["+switch-master"] is not None
        sdown = firsts[name]["+sdown"]
        assert sdown is not None and sdown >= 1_000_000_000
    leaders = [n for n in sentinels if firsts[n]["+elected-leader"] is not None]
    assert len(leaders) == 1
    switch = f"+switch-master mymaster {result.old_master.replace(':', ' ')} "
    switched = {e.source for e in result.timeline if e.event.message.startswith(switch)}
    assert switched == set(sentinels)
    assert "+switch-master" in text
    assert "master killed" in text
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "+switch-master" in page


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labkit", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_without_command_prints_help_and_exits_2() -> None:
    done = _cli()
    assert done.returncode == 2
    assert "demo" in done.stderr and "cleanup" in done.stderr


def test_cli_unknown_flag_is_named() -> None:
    done = _cli("cleanup", "--bogus")
    assert done.returncode == 2
    assert "--bogus" in done.stderr
    assert "Traceback" not in done.stderr
