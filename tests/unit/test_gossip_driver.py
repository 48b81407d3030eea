"""The driver pieces of gossip_cluster: hash slots and key extraction, routing and its
error texts, INFO replication parsing, nodes.conf files, the command line."""

from __future__ import annotations

import random
from pathlib import Path
from typing import TypedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gossip_cluster.cli import build_parser, main, options_from_args
from gossip_cluster.core.table import ClusterNode, F
from gossip_cluster.dataplane import (
    CROSSSLOT,
    DOWN,
    UNBOUND,
    CommandSpec,
    CommandSpecs,
    crc16,
    key_hash_slot,
    parse_replication_info,
    route,
    slot_of_keys,
)
from gossip_cluster.driver import ConfigFileError, load_nodes_conf, write_nodes_conf
from gossip_cluster.nodes_conf import NodeLine, NodesConf
from gossip_cluster.wire import NodeFlag
from labkit.errors import UsageError
from labkit.realredis.lab import Lab
from labkit.resp.frames import Array, Integer, SimpleString, bulk


# -- hash slots ----------------------------------------------------------------------------------
def test_crc16_check_value() -> None:
    assert crc16(b"123456789") == 0x31C3  # CRC-16/XMODEM's check value
    assert crc16(b"") == 0


@pytest.mark.parametrize(
    ("key", "same_as"),
    [
        (b"{user1000}.following", b"user1000"),
        (b"{user1000}.followers", b"user1000"),
        (b"foo{}{bar}", b"foo{}{bar}"),  # an empty first tag: the whole key
        (b"foo{{bar}}zap", b"{bar"),
        (b"foo{bar}{zap}", b"bar"),
        (b"{", b"{"),
        (b"}{x", b"}{x"),
        (b"a{b}", b"b"),
    ],
)
def test_hash_tags(key: bytes, same_as: bytes) -> None:
    assert key_hash_slot(key) == crc16(same_as) & 16383


@given(st.binary(max_size=64))
def test_slot_in_range(key: bytes) -> None:
    assert 0 <= key_hash_slot(key) < 16384


@pytest.mark.realredis
def test_slots_match_a_real_node(redis_lab: Lab) -> None:
    node = redis_lab.cluster_node()
    rng = random.Random(7)
    keys = [b"", b"{}", b"{a}b", b"a{}b{c}", "ünïcode".encode(), b"\x00\xff{\x01}"]
    keys += [bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 20))) for _ in range(300)]
    keys += [b"k{" + bytes(rng.choice(b"ab{}") for _ in range(6)) for _ in range(100)]
    with node.client(decode_responses=False) as conn:
        pipe = conn.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command("CLUSTER", "KEYSLOT", key)
        real = pipe.execute()
    assert real == [key_hash_slot(k) for k in keys]


# -- keys of a command ---------------------------------------------------------------------------
def _entry(name: str, arity: int, flags: list[str], first: int, last: int, step: int) -> Array:
    return Array(
        (
            bulk(name),
            Integer(arity),
            Array(tuple(SimpleString(f.encode()) for f in flags)),
            Integer(first),
            Integer(last),
            Integer(step),
        )
    )


def test_specs_from_command_reply() -> None:
    config = _entry("config", -2, [], 0, 0, 0)
    config_get = _entry("config|get", -3, ["admin"], 0, 0, 0)
    config = Array((*config.items, Array(()), Array(()), Array(()), Array((config_get,))))
    reply = Array(
        (
            _entry("get", 2, ["readonly", "fast"], 1, 1, 1),
            _entry("mset", -3, ["write"], 1, -1, 2),
            _entry("del", -2, ["write"], 1, -1, 1),
            _entry("eval", -3, ["noscript", "movablekeys"], 0, 0, 0),
            config,
        )
    )
    specs = CommandSpecs.from_command_reply(reply)
    get = specs.lookup([b"GET", b"k"])
    assert get is not None and not get.write and get.keys([b"GET", b"k"]) == [b"k"]
    mset = specs.lookup([b"mset", b"a", b"1", b"b", b"2"])
    assert mset is not None and mset.write
    assert mset.keys([b"mset", b"a", b"1", b"b", b"2"]) == [b"a", b"b"]
    delete = specs.lookup([b"del", b"a", b"b", b"c"])
    assert delete is not None and delete.keys([b"del", b"a", b"b", b"c"]) == [b"a", b"b", b"c"]
    evaluated = specs.lookup([b"EVAL", b"s", b"0"])
    assert evaluated is not None and evaluated.movable
    sub = specs.lookup([b"CONFIG", b"GET", b"x"])
    assert sub is not None and sub.name == "config|get" and sub.keys([b"CONFIG", b"GET"]) == []
    assert specs.lookup([b"nosuch"]) is None


