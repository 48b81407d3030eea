"""The namespace backend's run records, owner checks and capability check (no root needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.faults import netns_cmd
from labkit.faults.netns_cmd import NetnsError, missing_capability, run_tool
from labkit.faults.netns_registry import (
    RunRecord,
    delete_record,
    owner_alive,
    process_start_time,
    read_records,
    registry_lock,
    remove_leftovers,
)


def _record(run_id: str = "rl1-aaaaaa") -> RunRecord:
    return RunRecord(
        run_id=run_id,
        owner_pid=os.getpid(),
        owner_start=process_start_time(os.getpid()),
        tag="rlaaaaaa",
        subnet="198.18.3.0/24",
        bridge="rlaaaaaabr",
        chains=[f"{run_id}-fwd", f"{run_id}-in"],
        namespaces=[f"{run_id}-a"],
        links=["rlaaaaaav1"],
    )


def test_records_round_trip_and_skip_garbage(tmp_path: Path) -> None:
    record = _record()
    with registry_lock(tmp_path):
        record.save(tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"unexpected": 1}')
    assert read_records(tmp_path) == [record]
    delete_record(record.run_id, tmp_path)
    delete_record(record.run_id, tmp_path)
    assert read_records(tmp_path) == []
    assert read_records(tmp_path / "missing") == []


def test_owner_alive_checks_the_pid_and_its_start_time() -> None:
    me = os.getpid()
    start = process_start_time(me)
    assert start is not None
    assert owner_alive(me) and owner_alive(me, start)
    assert not owner_alive(me, start + 1), "same pid, other process: the owner is gone"
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert not owner_alive(int(done.stdout))
    assert process_start_time(int(done.stdout)) is None


def test_missing_capability_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "need root" in (missing_capability() or "")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns_cmd, "which", lambda name: None if name == "iptables" else "/x")
    assert missing_capability() == "iptables not found: apt-get install iptables"
    monkeypatch.setattr(netns_cmd, "which", lambda name: None)
    assert missing_capability() == "ip, iptables, tc not found: apt-get install iproute2 iptables"
    with pytest.raises(NetnsError, match="apt-get install"):
        netns_cmd.find_tools()


def test_run_tool_reports_the_command_and_its_output() -> None:
    with pytest.raises(NetnsError, match=r"`.*false` failed: exit status 1 \(a hint\)"):
        run_tool(["false"], hint="a hint")
    assert run_tool(["false"], check=False).returncode == 1
    with pytest.raises(NetnsError, match="not found"):
        run_tool(["/nonexistent/ip", "link"])


def test_cleanup_without_root_says_so_when_there_is_something(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record("rl1-bbbbbb").save(tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(NetnsError, match=r"leftovers exist here, but .*need root"):
        remove_leftovers(directory=tmp_path)
