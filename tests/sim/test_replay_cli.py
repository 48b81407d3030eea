"""``redis-lab replay`` and ``redis-lab soak`` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labkit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_replay_prints_the_run_and_writes_its_events(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    first = _cli("replay", "7", "--scenario", "toy", "--jsonl", str(out))
    assert first.returncode == 0, first.stderr
    assert "scenario toy, seed 7: ok" in first.stdout
    assert "+elected" in first.stdout
    lines = out.read_text().splitlines()
    assert lines and all(json.loads(line)["wall_ns"] > 0 for line in lines)
    again = _cli("replay", "7", "--scenario", "toy")
    assert again.stdout.splitlines()[1] == first.stdout.splitlines()[1]  # same trace hash
    several = _cli("replay", "7")
    assert (
        several.returncode == 2 and "--scenario" in several.stderr and "sentinel" in several.stderr
    )
    listed = _cli("replay", "--list")
    assert listed.returncode == 0 and "toy" in listed.stdout and "sentinel" in listed.stdout


def test_replay_rejects_bad_values_by_name() -> None:
    bad_seed = _cli("replay", "seven")
    assert bad_seed.returncode == 2 and "'seven'" in bad_seed.stderr
    unknown = _cli("replay", "1", "--scenario", "nope")
    assert unknown.returncode == 2 and "'nope'" in unknown.stderr and "toy" in unknown.stderr
    assert "Traceback" not in bad_seed.stderr + unknown.stderr


def test_soak_runs_a_range_of_seeds() -> None:
    done = _cli("soak", "--scenario", "toy", "--seeds", "20", "--start", "5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "toy: 20/20 seeds ok (5..24)" in done.stdout
