"""``python -m sentinel_lab`` as a drop-in Sentinel, checked against real Redis 7.0.15.

* (a) a malformed config stops it with exit status 2 naming the file, line and reason
  (no traceback); Debian's shipped sentinel.conf, with port/dir/logfile adjusted, runs;
* (b) a stock ``redis.sentinel.Sentinel`` (RESP2 and RESP3) pointed only at three
  sentinel_lab processes finds the master and replicas, and after a SIGKILL of the master
  finds the new one and writes to it; (f) our rewritten files then hold the new master,
  epoch and known sentinels, and a restarted process keeps its id and epoch;
* (e) bad input gives the same replies as a real Sentinel (same texts), garbage does not
  crash it, and other clients are still served;
* reply shapes: the field names of MASTERS/MASTER/REPLICAS/SENTINELS, in order, in RESP2
  and RESP3, equal a real Sentinel's.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from redis.sentinel import MasterNotFoundError, Sentinel

from labkit.realredis import Lab, RedisProcess, wait_until
from labkit.realredis.labsentinel import LabSentinelProcess, start_lab_sentinel
from labkit.realredis.ports import free_port
from labkit.realredis.process import Kind
from labkit.resp import NEED_DATA, Array, Frame, Map, ReplyParser, encode_command
from labkit.resp.frames import BulkString
from sentinel_lab.config import load_config
from tests.integration.test_sentinel_lab_failover import (
    MASTER,
    master_state,
    wait_discovered,
)

pytestmark = pytest.mark.realredis

DEBIAN = Path("/etc/redis/sentinel.conf")


def raw_session(proc: RedisProcess, commands: list[list[str | bytes]]) -> list[Frame]:
    """Send commands one at a time on one connection; the first reply frame of each."""
    replies: list[Frame] = []
    with socket.create_connection((proc.host, proc.port), timeout=5) as sock:
        parser = ReplyParser()
        for command in commands:
            sock.sendall(encode_command(*command))
            while True:
                frame = parser.next_frame()
                if frame is not NEED_DATA:
                    replies.append(frame)
                    break
                data = sock.recv(65536)
                if not data:
                    raise EOFError(f"{proc.name} closed the connection after {command}")
                parser.feed(data)
    return replies


def _run_module(conf: Path, timeout_s: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentinel_lab", str(conf)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


# -- (a) start-up ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("port 1\nbind 127.0.0.1\nsentinel monitor m 127.0.0.1 6379 0\n", 3, "Quorum must be 1"),
        ("port 1\nno-such-directive yes\n", 2, "Bad directive or wrong number of arguments"),
        ("sentinel down-after-milliseconds nope 10\n", 1, "No such master with specified name."),
    ],
)
def test_malformed_config_exits_2_naming_file_line_reason(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    conf = tmp_path / "sentinel.conf"
    conf.write_text(text)
    done = _run_module(conf)
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr + done.stdout
    assert "FATAL CONFIG FILE ERROR" in done.stderr
    assert str(conf) in done.stderr
    assert f"at line {line}" in done.stderr
    assert reason in done.stderr


def test_debian_sentinel_conf_starts(redis_lab: Lab) -> None:
    if not DEBIAN.exists():
        pytest.skip(f"{DEBIAN} is not installed")
    port = free_port()
    work = redis_lab.base_dir / "debian"
    proc = LabSentinelProcess(
        "debian", Kind.SENTINEL, work, "127.0.0.1", port, [], run_id=redis_lab.run_id
    )
    text = DEBIAN.read_text()
    text = re.sub(r"(?m)^port .*$", f"port {port}", text)
    text = re.sub(r"(?m)^dir .*$", f"dir {work}", text)
    text = re.sub(r"(?m)^logfile .*$", f"logfile {proc.log_path}", text)
    text = re.sub(r"(?m)^pidfile .*$", f"pidfile {work / 'sentinel.pid'}", text)
    proc.config_path.write_text(text)
    redis_lab.processes.append(proc)
    proc.start()
    with proc.client() as conn:
        assert conn.execute_command("ROLE") == ["sentinel", [MASTER]]
        myid = conn.execute_command("SENTINEL", "MYID")
    assert f"sentinel myid {myid}" in proc.config_path.read_text()
    cli = [redis_lab.binaries.cli, "-p", str(port)]
    done = subprocess.run(
        [*cli, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert done.stdout.split() == ["127.0.0.1", "6379"]
    done = subprocess.run(
        [*cli, "INFO", "sentinel"], capture_output=True, text=True, timeout=10, check=True
    )
    assert "master0:name=mymaster,status=" in done.stdout
    log = proc.log_text()
    assert "Ignoring 'daemonize'" in log and "Ignoring 'pidfile'" in log
    assert "+monitor master mymaster 127.0.0.1 6379 quorum 2" in log
    proc.stop()
    assert "Sentinel is now ready to exit" in proc.log_text()
    assert load_config(proc.config_path).config.myid == myid


# -- (b) + (f) a stock client through three sentinel_lab processes -------------------------------


def _discover(sentinel: Sentinel) -> tuple[tuple[str, int], list[tuple[str, int]]]:
    """``discover_master`` and ``discover_slaves`` (sorted) of a stock client."""
    master = sentinel.discover_master(MASTER)  # type: ignore[no-untyped-call]
    replicas = sentinel.discover_slaves(MASTER)  # type: ignore[no-untyped-call]
    return (str(master[0]), int(master[1])), sorted((str(h), int(p)) for h, p in replicas)


def _write_through(sentinel: Sentinel, key: str) -> bool:
    try:
        client = sentinel.master_for(  # type: ignore[no-untyped-call]
            MASTER, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        return bool(client.set(key, "v"))
    except (MasterNotFoundError, redis.exceptions.ConnectionError, redis.exceptions.ReadOnlyError):
        return False


@pytest.mark.slow
def test_stock_sentinel_client_fails_over_through_ours(redis_lab: Lab) -> None:
    group = redis_lab.replication_group(2)
    ours = [
        start_lab_sentinel(
            redis_lab, group.master, quorum=2, down_after_ms=1000, failover_timeout_ms=10_000
        )
        for _ in range(3)
    ]
    wait_discovered(list(ours), replicas=2)
    addrs = [(p.host, p.port) for p in ours]
    clients: dict[int, Sentinel] = {
        proto: Sentinel(  # type: ignore[no-untyped-call]
            addrs,
            sentinel_kwargs={"socket_timeout": 1.0, "protocol": proto},
            socket_timeout=1.0,
        )
        for proto in (2, 3)
    }
    old = (group.master.host, group.master.port)
    replicas = sorted((r.host, r.port) for r in group.replicas)
    for client in clients.values():
        assert _discover(client) == (old, replicas)
        assert _write_through(client, "before")

    started = time.monotonic()
    group.master.kill()
    first_write: dict[int, float] = {}

    def written() -> bool:
        for proto, client in clients.items():
            if proto not in first_write and _write_through(client, f"after-{proto}"):
                first_write[proto] = time.monotonic() - started
        return len(first_write) == 2

    wait_until(written, timeout_s=40, what="a write through the Sentinel client")
    new, _ = _discover(clients[3])
    assert new != old and new in replicas
    print(f"\nkill -> first write through the Sentinel client: {first_write}")
    for client in clients.values():

        def followed(client: Sentinel = client) -> bool:
            return _discover(client) == (new, [r for r in replicas if r != new])

        wait_until(followed, timeout_s=15, what="the other replica to follow the new master")

    # (f) the rewritten config files, and a restart keeping id and epoch
    wait_until(
        lambda: all("+switch-master" in p.log_text() for p in ours),
        timeout_s=10,
        what="+switch-master everywhere",
    )
    for proc in ours:
        loaded = load_config(proc.config_path).config
        entry = loaded.master(MASTER)
        assert (entry.host, entry.port) == new
        # A second sentinel may have started (and lost) its own attempt after the winner's,
        # which bumps current-epoch past the config epoch, as on a real Sentinel.
        assert entry.config_epoch >= 1 and loaded.current_epoch >= entry.config_epoch
        assert len(entry.known_sentinels) == 2
        assert old in {(r.host, r.port) for r in entry.known_replicas}
    proc = ours[0]
    with proc.client() as conn:
        myid = conn.execute_command("SENTINEL", "MYID")
    epoch_before = load_config(proc.config_path).config.current_epoch
    proc.stop()
    proc.start()
    with proc.client() as conn:
        assert conn.execute_command("SENTINEL", "MYID") == myid
    assert master_state(proc)["config-epoch"] == str(epoch_before)
    assert int(master_state(proc)["num-other-sentinels"]) == 2
    assert load_config(proc.config_path).config.current_epoch == epoch_before
    assert _discover(clients[2])[0] == new

    # a real redis-sentinel takes over one of our rewritten files: same id, epoch, master
    ours[1].stop()
    their_id = load_config(ours[1].config_path).config.myid
    real = redis_lab.sentinel(group.master, name="real-from-ours", start=False)
    text = ours[1].config_path.read_text()
    text = re.sub(r"(?m)^port .*$", f"port {real.port}", text)
    text = re.sub(r"(?m)^dir .*$", f"dir {real.workdir}", text)
    text = re.sub(r"(?m)^logfile .*$", f"logfile {real.log_path}", text)
    real.config_path.write_text(text)
    real.start()
    with real.client() as conn:
        assert conn.execute_command("SENTINEL", "MYID") == their_id
        addr = conn.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
    assert (addr[0], int(addr[1])) == new
    assert master_state(real)["config-epoch"] == str(epoch_before)
    assert int(master_state(real)["num-other-sentinels"]) == 2


# -- (e) bad input and reply shapes, against a real Sentinel ------------------------------------

_SAME_REPLIES: list[list[str | bytes]] = [
    ["SENTINEL"],
    ["SENTINEL", "GET-MASTER-ADDR-BY-NAME"],
    ["SENTINEL", "FOO"],
    ["SENTINEL", "MASTERS", "x"],
    ["SENTINEL", "MYID", "x"],
    ["SENTINEL", "MASTER", "nope"],
    ["SENTINEL", "REPLICAS", "nope"],
    ["SENTINEL", "SLAVES", "nope"],
    ["SENTINEL", "SENTINELS", "nope"],
    ["SENTINEL", "CKQUORUM", "nope"],
    ["SENTINEL", "FAILOVER", "nope"],
    ["SENTINEL", "REMOVE", "nope"],
    ["SENTINEL", "RESET", "nope*"],
    ["SENTINEL", "SET", "nope", "quorum", "1"],
    ["SENTINEL", "SET", MASTER, "quorum"],
    ["SENTINEL", "SET", MASTER, "foo", "1"],
    ["SENTINEL", "SET", MASTER, "quorum", "0"],
    ["SENTINEL", "SET", MASTER, "down-after-milliseconds", "abc"],
    ["SENTINEL", "INFO-CACHE", "nope"],
    ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nope"],
    ["SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "x", "0", "*"],
    ["SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "1", "y", "*"],
    ["SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "1", "2"],
    ["SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "10.0.0.1", "1", "0", "*"],
    ["SENTINEL", "MONITOR", "m2", "127.0.0.1", "abc", "2"],
    ["SENTINEL", "MONITOR", "m2", "127.0.0.1", "1234", "0"],
    ["SENTINEL", "MONITOR", "m2", "127.0.0.1", "1234", "x"],
    ["SENTINEL", "MONITOR", "m2", "not-an-ip", "1234", "2"],
    ["SENTINEL", "CONFIG", "SET", "nope", "1"],
    ["SENTINEL", "CONFIG", "SET", "announce-port", "x"],
    ["SENTINEL", "CONFIG", "FOO", "x"],
    ["SENTINEL", "CONFIG", "GET", "nope"],
    ["SENTINEL", "CONFIG", "GET", "resolve-*"],
    ["SENTINEL", "SIMULATE-FAILURE", "foo"],
    ["SENTINEL", "SIMULATE-FAILURE", "help"],
    ["SENTINEL", "PENDING-SCRIPTS"],
    ["SENTINEL", "HELP"],
    ["FOO", "BAR"],
    ["CONFIG", "GET", "port"],
    ["GET", "x"],
    ["PUBLISH", "foo", "bar"],
    ["PUBLISH", "__sentinel__:hello", "not,a,hello"],
    ["PUBLISH", "__sentinel__:hello", "1,2,3,4,5,6,7,8"],
    ["SHUTDOWN", "abc"],
    ["ACL", "WHOAMI"],
    ["ACL", "FOO"],
    ["ACL", "USERS"],
    ["COMMAND", "COUNT"],
    ["ROLE"],
    ["PING"],
    ["PING", "x"],
    ["HELLO", "4"],
    ["HELLO", "x"],
    ["CLIENT", "SETNAME", "a b"],
]


def _keys(frame: Frame) -> list[bytes]:
    if isinstance(frame, Map):
        return [k.value for k, _ in frame.items if isinstance(k, BulkString)]
    assert isinstance(frame, Array), frame
    return [k.value for k in frame.items[::2] if isinstance(k, BulkString)]


def _shapes(proc: RedisProcess, proto: int) -> dict[str, list[bytes]]:
    commands: list[list[str | bytes]] = [
        ["HELLO", str(proto)],
        ["SENTINEL", "MASTERS"],
        ["SENTINEL", "MASTER", MASTER],
        ["SENTINEL", "REPLICAS", MASTER],
        ["SENTINEL", "SENTINELS", MASTER],
    ]
    _, masters, master, replicas, sentinels = raw_session(proc, commands)
    assert isinstance(masters, Array) and isinstance(replicas, Array)
    assert isinstance(sentinels, Array)
    if proto == 3:
        assert isinstance(master, Map) and all(isinstance(m, Map) for m in masters.items)
    return {
        "masters": _keys(masters.items[0]),
        "master": _keys(master),
        "replicas": _keys(replicas.items[0]),
        "sentinels": _keys(sentinels.items[0]),
    }


def test_bad_input_and_reply_shapes_match_a_real_sentinel(redis_lab: Lab) -> None:
    master = redis_lab.server("master")
    redis_lab.server("replica", replica_of=master)
    real = redis_lab.sentinel(master, quorum=1)
    ours = start_lab_sentinel(redis_lab, master, quorum=1)
    wait_discovered([real, ours], replicas=1)

    theirs_replies = raw_session(real, _SAME_REPLIES)
    our_replies = raw_session(ours, _SAME_REPLIES)
    for command, want, got in zip(_SAME_REPLIES, theirs_replies, our_replies, strict=True):
        assert got == want, f"{command}: real {want!r}, ours {got!r}"

    for proto in (2, 3):
        assert _shapes(ours, proto) == _shapes(real, proto), f"RESP{proto}"

    # the subscribe-mode restriction; QUIT is an unknown command in sentinel mode
    context: list[list[str | bytes]] = [["SUBSCRIBE", "+sdown"], ["SENTINEL", "MYID"], ["PING"]]
    assert raw_session(ours, context)[1:] == raw_session(real, context)[1:]
    assert raw_session(ours, [["QUIT"]]) == raw_session(real, [["QUIT"]])

    # garbage: a protocol error closes that connection only
    garbage_cases = (
        b"*2\r\n$3\r\nfoo\r\n$abc\r\n",
        b"*abc\r\n",
        b'\xff "unbalanced\r\n',  # (a NUL here: see labkit.resp, Differences)
        b"*1\r\n$-3\r\n",
        b"PING\r\n*3\r\n$3\r\nfoo\r\n",
    )
    for garbage in garbage_cases:
        answers = []
        for proc in (real, ours):
            answers.append(_garbage_answer(proc, garbage))
        assert answers[1] == answers[0], garbage
    info = _info(ours)
    assert info["sentinel_masters"] == "1"
    assert info["master0"].startswith(f"name={MASTER},status=ok,address={master.address},")
    assert info["master0"].endswith("slaves=1,sentinels=2")
    assert info["redis_mode"] == "sentinel"
    assert int(master_state(ours)["num-other-sentinels"]) == 1  # the bad hellos were dropped
    assert ours.running


def _garbage_answer(proc: RedisProcess, garbage: bytes) -> tuple[bytes, bool]:
    """What comes back for ``garbage`` within 1 s, and whether the server closed."""
    data = b""
    with socket.create_connection((proc.host, proc.port), timeout=1.0) as sock:
        sock.sendall(garbage)
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except TimeoutError:
            return data, False
    return data, True


def _info(proc: RedisProcess) -> dict[str, str]:
    (reply,) = raw_session(proc, [["INFO"]])
    assert isinstance(reply, BulkString)
    pairs = [line.split(":", 1) for line in reply.text.splitlines() if ":" in line]
    return {k: v for k, v in pairs}


def test_events_are_published_on_our_port(redis_lab: Lab) -> None:
    master = redis_lab.server("master")
    ours = start_lab_sentinel(redis_lab, master, quorum=1, down_after_ms=1000)
    with ours.client() as conn, conn.pubsub() as pubsub:
        pubsub.subscribe("+sdown")
        pubsub.psubscribe("*")
        assert conn.execute_command("SENTINEL", "SET", MASTER, "quorum", "1") in (True, "OK")
        master.kill()
        got: list[tuple[str, str]] = []

        def sdown_seen() -> bool:
            message = pubsub.get_message(timeout=0.2)
            if message is not None and message["type"] in ("message", "pmessage"):
                got.append((message["channel"], message["data"]))
            return ("+sdown", f"master {MASTER} {master.host} {master.port}") in got

        wait_until(sdown_seen, timeout_s=10, what="+sdown published on our port")
    assert ("+set", f"master {MASTER} {master.host} {master.port} quorum 1") in got