def test_key_range_is_cut_at_the_arguments() -> None:
    spec = CommandSpec("mset", -3, frozenset({"write"}), 1, -1, 2)
    assert spec.keys([b"mset", b"a"]) == [b"a"]  # the server will answer the arity error
    zero = CommandSpec("ping", -1, frozenset(), 0, 0, 0)
    assert zero.keys([b"ping", b"x"]) == []


# -- routing --------------------------------------------------------------------------------------
def _node(name: str, flags: int, *, slaveof: str | None = None, port: int = 7000) -> ClusterNode:
    return ClusterNode(name=name * 40, flags=flags, ip="10.0.0.1", port=port, slaveof=slaveof)


def test_routing() -> None:
    me = _node("a", F.MYSELF | F.MASTER)
    other = _node("b", F.MASTER, port=7001)
    assert route(5, me, me, cluster_ok=True, write=True, readonly_client=False) is None
    assert route(5, other, me, cluster_ok=True, write=False, readonly_client=False) == (
        "MOVED 5 10.0.0.1:7001"
    )
    assert route(5, None, me, cluster_ok=True, write=False, readonly_client=False) == UNBOUND
    assert route(5, me, me, cluster_ok=False, write=False, readonly_client=False) == DOWN
    assert UNBOUND == "CLUSTERDOWN Hash slot not served"
    assert DOWN == "CLUSTERDOWN The cluster is down"


def test_replica_serves_reads_only_after_readonly() -> None:
    master = _node("m", F.MASTER)
    me = _node("r", F.MYSELF | F.SLAVE, slaveof=master.name, port=7002)
    assert route(9, master, me, write=False, readonly_client=True, cluster_ok=True) is None
    assert (
        route(9, master, me, write=True, readonly_client=True, cluster_ok=True)
        == "MOVED 9 10.0.0.1:7000"
    )
    assert (
        route(9, master, me, write=False, readonly_client=False, cluster_ok=True)
        == "MOVED 9 10.0.0.1:7000"
    )
    elsewhere = _node("x", F.MASTER, port=7003)
    assert route(9, elsewhere, me, write=False, readonly_client=True, cluster_ok=True) == (
        "MOVED 9 10.0.0.1:7003"
    )


class _ShardRead(TypedDict):
    cluster_ok: bool
    write: bool
    readonly_client: bool
    pubsubshard: bool


_SHARD_READ = _ShardRead(cluster_ok=True, write=False, readonly_client=False, pubsubshard=True)


def test_replica_serves_sharded_pubsub_of_its_master_without_readonly() -> None:
    """getNodeByQuery's is_pubsubshard: SSUBSCRIBE/SPUBLISH stay on a replica of the owner."""
    master = _node("m", F.MASTER)
    me = _node("r", F.MYSELF | F.SLAVE, slaveof=master.name, port=7002)
    assert route(9, master, me, **_SHARD_READ) is None
    elsewhere = _node("x", F.MASTER, port=7003)
    assert route(9, elsewhere, me, **_SHARD_READ) == "MOVED 9 10.0.0.1:7003"


def test_slot_of_keys() -> None:
    me = _node("a", F.MYSELF | F.MASTER)
    slot = key_hash_slot(b"{t}x")
    assert slot_of_keys([b"{t}x", b"{t}y"], lambda s: me) == (slot, me)
    assert slot_of_keys([], lambda s: me) == (-1, None)
    assert slot_of_keys([b"a", b"b"], lambda s: me) == CROSSSLOT
    assert CROSSSLOT == "CROSSSLOT Keys in request don't hash to the same slot"
    # An unbound first slot is reported before the keys in other slots, as Redis does.
    assert slot_of_keys([b"a", b"b"], lambda s: None) == UNBOUND


