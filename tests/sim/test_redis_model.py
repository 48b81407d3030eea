"""The Redis simulation model: roles, SLAVEOF, INFO replication, pub/sub, keys, locks."""

from __future__ import annotations

import random
import re

import pytest

from labkit.sim.redis_fleet import RedisFleet
from labkit.sim.redis_model import RedisError, RedisModel, resp_size

M, R1, R2 = "127.0.10.1:6379", "127.0.10.2:6379", "127.0.10.3:6380"


def fleet() -> RedisFleet:
    servers = RedisFleet(random.Random(1))
    servers.add("127.0.10.1", 6379)
    servers.add("127.0.10.2", 6379)
    servers.add("127.0.10.3", 6380)
    return servers


def run(
    servers: RedisFleet, name: str, *args: str | int, now: int = 0, client: str = "t"
) -> object:
    return servers.execute(name, args, client=client, now_ms=now)


def info(servers: RedisFleet, name: str, now: int = 0) -> dict[str, str]:
    text = run(servers, name, "INFO", "replication", now=now)
    assert isinstance(text, bytes)
    lines = text.decode().split("\r\n")
    assert lines[0] == "# Replication"
    return dict(line.split(":", 1) for line in lines[1:] if line)


def replicated() -> RedisFleet:
    servers = fleet()
    assert run(servers, R1, "SLAVEOF", "127.0.10.1", 6379) == "OK"
    assert run(servers, R2, "REPLICAOF", "127.0.10.1", "6379") == "OK"
    servers.replicate(0)
    return servers


def test_master_info_lists_online_replicas() -> None:
    servers = replicated()
    run(servers, M, "SET", "k", "v", now=1000)
    servers.replicate(1000)
    fields = info(servers, M, now=3500)
    assert fields["role"] == "master"
    assert fields["connected_slaves"] == "2"
    offset = resp_size([b"SET", b"k", b"v"])
    assert fields["master_repl_offset"] == str(offset)
    assert fields["slave0"] == f"ip=127.0.10.2,port=6379,state=online,offset={offset},lag=2"
    assert fields["slave1"] == f"ip=127.0.10.3,port=6380,state=online,offset={offset},lag=2"
    assert re.fullmatch(r"[0-9a-f]{40}", fields["master_replid"])


def test_replica_info_has_link_fields() -> None:
    servers = replicated()
    fields = info(servers, R1, now=2000)
    assert fields["role"] == "slave"
    assert (fields["master_host"], fields["master_port"]) == ("127.0.10.1", "6379")
    assert fields["master_link_status"] == "up"
    assert fields["master_last_io_seconds_ago"] == "2"
    assert fields["slave_repl_offset"] == fields["master_repl_offset"] == "0"
    assert fields["slave_priority"] == "100" and fields["connected_slaves"] == "0"
    assert "master_link_down_since_seconds" not in fields


def test_slaveof_records_master_before_link_comes_up() -> None:
    servers = fleet()
    run(servers, R1, "SLAVEOF", "127.0.10.1", "6379", now=500)
    fields = info(servers, R1, now=2500)
    assert fields["role"] == "slave" and fields["master_link_status"] == "down"
    assert fields["master_link_down_since_seconds"] == "2"
    # as in Redis, naming the same master again is answered so, link up or not
    assert run(servers, R1, "SLAVEOF", "127.0.10.1", "6379") == (
        "OK Already connected to specified master"
    )
    servers.replicate(3000)
    assert info(servers, R1, now=3000)["master_link_status"] == "up"


def test_writes_stream_to_replicas_and_replicas_are_read_only() -> None:
    servers = replicated()
    assert run(servers, M, "SET", "k", "1") == "OK"
    assert run(servers, M, "INCR", "k") == 2
    servers.replicate(10)
    assert run(servers, R1, "GET", "k") == b"2"
    assert info(servers, R1)["slave_repl_offset"] == info(servers, M)["master_repl_offset"]
    assert run(servers, R1, "SET", "k", "x") == RedisError(
        "READONLY You can't write against a read only replica."
    )


def test_slaveof_no_one_promotes_and_shifts_replication_ids() -> None:
    servers = replicated()
    run(servers, M, "SET", "k", "1")
    servers.replicate(10)
    before = info(servers, R1)
    assert run(servers, R1, "SLAVEOF", "NO", "ONE") == "OK"
    after = info(servers, R1)
    assert after["role"] == "master" and "master_host" not in after
    assert after["master_replid2"] == before["master_replid"]
    assert after["master_replid"] != before["master_replid"]
    assert after["second_repl_offset"] == str(int(before["master_repl_offset"]) + 1)
    assert run(servers, R1, "SET", "k", "2") == "OK"
    # the old master follows the new one: full sync, it sees the new data
    run(servers, M, "SLAVEOF", "127.0.10.2", "6379")
    run(servers, R2, "SLAVEOF", "127.0.10.2", "6379")
    servers.replicate(20)
    assert run(servers, M, "GET", "k") == b"2"
    assert info(servers, R1)["connected_slaves"] == "2"
    assert info(servers, M)["role"] == "slave"


