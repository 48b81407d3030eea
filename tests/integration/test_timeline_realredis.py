"""Real redis-server and redis-sentinel logs, read back through ``labkit.timeline``.

One master and one sentinel (quorum 1, down-after 1000 ms) on free loopback ports in a
temp dir. The master is SIGKILLed once the sentinel logs ``+monitor``; the scenario ends
when the sentinel logs ``+odown``. The processes are killed in the fixture's teardown,
and they are asked to die with the test process (PR_SET_PDEATHSIG) in case it is killed.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import redis

from labkit.events import Event
from labkit.timeline import (
    Anchor,
    ParsedLog,
    first_occurrences,
    is_event,
    merge,
    read_events,
    read_log,
    render_first_occurrences,
    render_lanes,
    render_table,
    write_events,
)

pytestmark = pytest.mark.realredis

T = TypeVar("T")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_SENTINEL = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"
PR_SET_PDEATHSIG = 1
POLL_S = 0.02


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def wait_until(check: Callable[[], T | None], timeout_s: float, what: str) -> T:
    """Poll ``check`` until it returns something other than None; fail after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(POLL_S)


def first_event(log: Path, name: str) -> Event | None:
    """The first ``name`` event of a log file, or None (also while the file is missing)."""
    if not log.exists():
        return None
    return next((e for e in read_log(log).events if e.name == name), None)


def sentinel_link_up(port: int) -> bool | None:
    """True once a sentinel's command link has sent its periodic PING to the server at ``port``."""
    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, decode_responses=True) as r:
        for client in r.client_list():
            name, cmd = client.get("name", ""), client.get("cmd", "")
            if name.startswith("sentinel-") and name.endswith("-cmd") and cmd == "ping":
                return True
    return None


@dataclass(frozen=True, slots=True)
class Failover:
    """What the scenario left behind: logs, ports, pids and the moment of the kill."""

    master_log: Path
    sentinel_log: Path
    master_port: int
    master_pid: int
    sentinel_pid: int
    killed: Anchor


@pytest.fixture(scope="module")
def failover(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Failover]:
    if not (os.access(REDIS_SERVER, os.X_OK) and os.access(REDIS_SENTINEL, os.X_OK)):
        pytest.skip("redis-server / redis-sentinel not installed")
    work = tmp_path_factory.mktemp("timeline-real")
    master_port, sentinel_port = free_port(), free_port()
    master_log, sentinel_log = work / "master.log", work / "sentinel.log"
    config = work / "sentinel.conf"
    config.write_text(
        f"port {sentinel_port}\n"
        "bind 127.0.0.1\n"
        f'dir "{work}"\n'
        f'logfile "{sentinel_log}"\n'
        f"sentinel monitor m 127.0.0.1 {master_port} 1\n"
        "sentinel down-after-milliseconds m 1000\n",
        encoding="utf-8",
    )
    env = {**os.environ, "TZ": "UTC0"}
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            args,
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads run here
        )
        procs.append(proc)
        return proc

    try:
        master = start(
            REDIS_SERVER,
            "--port", str(master_port),
            "--bind", "127.0.0.1",
            "--dir", str(work),
            "--logfile", str(master_log),
            "--save", "",
            "--appendonly", "no",
            "--always-show-logo", "yes",  # so that the log holds the ASCII-art logo
        )  # fmt: skip
        sentinel = start(REDIS_SENTINEL, str(config))
        wait_until(lambda: first_event(sentinel_log, "+monitor"), 10, "+monitor in sentinel log")
        wait_until(
            lambda: first_event(master_log, "Ready to accept connections"), 10, "master ready"
        )
        wait_until(lambda: sentinel_link_up(master_port), 10, "the sentinel's link to the master")
        killed = Anchor(wall_ns=time.time_ns(), mono_ns=time.monotonic_ns())
        master.kill()
        master.wait(timeout=5)
        wait_until(lambda: first_event(sentinel_log, "+odown"), 10, "+odown in sentinel log")
        yield Failover(master_log, sentinel_log, master_port, master.pid, sentinel.pid, killed)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def master_log(failover: Failover) -> ParsedLog:
    return read_log(failover.master_log, source="master")


