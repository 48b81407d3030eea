"""(g) Bad input: wrong flags, a data folder of another cluster, garbage on the port and
malformed peer messages get clear errors, and never a crash or a traceback."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from labkit.realredis import Lab
from labkit.realredis.labraft import RaftCluster, start_raft_cluster
from redis_raft.cli import register
from redis_raft.codec import encode_message
from redis_raft.core.messages import Heartbeat
from redis_raft.storage import WriteAheadLog


def run_node(*args: str, timeout_s: float = 20.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "redis_raft", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


PEERS = "1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103"


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (
            ["--id", "1", "--port", "7101", "--peers", "1=127.0.0.1"],
            "'1=127.0.0.1' is not ID=HOST:PORT",
        ),
        (["--id", "4", "--port", "7101", "--peers", PEERS], "--id '4' is not in --peers"),
        (
            ["--id", "1", "--port", "7101", "--peers", PEERS + ",1=127.0.0.1:7109"],
            "node id '1' appears twice",
        ),
        (
            ["--id", "1", "--port", "7101", "--peers", "1=127.0.0.1:7101,2=127.0.0.1:7101"],
            "127.0.0.1:7101 is given for both '1' and '2'",
        ),
        (["--id", "1", "--port", "7105", "--peers", PEERS], "but --port is 7105"),
        (["--id", "1", "--port", "99999", "--peers", PEERS], "'99999' is not a TCP port"),
        (["--id", "1", "--port", "7101", "--peers", PEERS, "--fsync", "sometimes"], "'sometimes'"),
        (
            ["--id", "1", "--port", "7101", "--peers", PEERS, "--follower-mode", "forward"],
            "'forward' is not proxy or moved",
        ),
        (
            ["--id", "1", "--port", "7101", "--peers", PEERS, "--read-mode", "stale"],
            "'stale' is not readindex or lease",
        ),
        (
            ["--id", "1", "--port", "7101", "--peers", PEERS, "--data-server", "nohost"],
            "'nohost' is not 'auto' or HOST:PORT",
        ),
        (
            ["--id", "1", "--port", "7101", "--peers", PEERS, "--min-replicas-to-write", "-1"],
            "-1 must be >= 0",
        ),
    ],
)
def test_bad_flags_exit_2_naming_the_value(tmp_path: Path, flags: list[str], needle: str) -> None:
    done = run_node(*flags, "--dir", str(tmp_path / "d"))
    assert done.returncode == 2, done.stderr
    assert needle in done.stderr
    assert "Traceback" not in done.stderr


def test_dir_of_another_cluster_is_refused(tmp_path: Path) -> None:
    WriteAheadLog.open(tmp_path / "d", cluster_id="other", node_id="1").close()
    done = run_node("--id", "1", "--port", "7101", "--peers", PEERS, "--dir", str(tmp_path / "d"))
    assert done.returncode == 2
    assert "belongs to node '1' of cluster 'other'" in done.stderr
    assert "Traceback" not in done.stderr
    done = run_node("--id", "2", "--port", "7102", "--peers", PEERS, "--dir", str(tmp_path / "d"))
    assert done.returncode == 2 and "refusing to use it" in done.stderr


def test_redis_lab_raft_subcommand_has_the_same_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="redis-lab")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["raft", "--id", "9", "--port", "7101", "--peers", PEERS, "--dir", str(tmp_path)]
    )
    assert args.func(args) == 2
    assert "--id '9' is not in --peers" in capsys.readouterr().err


@pytest.fixture
def single(redis_lab: Lab) -> Iterator[RaftCluster]:
    raft = start_raft_cluster(redis_lab, 3)
    try:
        yield raft
    finally:
        raft.close()


@pytest.mark.realredis
def test_garbage_and_malformed_peer_messages(single: RaftCluster) -> None:
    node = single.nodes[0]
    single.leader()
    with socket.create_connection((node.host, node.port), timeout=5) as sock:
        sock.sendall(b"*abc\r\n")
        reply = sock.recv(1024)
        assert reply.startswith(b"-ERR Protocol error")
        assert sock.recv(1024) == b""  # closed after the reply
    with node.client(decode_responses=False) as conn:
        for payload, needle in [
            (b"", "cut short"),
            (b"\x09\x05", "unsupported message version 9"),
            (b"\x01\x63", "unknown message type 99"),
            (encode_message(Heartbeat(1, 1, 1)) + b"x", "trailing bytes"),
            (encode_message(Heartbeat(1, 1, 1))[:-3], "cut short"),
        ]:
            with pytest.raises(redis.exceptions.ResponseError, match=needle):
                conn.execute_command("RAFT.MSG", "2", payload)
        with pytest.raises(redis.exceptions.ResponseError, match="unknown node"):
            conn.execute_command("RAFT.MSG", "99", encode_message(Heartbeat(1, 1, 1)))
        with pytest.raises(redis.exceptions.ResponseError, match="wrong number of arguments"):
            conn.execute_command("RAFT.MSG", "2")
        with pytest.raises(redis.exceptions.ResponseError, match="unknown command"):
            conn.execute_command("NOSUCHCOMMAND", "x")
        with pytest.raises(redis.exceptions.ResponseError, match="not allowed"):
            conn.execute_command("BLPOP", "x", "0")
        assert conn.set("still", "alive")
        assert conn.get("still") == b"alive"
    assert all(n.running for n in single.nodes)