def test_master_forgets_replicas_that_follow_someone_else() -> None:
    servers = replicated()
    run(servers, R2, "SLAVEOF", "NO", "ONE")
    servers.replicate(10)
    fields = info(servers, M)
    assert fields["connected_slaves"] == "1" and "slave1" not in fields


def test_link_goes_down_after_repl_timeout_when_unreachable() -> None:
    servers = replicated()

    def cut(a: str, b: str) -> bool:
        return M not in (a, b)

    servers.replicate(30_000, cut)
    assert info(servers, R1, now=30_000)["master_link_status"] == "up"
    servers.replicate(61_000, cut)
    fields = info(servers, R1, now=61_000)
    assert fields["master_link_status"] == "down"
    assert info(servers, M, now=61_000)["connected_slaves"] == "0"
    servers.replicate(62_000)
    assert info(servers, R1, now=62_000)["master_link_status"] == "up"


def test_pubsub_routes_to_subscribers_and_replicas() -> None:
    servers = replicated()
    assert run(servers, M, "SUBSCRIBE", "hello", client="s1") == [b"subscribe", b"hello", 1]
    run(servers, M, "SUBSCRIBE", "hello", "other", client="s2")
    run(servers, R1, "SUBSCRIBE", "hello", client="s3")
    assert run(servers, M, "PUBLISH", "hello", "hi") == 2
    assert [(p.client, p.channel, p.message) for p in servers[M].take_outbox()] == [
        ("s1", b"hello", b"hi"),
        ("s2", b"hello", b"hi"),
    ]
    assert servers[M].take_outbox() == []
    servers.replicate(10)  # PUBLISH is propagated to replicas
    assert [(p.server, p.client) for p in servers[R1].take_outbox()] == [(R1, "s3")]
    assert run(servers, M, "UNSUBSCRIBE", "hello", client="s1") == [b"unsubscribe", b"hello", 0]
    assert run(servers, M, "PUBLISH", "hello", "again") == 1
    assert run(servers, M, "PUBLISH", "nobody", "x") == 0


def test_set_nx_px_is_a_lock_that_expires() -> None:
    servers = fleet()
    assert run(servers, M, "SET", "lock", "a", "NX", "PX", 1000, now=0) == "OK"
    assert run(servers, M, "SET", "lock", "b", "NX", "PX", 1000, now=500) is None
    assert run(servers, M, "PTTL", "lock", now=500) == 500
    assert run(servers, M, "GET", "lock", now=999) == b"a"
    assert run(servers, M, "SET", "lock", "b", "NX", "PX", 1000, now=1000) == "OK"
    assert run(servers, M, "SET", "missing", "x", "XX") is None
    assert run(servers, M, "DEL", "lock", "missing", now=1000) == 1
    assert run(servers, M, "EXISTS", "lock") == 0
    assert run(servers, M, "PTTL", "lock") == -2


def test_expiry_is_propagated_as_absolute_time() -> None:
    servers = replicated()
    run(servers, M, "SET", "k", "v", "EX", 2, now=1000)
    servers.replicate(1000)
    assert run(servers, R1, "PTTL", "k", now=1500) == 1500
    assert run(servers, R1, "GET", "k", now=3000) is None


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("NOPE",), "ERR unknown command 'NOPE', with args beginning with: "),
        (("GET",), "ERR wrong number of arguments for 'get' command"),
        (("SET", "k", "v", "NX", "XX"), "ERR syntax error"),
        (("SET", "k", "v", "PX", "soon"), "ERR value is not an integer or out of range"),
        (("SET", "k", "v", "PX", "0"), "ERR invalid expire time in 'set' command"),
        (("SLAVEOF", "h", "port"), "ERR Invalid master port"),
    ],
)
def test_error_replies(args: tuple[str, ...], error: str) -> None:
    assert run(fleet(), M, *args) == RedisError(error)


def test_incr_on_text_and_empty_command() -> None:
    servers = fleet()
    run(servers, M, "SET", "k", "text")
    assert run(servers, M, "INCR", "k") == RedisError("ERR value is not an integer or out of range")
    assert servers[M].execute((), client="t", now_ms=0) == RedisError("ERR empty command")


def test_role_and_info_server() -> None:
    servers = replicated()
    assert run(servers, M, "ROLE") == [
        b"master",
        0,
        [[b"127.0.10.2", b"6379", b"0"], [b"127.0.10.3", b"6380", b"0"]],
    ]
    assert run(servers, R1, "ROLE") == [b"slave", b"127.0.10.1", 6379, b"connected", 0]
    text = run(servers, M, "INFO")
    assert isinstance(text, bytes) and b"run_id:" in text and b"# Replication" in text
    assert run(servers, M, "PING") == "PONG"


def test_resp_size_counts_bytes() -> None:
    assert resp_size([b"SET", b"k", b"v"]) == len(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")


def test_create_draws_ids_from_rng() -> None:
    a = RedisModel.create("h", 1, random.Random(5))
    b = RedisModel.create("h", 1, random.Random(5))
    assert (a.run_id, a.replid) == (b.run_id, b.replid) and a.run_id != a.replid
