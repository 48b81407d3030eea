"""``notification-script`` and ``client-reconfig-script``: sentinel_lab beside a real Sentinel.

Small shell scripts append their arguments to a file, one line per run. In one failover
(2 sentinel_lab + 1 real Sentinel) every sentinel runs its scripts with Redis's
arguments; SENTINEL SET of a script path gives the real Sentinel's errors (refused while
``deny-scripts-reconfig yes``, the default); PENDING-SCRIPTS shows a running script and
one waiting for its retry with the real Sentinel's fields; a running script dies with
its sentinel.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import redis

from labkit.realredis import Lab, RedisProcess, wait_until
from labkit.realredis.labsentinel import start_lab_sentinel
from labkit.realredis.process import ConfigValue
from tests.integration.test_sentinel_behaviours import _group
from tests.integration.test_sentinel_lab_failover import MASTER, wait_discovered, wait_switched

pytestmark = [pytest.mark.realredis, pytest.mark.slow]


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def _recorders(folder: Path, name: str) -> tuple[Path, Path, list[tuple[str, ConfigValue]]]:
    notes, reconf = folder / f"{name}.notify", folder / f"{name}.reconf"
    notify = _script(folder / f"{name}-notify.sh", f'echo "$@" >> {notes}')
    client = _script(folder / f"{name}-reconf.sh", f'echo "$@" >> {reconf}')
    directives: list[tuple[str, ConfigValue]] = [
        ("sentinel notification-script", [MASTER, str(notify)]),
        ("sentinel client-reconfig-script", [MASTER, str(client)]),
    ]
    return notes, reconf, directives


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _set_error(proc: RedisProcess, *args: str) -> str:
    try:
        with proc.client() as conn:
            conn.execute_command("SENTINEL", "SET", MASTER, *args)
    except redis.exceptions.ResponseError as exc:
        return str(exc)
    return "OK"


def _pending(proc: RedisProcess) -> list[dict[str, object]]:
    with proc.client() as conn:
        reply = conn.execute_command("SENTINEL", "PENDING-SCRIPTS")
    out: list[dict[str, object]] = []
    for job in reply:
        pairs = job if isinstance(job, list) else [x for kv in job.items() for x in kv]
        out.append(dict(zip(pairs[::2], pairs[1::2], strict=True)))
    return out


def test_scripts_run_with_redis_arguments_in_a_failover(redis_lab: Lab, tmp_path: Path) -> None:
    group = _group(redis_lab)
    options: dict[str, Any] = {"quorum": 2, "down_after_ms": 1000, "failover_timeout_ms": 10_000}
    files: dict[str, tuple[Path, Path]] = {}
    procs: list[RedisProcess] = []
    for name in ("lab-1", "lab-2", "real-1"):
        notes, reconf, extra = _recorders(tmp_path, name)
        files[name] = (notes, reconf)
        if name.startswith("lab"):
            procs.append(
                start_lab_sentinel(redis_lab, group.master, name=name, extra=extra, **options)
            )
        else:
            procs.append(redis_lab.sentinel(group.master, name=name, extra=extra, **options))
    wait_discovered(procs, replicas=2)
    old = (group.master.host, group.master.port)
    group.master.kill()
    new = wait_switched(procs, old)
    wait_until(
        lambda: all(len(_lines(reconf)) >= 1 for _, reconf in files.values()),
        timeout_s=10,
        what="every sentinel to run its client-reconfig-script",
    )
    roles = {}
    for name, (_, reconf) in files.items():
        (line,) = _lines(reconf)
        args = line.split()
        assert args[0] == MASTER and args[2] == "start", line
        assert (args[3], int(args[4])) == old and (args[5], int(args[6])) == new, line
        roles[name] = args[1]
    assert sorted(roles.values()) == ["leader", "observer", "observer"], roles
    wait_until(
        lambda: all(
            any(line.startswith("+switch-master ") for line in _lines(notes))
            for notes, _ in files.values()
        ),
        timeout_s=10,
        what="every notification-script to hear of +switch-master",
    )
    for name, (notes, _) in files.items():
        lines = _lines(notes)
        kinds = {line.split()[0] for line in lines}
        assert {"+sdown", "+new-epoch", "+switch-master"} <= kinds, (name, lines)
        assert f"+sdown master {MASTER} {old[0]} {old[1]}" in lines, (name, lines)
        switch = f"+switch-master {MASTER} {old[0]} {old[1]} {new[0]} {new[1]}"
        assert switch in lines, (name, lines)
    ours, real = procs[0], procs[2]
    # deny-scripts-reconfig yes (the default): refused at run time, with Redis's text.
    refused = _set_error(real, "notification-script", "/bin/true")
    assert "denied for security reasons" in refused
    assert _set_error(ours, "notification-script", "/bin/true") == refused
    assert _set_error(ours, "client-reconfig-script", "/bin/true") == _set_error(
        real, "client-reconfig-script", "/bin/true"
    )


def test_pending_scripts_retries_and_death_with_the_sentinel(
    redis_lab: Lab, tmp_path: Path
) -> None:
    group = _group(redis_lab)
    allow: list[tuple[str, ConfigValue]] = [("sentinel deny-scripts-reconfig", "no")]
    ours = start_lab_sentinel(redis_lab, group.master, name="lab-1", extra=allow)
    real = redis_lab.sentinel(group.master, name="real-1", extra=allow)
    missing = str(tmp_path / "missing.sh")
    for proc in (ours, real):
        assert "non existing or non executable" in _set_error(proc, "notification-script", missing)
    assert _set_error(ours, "notification-script", missing) == _set_error(
        real, "notification-script", missing
    )
    pid_file = tmp_path / "sleeper.pid"
    sleeper = _script(tmp_path / "sleep.sh", f"echo $$ > {pid_file}\nexec sleep 60")
    failing = _script(tmp_path / "fail.sh", "exit 1")
    shapes = {}
    for proc in (ours, real):
        assert _set_error(proc, "notification-script", str(sleeper)) == "OK"
        # the +set event of that change already queued a run of the sleeper
        wait_until(
            lambda p=proc: any(j["flags"] == "running" for j in _pending(p)),  # type: ignore[misc]
            timeout_s=5,
            what=f"{proc.name} to run the notification script",
        )
        running = next(j for j in _pending(proc) if j["flags"] == "running")
        assert running["argv"][:2] == [str(sleeper), "+set"]  # type: ignore[index]
        assert f"master {MASTER}" in running["argv"][2]  # type: ignore[index]
        assert int(running["pid"]) > 0  # type: ignore[call-overload]
        assert _set_error(proc, "notification-script", str(failing)) == "OK"
        wait_until(
            lambda p=proc: any(  # type: ignore[misc]
                j["flags"] == "scheduled" and int(j["retry-num"]) == 1  # type: ignore[call-overload]
                for j in _pending(p)
            ),
            timeout_s=5,
            what=f"{proc.name} to schedule a retry of the failing script",
        )
        retry = next(j for j in _pending(proc) if j["flags"] == "scheduled")  # the oldest
        assert retry["argv"][0] == str(failing)  # type: ignore[index]
        assert int(retry["retry-num"]) == 1  # type: ignore[call-overload]
        assert 20_000 < int(retry["run-delay"]) <= 30_000  # type: ignore[call-overload]
        shapes[proc.name] = (list(running), list(retry))
    assert shapes["lab-1"] == shapes["real-1"]
    with ours.client() as conn:
        info = conn.info("sentinel")
    assert int(info["sentinel_running_scripts"]) >= 1
    # The sleeper run by ours dies with it (the real one's is its own business).
    wait_until(pid_file.exists, timeout_s=5, what="the sleeper's pid")
    ours_jobs = [j for j in _pending(ours) if j["flags"] == "running"]
    pids = [int(j["pid"]) for j in ours_jobs]  # type: ignore[call-overload]
    assert pids
    ours.kill()
    for pid in pids:
        wait_until(lambda p=pid: not _alive(p), timeout_s=5, what=f"script {pid} to die")  # type: ignore[misc]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()