# -- INFO replication -----------------------------------------------------------------------------
def test_replication_info_master() -> None:
    text = "# Replication\r\nrole:master\r\nconnected_slaves:1\r\nmaster_repl_offset:4242\r\n"
    assert parse_replication_info(text, 10_000) == (4242, True, 10_000)


def test_replication_info_replica() -> None:
    up = "role:slave\r\nmaster_link_status:up\r\nmaster_last_io_seconds_ago:2\r\nslave_repl_offset:77\r\n"
    assert parse_replication_info(up, 10_000) == (77, True, 8_000)
    down = "role:slave\r\nmaster_link_status:down\r\nmaster_link_down_since_seconds:5\r\nslave_repl_offset:7\r\n"
    assert parse_replication_info(down, 10_000) == (7, False, 5_000)
    never = "role:slave\r\nmaster_link_status:down\r\nmaster_link_down_since_seconds:-1\r\n"
    assert parse_replication_info(never, 10_000) == (0, False, 0)


# -- nodes.conf files ------------------------------------------------------------------------------
def test_nodes_conf_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "nodes.conf"
    assert load_nodes_conf(path) is None
    path.write_text("\n")
    assert load_nodes_conf(path) is None  # an empty file is a new node, as in Redis
    me = NodeLine("a" * 40, "127.0.0.1", 7000, 17000, NodeFlag.MYSELF | NodeFlag.MASTER)
    conf = NodesConf((me,), current_epoch=3, last_vote_epoch=2)
    write_nodes_conf(path, conf, sync=True)
    write_nodes_conf(path, conf, sync=False)
    assert load_nodes_conf(path) == conf
    assert [p.name for p in tmp_path.iterdir()] == ["nodes.conf"]  # no temporary left


def test_corrupt_nodes_conf(tmp_path: Path) -> None:
    path = tmp_path / "nodes.conf"
    path.write_text("this is not a nodes.conf\n")
    with pytest.raises(ConfigFileError, match="corrupted cluster config file"):
        load_nodes_conf(path)


# -- the command line ----------------------------------------------------------------------------
BASE = ["--port", "7000", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000"]


def _options(*extra: str) -> object:
    return options_from_args(build_parser().parse_args([*BASE, *extra]))


def test_defaults(tmp_path: Path) -> None:
    options = options_from_args(build_parser().parse_args([*BASE, "--dir", str(tmp_path)]))
    assert (options.port, options.cport, options.bind) == (7000, 17000, "127.0.0.1")
    assert options.data_server == "auto" and options.config_file == tmp_path / "nodes.conf"
    assert options.settings().cluster.node_timeout_ms == 1000


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--port", "0"], "--port: '0' is not a TCP port"),
        (["--port", "x"], "--port: 'x' is not a TCP port"),
        (["--port", "60000"], "the bus port 70000 is out of range"),
        (["--cluster-port", "99999"], "--cluster-port: '99999' is not a TCP port"),
        (["--cluster-port", "7000"], "--cluster-port 7000 is the client port too"),
        (["--cluster-node-timeout", "-5"], "--cluster-node-timeout: '-5'"),
        (["--bind", "nowhere"], "--bind: 'nowhere' is not an IP address"),
        (["--data-server", "redis"], "--data-server: 'redis' is not auto, none or HOST:PORT"),
        (["--data-server", "h:0"], "--data-server: '0' is not a TCP port"),
        (["--cluster-replica-validity-factor", "-1"], "'-1' is not an integer >= 0"),
        (["--cluster-require-full-coverage", "maybe"], "'maybe' is not yes or no"),
    ],
)
def test_bad_flags(extra: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        _options(*extra)


def test_main_exits_2_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE[:4], "--cluster-node-timeout", "soon"]) == 2
    err = capsys.readouterr().err
    assert "--cluster-node-timeout: 'soon'" in err and "Traceback" not in err


def test_main_refuses_a_corrupt_nodes_conf(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "nodes.conf").write_text("garbage\n")
    assert main([*BASE, "--dir", str(tmp_path), "--data-server", "none"]) == 2
    assert "corrupted cluster config file" in capsys.readouterr().err
