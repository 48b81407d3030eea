"""Command classification, expiry rewriting, the entry encoding and the node's flags."""

from __future__ import annotations

import argparse
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.errors import UsageError
from redis_raft.driver.commands import (
    NONDETERMINISTIC,
    READS,
    UNSUPPORTED,
    WRITES,
    RewriteError,
    classify,
    rewrite,
)
from redis_raft.driver.failpoints import Failpoints
from redis_raft.driver.options import add_arguments, options_from_args, parse_peers
from redis_raft.errors import RaftUsageError
from redis_raft.statemachine import EntryFormatError, decode_commands, encode_commands

NOW = 1_700_000_000_000


def args(text: str) -> list[bytes]:
    return [part.encode() for part in text.split()]


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        ("GET k", "read"),
        ("mget a b", "read"),
        ("LRANGE l 0 -1", "read"),
        ("SMEMBERS s", "read"),
        ("EXISTS k", "read"),
        ("TTL k", "read"),
        ("SET k v", "write"),
        ("incr c", "write"),
        ("SADD s 1", "write"),
        ("RPUSH l 1", "write"),
        ("EXPIRE k 10", "write"),
        ("EVAL return 0", "write"),
        ("XADD s 1-1 f v", "write"),
        ("SELECT 0", "read"),
        ("SPOP s", "refused"),
        ("srandmember s", "refused"),
        ("RANDOMKEY", "refused"),
        ("TIME", "refused"),
        ("HRANDFIELD h", "refused"),
        ("ZRANDMEMBER z", "refused"),
        ("XADD s * f v", "refused"),
        ("XADD s MAXLEN ~ 10 * f v", "refused"),
        ("BLPOP l 0", "refused"),
        ("EVALSHA abc 0", "refused"),
        ("SELECT 1", "refused"),
        ("SWAPDB 0 1", "refused"),
        ("NOSUCH x", "refused"),
    ],
)
def test_classify(command: str, kind: str) -> None:
    assert classify(args(command)).kind == kind


def test_refusal_texts() -> None:
    assert classify(args("SPOP s")).error == (
        "ERR spop is not allowed: its effect is not deterministic"
    )
    script = [b"EVAL", b"return redis.call('TIME')", b"0"]
    assert "not deterministic" in classify(script).error
    assert "blocking" in classify(args("BRPOP l 0")).error
    assert classify(args("NOSUCH a b")).error.startswith(
        "ERR unknown command 'nosuch', with args beginning with: 'a' 'b'"
    )


def test_tables_are_disjoint() -> None:
    assert not READS & WRITES
    assert not (READS | WRITES) & NONDETERMINISTIC
    assert not (READS | WRITES) & set(UNSUPPORTED)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("EXPIRE k 10", f"PEXPIREAT k {NOW + 10_000}"),
        ("expire k 10 NX", f"PEXPIREAT k {NOW + 10_000} NX"),
        ("PEXPIRE k 250", f"PEXPIREAT k {NOW + 250}"),
        ("EXPIRE k -5", f"PEXPIREAT k {NOW - 5000}"),
        ("SETEX k 3 v", f"SET k v PXAT {NOW + 3000}"),
        ("PSETEX k 30 v", f"SET k v PXAT {NOW + 30}"),
        ("SET k v EX 2", f"SET k v PXAT {NOW + 2000}"),
        ("SET k v NX px 7 GET", f"SET k v NX PXAT {NOW + 7} GET"),
        ("SET k ex EX 1", f"SET k ex PXAT {NOW + 1000}"),
        ("GETEX k EX 1", f"GETEX k PXAT {NOW + 1000}"),
        ("RESTORE k 100 payload", f"RESTORE k {NOW + 100} payload ABSTTL"),
        ("RESTORE k 0 payload", "RESTORE k 0 payload"),
        ("RESTORE k 5 payload ABSTTL", "RESTORE k 5 payload ABSTTL"),
        ("EXPIREAT k 5", "EXPIREAT k 5"),
        ("SET k v KEEPTTL", "SET k v KEEPTTL"),
        ("EXPIRE k abc", "EXPIRE k abc"),  # the backing server answers the error
        ("INCR k", "INCR k"),
    ],
)
def test_rewrite_relative_expiries(command: str, expected: str) -> None:
    assert rewrite(args(command), NOW) == args(expected)


@pytest.mark.parametrize(
    "command", ["SETEX k 0 v", "PSETEX k -1 v", "SET k v EX 0", "GETEX k PX -3"]
)
def test_rewrite_refuses_what_redis_refuses(command: str) -> None:
    with pytest.raises(RewriteError, match="invalid expire time"):
        rewrite(args(command), NOW)


commands_st = st.lists(
    st.lists(st.binary(max_size=20), min_size=1, max_size=4), min_size=1, max_size=4
)


@given(commands_st)
def test_entry_round_trip(commands: list[list[bytes]]) -> None:
    assert decode_commands(encode_commands(commands, transaction=True)) == (True, commands)
    one = commands[:1]
    assert decode_commands(encode_commands(one, transaction=False)) == (False, one)


@given(st.binary(max_size=60))
def test_entry_decoding_raises_only_the_typed_error(data: bytes) -> None:
    with contextlib.suppress(EntryFormatError):
        decode_commands(data)


def test_entry_errors() -> None:
    with pytest.raises(EntryFormatError):
        encode_commands([[b"GET", b"a"], [b"GET", b"b"]], transaction=False)
    with pytest.raises(EntryFormatError, match="unknown entry kind"):
        decode_commands(b"Xabc")
    with pytest.raises(EntryFormatError):
        decode_commands(b"C*2\r\n$3\r\nGET\r\n")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_options() -> None:
    peers = "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003"
    options = options_from_args(
        parse("--id", "2", "--port", "7002", "--peers", peers, "--dir", "/tmp/x")
    )
    assert options.voters == ["1", "2", "3"]
    assert options.address_of("3") == "127.0.0.1:7003"
    assert options.cluster_id == "raft-1,2,3"
    assert options.follower_mode == "proxy" and options.fsync == "always"
    assert parse_peers("a=h:1, b=h:2") == {"a": ("h", 1), "b": ("h", 2)}
    with pytest.raises(UsageError, match="empty"):
        parse_peers(" ")
    with pytest.raises(UsageError, match="must be below"):
        options_from_args(
            parse(
                "--id", "1", "--port", "7001", "--peers", peers, "--dir", "d", "--heartbeat", "2000"
            )
        )


def test_failpoints() -> None:
    off = Failpoints(None)
    with pytest.raises(RaftUsageError, match="only in tests"):
        off.arm("before-fsync")
    off.hit("before-fsync")  # nothing armed: nothing happens
    on = Failpoints("before-fsync@3")
    assert on.armed == {"before-fsync": 3}
    on.hit("before-fsync")
    assert on.armed == {"before-fsync": 2}
    with pytest.raises(RaftUsageError, match="unknown failpoint"):
        on.arm("nope")