@pytest.fixture(scope="module")
def sentinel_log(failover: Failover) -> ParsedLog:
    return read_log(failover.sentinel_log, source="sentinel")


def test_master_log_lines(failover: Failover, master_log: ParsedLog) -> None:
    events = master_log.events
    by_name = {e.name: e for e in events}
    ready = by_name["Ready to accept connections"]
    assert (ready.pid, ready.role, ready.level) == (failover.master_pid, "M", "*")
    assert by_name["oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo"].role == "C"
    assert all(e.pid == failover.master_pid for e in events)
    assert not any(is_event(e) for e in events)
    # the logo is raw text: skipped, never an error, and only with keep_raw an Event
    assert any("_._" in s.text for s in master_log.skipped)
    assert all(s.reason in ("not a Redis log line", "blank line") for s in master_log.skipped)
    with_raw = read_log(failover.master_log, source="master", keep_raw=True)
    assert any("_._" in e.name and e.level == "" for e in with_raw.events)


def test_sentinel_events(failover: Failover, sentinel_log: ParsedLog) -> None:
    master = f"master m 127.0.0.1 {failover.master_port}"
    events = {e.name: e for e in reversed(sentinel_log.events)}  # first of each name
    assert sentinel_log.skipped == ()
    assert "+tilt" not in events, "the real sentinel entered TILT: the machine is starved"
    assert (events["+monitor"].instance, events["+monitor"].details) == (master, "quorum 1")
    assert (events["+sdown"].instance, events["+sdown"].details) == (master, "")
    assert (events["+odown"].instance, events["+odown"].details) == (master, "#quorum 1/1")
    assert all((e.pid, e.role) == (failover.sentinel_pid, "X") for e in sentinel_log.events)
    assert events["+sdown"].level == "#"
    assert events["+monitor"].wall_ns <= events["+sdown"].wall_ns <= events["+odown"].wall_ns


def test_strict_parse_of_a_sentinel_log(failover: Failover) -> None:
    strict = read_log(failover.sentinel_log, source="sentinel", strict=True)
    assert [e.name for e in strict.events if is_event(e)][:1] == ["+monitor"]


def test_times_are_utc_and_sdown_follows_down_after(
    failover: Failover, sentinel_log: ParsedLog, master_log: ParsedLog
) -> None:
    timeline = merge([sentinel_log.events, master_log.events], failover.killed)
    assert timeline.clock == "wall"  # parsed logs carry no monotonic time
    assert all(-30_000 < e.rel_ms < 30_000 for e in timeline)
    table = first_occurrences(timeline, ["+sdown", "+odown"], after_zero=True)
    sdown_ns = table["sentinel"]["+sdown"]
    assert sdown_ns is not None
    # down-after is 1000 ms; log times are truncated to the ms, hence the 1 ms slack
    assert 999 <= sdown_ns / 1e6 < 10_000


def test_render_merged_timeline(
    failover: Failover, sentinel_log: ParsedLog, master_log: ParsedLog
) -> None:
    timeline = merge([sentinel_log.events, master_log.events], failover.killed)
    table = render_table(timeline, width=110, zero_label="SIGKILL master")
    lines = table.splitlines()
    zero_at = next(i for i, line in enumerate(lines) if "SIGKILL master" in line)
    sdown_at = next(i for i, line in enumerate(lines) if " +sdown " in line)
    ready_at = next(i for i, line in enumerate(lines) if "Ready to accept connections" in line)
    assert ready_at < zero_at < sdown_at
    assert all(len(line) <= 110 for line in lines)
    summary = render_first_occurrences(
        first_occurrences(timeline, ["+monitor", "+sdown", "+odown"])
    )
    lanes = render_lanes(timeline.select(lambda e: is_event(e.event)), width=100)
    assert "+odown master m #quorum 1/1" in lanes
    print(f"\n{table}\n\n{lanes}\n\n{summary}")  # shown with -s; handy for the docs


def test_jsonl_round_trip_of_real_events(
    tmp_path: Path, sentinel_log: ParsedLog, master_log: ParsedLog
) -> None:
    path = tmp_path / "events.jsonl"
    events = [*sentinel_log.events, *master_log.events]
    assert write_events(path, events) == len(events)
    assert read_events(path) == events
