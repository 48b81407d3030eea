"""The side-by-side study's parts: one failover with the early switch, the report, the
CLI, and ``SENTINEL CONFIG SET lab-early-switch``. (The demo test runs the real and
the Redis-default sentinel_lab failovers.) Orderings and sanity bounds only: timed goals
live in ``bench/bench_sentinel.py``."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest
import redis

from labkit.realredis import Lab
from labkit.realredis.labsentinel import start_lab_sentinel
from labkit.studies.cli import print_sentinel_report, register_sentinel
from labkit.studies.sentinel import StudySettings, run_failover

pytestmark = pytest.mark.realredis


@pytest.mark.slow
def test_one_failover_with_the_early_switch(tmp_path: Path) -> None:
    run = run_failover("ours-early")
    assert run.new_master != run.old_master
    assert run.leader is not None
    leader = run.phases[run.leader]
    sdown, elected, promoted, switch = (
        leader[p] for p in ("+sdown", "+elected-leader", "+promoted-slave", "+switch-master")
    )
    assert sdown is not None and sdown >= 1_000_000_000  # not before down-after
    assert elected is not None and promoted is not None and switch is not None
    assert sdown < elected <= promoted <= switch
    addr = run.addr_switch_s[run.leader]
    assert addr is not None and elected / 1e9 <= addr <= switch / 1e9 + 0.5
    assert run.first_write_s > 1.0
    assert run.client.outage_s is not None and run.client.outage_s > 1.0
    assert run.client.writes_before_kill >= 5
    out = io.StringIO()
    print_sentinel_report([run], out, html=tmp_path / "r.html", settings=StudySettings())
    text = out.getvalue()
    assert "ours-early (n=1)" in text and "client outage" in text
    assert "ours-early lab-sentinel-1" in (tmp_path / "r.html").read_text()


def test_lab_early_switch_is_a_runtime_setting(redis_lab: Lab) -> None:
    master = redis_lab.server("master")
    proc = start_lab_sentinel(redis_lab, master, name="lab-1")
    with proc.client() as conn:
        assert conn.execute_command("SENTINEL", "CONFIG", "GET", "lab-early-switch") in (
            ["lab-early-switch", "no"],
            {"lab-early-switch": "no"},
        )
        assert conn.execute_command("SENTINEL", "CONFIG", "SET", "lab-early-switch", "yes")
        got = conn.execute_command("SENTINEL", "CONFIG", "GET", "lab-*")
        assert got in (["lab-early-switch", "yes"], {"lab-early-switch": "yes"})
        with pytest.raises(redis.exceptions.ResponseError, match="Invalid value"):
            conn.execute_command("SENTINEL", "CONFIG", "SET", "lab-early-switch", "maybe")
        conn.execute_command("SENTINEL", "FLUSHCONFIG")
    assert "lab-early-switch" not in proc.config_path.read_text()
    flagged = start_lab_sentinel(redis_lab, master, name="lab-2", args=("--early-switch",))
    with flagged.client() as conn:
        got = conn.execute_command("SENTINEL", "CONFIG", "GET", "lab-early-switch")
    assert got in (["lab-early-switch", "yes"], {"lab-early-switch": "yes"})


def test_study_cli_arguments() -> None:
    parser = argparse.ArgumentParser()
    register_sentinel(parser.add_subparsers())
    args = parser.parse_args(["sentinel"])
    assert (args.runs, args.html, args.down_after_ms, args.early_switch) == (1, None, 1000, False)
    args = parser.parse_args(
        ["sentinel", "--runs", "5", "--html", "x.html", "--down-after-ms", "2000", "--early-switch"]
    )
    assert (args.runs, args.html, args.down_after_ms, args.early_switch) == (
        5,
        Path("x.html"),
        2000,
        True,
    )
    for bad in (["--runs", "0"], ["--down-after-ms", "5"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["sentinel", *bad])
