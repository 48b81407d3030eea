"""labkit.realredis against real redis-server and redis-sentinel processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from labkit.realredis import Lab, RedisNotInstalledError, RedisStartError, wait_until
from labkit.realredis import binaries as binaries_module
from labkit.realredis.reaper import find_lab_processes

pytestmark = pytest.mark.realredis


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and ") Z " in stat.read_text()


def test_server_kill_restart_keeps_data(redis_lab: Lab) -> None:
    server = redis_lab.server("solo")
    with server.client() as conn:
        conn.set("k", "v")
        conn.save()
    pid = server.pid
    assert pid is not None
    server.kill()
    assert not server.running and _gone(pid)
    server.start()
    assert server.pid != pid
    with server.client() as conn:
        assert conn.get("k") == "v"


def test_pause_makes_server_silent_and_resume_brings_it_back(redis_lab: Lab) -> None:
    server = redis_lab.server()
    server.pause()
    with server.client(socket_timeout=0.3) as conn, pytest.raises(redis.exceptions.TimeoutError):
        conn.ping()
    server.resume()
    with server.client() as conn:
        assert conn.ping()


def test_requirepass_is_enforced(redis_lab: Lab) -> None:
    server = redis_lab.server(password="s3cret")
    with server.client(password=None) as conn, pytest.raises(redis.exceptions.AuthenticationError):
        conn.ping()
    with server.client() as conn:
        assert conn.ping()


def test_replication_group_replicates(redis_lab: Lab) -> None:
    group = redis_lab.replication_group(2)
    with group.master.client() as conn:
        conn.set("x", "1")
    for replica in group.replicas:
        with replica.client() as conn:
            assert conn.info("replication")["role"] == "slave"
            wait_until(lambda c=conn: bool(c.get("x") == "1"), timeout_s=5, what="x on the replica")  # type: ignore[misc]


def test_sentinels_discover_each_other_and_the_replicas(redis_lab: Lab) -> None:
    group = redis_lab.replication_group(1)
    sentinels = redis_lab.sentinel_group(group, 3, quorum=2, master_name="m")
    for sentinel in sentinels.sentinels:
        with sentinel.client() as conn:
            master = conn.sentinel_master("m")
            assert (master["ip"], master["port"]) == (group.master.host, group.master.port)
            assert master["num-other-sentinels"] == 2
            assert master["num-slaves"] == 1
        assert "+monitor master m" in sentinel.log_text()


@pytest.mark.slow
def test_real_cluster_serves_every_slot_range(redis_lab: Lab) -> None:
    cluster = redis_lab.cluster(3, 1, node_timeout_ms=2000)
    host, port = cluster.startup_nodes[0]
    client = RedisCluster(host=host, port=port, decode_responses=True)
    try:
        for i in range(60):
            client.set(f"key:{i}", str(i))
        assert all(client.get(f"key:{i}") == str(i) for i in range(60))
        slots = client.cluster_slots()
        assert sum(end - start + 1 for (start, end) in slots) == 16384
    finally:
        client.close()


def test_bad_config_fails_with_log_tail(redis_lab: Lab) -> None:
    with pytest.raises(RedisStartError) as caught:
        redis_lab.server("broken", extra=[("no-such-directive", "1")])
    assert "broken" in str(caught.value)
    assert "no-such-directive" in str(caught.value)


def test_missing_binary_names_the_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_SERVER", "/nonexistent/redis-server")
    with pytest.raises(RedisNotInstalledError, match="/nonexistent/redis-server"):
        binaries_module.find_binaries.__wrapped__()


@pytest.mark.slow
def test_sigkilled_pytest_leaves_no_process(tmp_path: Path) -> None:
    """The contract: kill the test runner itself with SIGKILL; its servers die with it."""
    pid_file = tmp_path / "pids"
    test_file = tmp_path / "test_hang.py"
    test_file.write_text(
        textwrap.dedent(
            f"""
            import time
            def test_hang(redis_lab):
                group = redis_lab.replication_group(1)
                sentinel = redis_lab.sentinel(group.master, quorum=1)
                pids = [p.pid for p in (*group.servers, sentinel)]
                open({str(pid_file)!r}, "w").write(" ".join(map(str, pids)))
                time.sleep(600)
            """
        )
    )
    runner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--timeout=0",
            str(test_file),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: pid_file.exists() and pid_file.read_text() != "",
            timeout_s=60,
            what="servers up",
        )
        pids = [int(p) for p in pid_file.read_text().split()]
        assert len(pids) == 3 and not any(_gone(p) for p in pids)
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=10)
    wait_until(lambda: all(_gone(p) for p in pids), timeout_s=10, what="servers to die with pytest")


def test_cleanup_ends_orphans_only(tmp_path: Path) -> None:
    dead_owner = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_owner.wait()
    env = dict(os.environ, REDIS_LAB_RUN="test-orphan", REDIS_LAB_OWNER=str(dead_owner.pid))
    orphan = subprocess.Popen(["sleep", "600"], env=env, start_new_session=True)
    live_env = dict(env, REDIS_LAB_RUN="test-live", REDIS_LAB_OWNER=str(os.getpid()))
    live = subprocess.Popen(["sleep", "600"], env=live_env, start_new_session=True)
    try:
        wait_until(
            lambda: {orphan.pid, live.pid} <= {p.pid for p in find_lab_processes()},
            timeout_s=5,
            what="marked processes to appear",
        )
        done = subprocess.run(
            [sys.executable, "-m", "labkit", "cleanup"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert f"pid {orphan.pid}" in done.stdout
        assert f"pid {live.pid}" not in done.stdout
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        assert live.poll() is None
    finally:
        for proc in (orphan, live):
            proc.kill()
            proc.wait()
    started = time.monotonic()
    assert time.monotonic() - started < 5
