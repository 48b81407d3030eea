"""sentinel_lab.config against real redis-sentinel 7.0.15 processes.

* Redis reports the same line and reason for each bad input we share with it, and
  accepts the inputs where we are deliberately stricter.
* Our rewriter, replaying the rewrites a real Sentinel made, produces its file byte for
  byte (monitoring a real master and replica, so it learns a replica and rewrites).
* A real Sentinel started from a file we wrote keeps our id, epochs, known sentinel and
  known replica (checked through a client, in its hello messages and in its own rewrite);
  we read its rewrite, rewrite it again, and it starts from that file too.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from labkit.realredis import Lab, RedisProcess, find_binaries, wait_until
from labkit.realredis.ports import free_port
from labkit.realredis.process import ConfigValue
from sentinel_lab.config import (
    KnownReplica,
    KnownSentinel,
    SentinelConfig,
    ensure_myid,
    load_config,
    parse_config_text,
    render_rewrite,
    rewrite_config,
)
from tests.unit.test_sentinel_config_badinput import BAD_CASES, BadCase

pytestmark = pytest.mark.realredis

DEBIAN = Path("/etc/redis/sentinel.conf")
OUR_ID = "0123456789abcdef0123456789abcdef01234567"
PEER_ID = "fedcba9876543210fedcba9876543210fedcba98"
_FAST_SYNC: list[tuple[str, ConfigValue]] = [("repl-diskless-sync-delay", 0)]
_FATAL = re.compile(r"at line (\d+)\n>>> '(.*)'\n(.*)\n")


def _real_sentinel_verdict(text: str, folder: Path) -> tuple[int, str, str] | None:
    """Run redis-sentinel on ``text`` with ``--port 0`` (it exits either way)."""
    path = folder / "sentinel.conf"
    path.write_text(text)
    argv = [find_binaries().server, str(path), "--sentinel", "--port", "0"]
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=10, check=False)
    match = _FATAL.search(done.stderr)
    if match is None:
        assert "Configured to not listen anywhere" in done.stdout + done.stderr, done
        return None
    return int(match.group(1)), match.group(2), match.group(3)


@pytest.mark.parametrize("case", BAD_CASES, ids=[c.id for c in BAD_CASES])
def test_real_sentinel_agrees_on_bad_input(case: BadCase, tmp_path: Path) -> None:
    verdict = _real_sentinel_verdict(case.text, tmp_path)
    if case.redis_agrees:
        line = case.text.split("\n")[case.line_no - 1].strip()
        assert verdict == (case.line_no, line, case.reason)
    else:
        assert verdict is None  # Redis loads it; we refuse on purpose


def _wait_for_file(proc: RedisProcess, *needles: str) -> str:
    wait_until(
        lambda: all(n in proc.config_path.read_text() for n in needles),
        timeout_s=15,
        what=f"{proc.name} to rewrite {proc.config_path} with {needles}",
    )
    return proc.config_path.read_text()


def test_our_rewrite_replays_a_real_sentinel_byte_for_byte(redis_lab: Lab) -> None:
    group = redis_lab.replication_group(1, extra=_FAST_SYNC)
    master, replica = group.master, group.replicas[0]
    proc = redis_lab.sentinel(master, quorum=1, down_after_ms=5000, start=False)
    folder = proc.workdir.resolve()
    # Server lines written as Redis itself rewrites them, so that its rewrite leaves them be.
    original = (
        f"port {proc.port}\nbind 127.0.0.1\n"
        f'dir "{folder}"\nlogfile "{proc.log_path.resolve()}"\n'
        "daemonize no\nprotected-mode no\n"
        "latency-tracking-info-percentiles 50 99 99.9\n"
        # Redis writes "user default on nopass ~* &* +@all" at first, and this once it has
        # read a user line back.
        "user default on nopass sanitize-payload ~* &* +@all\n"
        "# my comment, kept   \n\n"
        f"sentinel monitor mymaster {master.host} {master.port} 1\n"
        "sentinel down-after-milliseconds mymaster 5000\n"
        "sentinel failover-timeout mymaster 180000\n"
        "sentinel parallel-syncs mymaster 1\n"
    )
    proc.config_path.write_text(original)
    proc.start()
    real = _wait_for_file(proc, "sentinel myid", "sentinel known-replica", "current-epoch")
    with proc.client() as conn:
        myid = conn.execute_command("SENTINEL", "MYID")
    proc.stop()
    real = proc.config_path.read_text()

    state = parse_config_text(real).config
    assert state.myid == myid
    assert state.current_epoch == 0
    (learned,) = state.masters
    assert learned.known_replicas == (KnownReplica(replica.host, replica.port),)

    # Sentinel rewrites once at start (new id), once when it finds the replica, and maybe
    # again with nothing new (which only adds the empty last line Redis keeps).
    at_start = render_rewrite(
        original, replace(state, masters=(replace(learned, known_replicas=()),))
    )
    found_replica = render_rewrite(at_start, state)
    assert real in (found_replica, render_rewrite(found_replica, state))
    assert "# my comment, kept\n\nsentinel monitor" in real
    assert (
        "sentinel down-after-milliseconds mymaster 5000\n\n# Generated by CONFIG REWRITE\n" in real
    )


@pytest.mark.skipif(not DEBIAN.exists(), reason="Debian's redis-sentinel package is not installed")
def test_debian_file_through_a_real_sentinel(redis_lab: Lab) -> None:
    nobody = redis_lab.server("nobody", start=False)  # a master address nothing listens on
    proc = redis_lab.sentinel(nobody, start=False)
    folder = proc.workdir.resolve()
    text = DEBIAN.read_text()
    for old, new in (
        ("port 26379", f"port {proc.port}"),
        ("daemonize yes", "daemonize no"),
        ("pidfile /run/sentinel/redis-sentinel.pid", f"pidfile {folder}/s.pid"),
        ("logfile /var/log/redis/redis-sentinel.log", f"logfile {proc.log_path.resolve()}"),
        ("dir /var/lib/redis", f"dir {folder}"),
        (
            "sentinel monitor mymaster 127.0.0.1 6379 2",
            f"sentinel monitor mymaster 127.0.0.1 {nobody.port} 2",
        ),
    ):
        assert f"\n{old}\n" in text
        text = text.replace(f"\n{old}\n", f"\n{new}\n")
    proc.config_path.write_text(text)
    loaded = parse_config_text(text)
    assert loaded.needs_rewrite
    proc.start()
    real = _wait_for_file(proc, "sentinel myid")
    proc.stop()
    real = proc.config_path.read_text()

    state = parse_config_text(real).config
    assert state.myid is not None
    assert replace(state, server=loaded.config.server) == replace(loaded.config, myid=state.myid)
    ours = render_rewrite(text, replace(loaded.config, myid=state.myid))
    # Redis also rewrites the server lines it owns; sentinel_lab keeps them as written.
    normalized = real
    for name in ("pidfile", "logfile", "dir"):
        normalized = re.sub(rf'^{name} "(.*)"$', rf"{name} \1", normalized, flags=re.M)
    normalized = normalized.replace(
        "latency-tracking-info-percentiles 50 99 99.9\nuser default on nopass ~* &* +@all\n", ""
    )
    assert normalized == ours


def _hello(master: RedisProcess, sentinel_port: int, timeout_s: float = 6.0) -> list[str]:
    """The next hello message the sentinel on ``sentinel_port`` publishes via ``master``."""
    with master.client() as conn:
        pubsub = conn.pubsub()
        pubsub.subscribe("__sentinel__:hello")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.5)
            if message and message["type"] == "message":
                fields = str(message["data"]).split(",")
                if fields[1] == str(sentinel_port):
                    pubsub.close()
                    return fields
        pubsub.close()
    raise AssertionError(f"no hello from the sentinel on port {sentinel_port} in {timeout_s}s")


def _fields(reply: object) -> dict[str, object]:
    """One instance of a SENTINEL MASTER/REPLICAS/SENTINELS reply, as a dict."""
    if isinstance(reply, dict):
        return {str(k): v for k, v in reply.items()}
    assert isinstance(reply, list)
    return {str(k): v for k, v in zip(reply[::2], reply[1::2], strict=True)}


def test_real_sentinel_keeps_our_identity_and_epochs(redis_lab: Lab) -> None:
    group = redis_lab.replication_group(1, extra=_FAST_SYNC)
    master, replica = group.master, group.replicas[0]
    proc = redis_lab.sentinel(master, quorum=1, start=False)
    peer_port = free_port()
    loaded = load_config(proc.config_path)
    (monitored,) = loaded.config.masters
    ours = replace(
        loaded.config,
        myid=OUR_ID,
        current_epoch=5,
        masters=(
            replace(
                monitored,
                config_epoch=3,
                leader_epoch=4,
                known_replicas=(KnownReplica(replica.host, replica.port),),
                known_sentinels=(KnownSentinel("127.0.0.1", peer_port, PEER_ID),),
            ),
        ),
    )
    rewrite_config(proc.config_path, ours)
    proc.start()

    with proc.client() as conn:
        assert conn.execute_command("SENTINEL", "MYID") == OUR_ID
        sentinels = conn.execute_command("SENTINEL", "SENTINELS", "mymaster")
        replicas = conn.execute_command("SENTINEL", "REPLICAS", "mymaster")
        fields = _fields(conn.execute_command("SENTINEL", "MASTER", "mymaster"))
    assert str(fields["config-epoch"]) == "3"
    peers = [_fields(s) for s in sentinels]
    assert [(p["runid"], str(p["port"])) for p in peers] == [(PEER_ID, str(peer_port))]
    assert [_fields(r)["name"] for r in replicas] == [replica.address]
    hello = _hello(master, proc.port)
    assert (hello[2], hello[3], hello[7]) == (
        OUR_ID,
        "5",
        "3",
    )  # runid, current epoch, config epoch

    # Its own rewrite keeps them...
    with proc.client() as conn:
        assert conn.execute_command("SENTINEL", "FLUSHCONFIG") in ("OK", True)
    theirs = load_config(proc.config_path).config
    assert (theirs.myid, theirs.current_epoch) == (OUR_ID, 5)
    (kept,) = theirs.masters
    assert (kept.config_epoch, kept.leader_epoch) == (3, 4)
    assert kept.known_sentinels == (KnownSentinel("127.0.0.1", peer_port, PEER_ID),)
    assert kept.known_replicas == (KnownReplica(replica.host, replica.port),)

    # ...and after we rewrite its file again, it starts from ours once more.
    proc.stop()
    bumped = replace(theirs, current_epoch=6)
    rewrite_config(proc.config_path, bumped)
    assert load_config(proc.config_path).config == bumped
    proc.start()
    with proc.client() as conn:
        assert conn.execute_command("SENTINEL", "MYID") == OUR_ID
    assert _hello(master, proc.port)[3] == "6"


def test_our_fresh_id_survives_a_real_restart(redis_lab: Lab) -> None:
    nobody = redis_lab.server("nobody", start=False)
    proc = redis_lab.sentinel(nobody, start=False)
    config, picked = ensure_myid(load_config(proc.config_path).config)
    assert picked
    rewrite_config(proc.config_path, config)
    proc.start()
    with proc.client() as conn:
        assert conn.execute_command("SENTINEL", "MYID") == config.myid
    proc.stop()
    assert load_config(proc.config_path).config.myid == config.myid
    assert isinstance(config, SentinelConfig)
