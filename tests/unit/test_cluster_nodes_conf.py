"""nodes.conf render/parse, checked against files written by a real Redis 7.0 cluster."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gossip_cluster.nodes_conf import (
    NodeLine,
    NodesConf,
    NodesConfError,
    parse_flags,
    parse_line,
    parse_nodes_conf,
    render_flags,
    render_line,
    render_nodes_conf,
)
from gossip_cluster.wire.constants import NodeFlag
from labkit.realredis.lab import Lab

F = NodeFlag
A, B = "a" * 40, "0123456789abcdef0123456789abcdef01234567"
SAMPLE = f"""\
{A} 127.0.0.1:30001@40001 myself,master - 0 1700000000000 1 connected 0-5460
{B} 127.0.0.1:30004@40004,host-b.example slave,fail? {A} 1700000000100 1700000000000 1 disconnected
vars currentEpoch 6 lastVoteEpoch 3
"""


def test_sample_round_trips() -> None:
    conf = parse_nodes_conf(SAMPLE)
    assert conf.current_epoch == 6 and conf.last_vote_epoch == 3
    me, other = conf.nodes
    assert conf.myself == me
    assert me.flags == F.MYSELF | F.MASTER and me.slots == ((0, 5460),) and me.cport == 40001
    assert other.master == A and other.hostname == "host-b.example" and not other.connected
    assert other.flags == F.SLAVE | F.PFAIL and other.ping_sent_ms == 1700000000100
    assert render_nodes_conf(conf) == SAMPLE


def test_flag_order_and_noflags() -> None:
    everything = F.NOFAILOVER | F.FAIL | F.MYSELF | F.SLAVE | F.MEET | F.MIGRATE_TO
    assert render_flags(everything) == "myself,slave,fail,nofailover"
    assert render_flags(F(0)) == "noflags" and parse_flags("noflags") == F(0)
    with pytest.raises(NodesConfError, match="unknown flag"):
        parse_flags("master,bogus")


def test_old_format_without_bus_port_and_slot_states() -> None:
    line = parse_line(
        f"{A} 10.0.0.1:7000 myself,master - 0 0 0 connected 5 10-12 [13->-{B}] [14-<-{B}]"
    )
    assert line.cport == 17000 and line.slots == ((5, 5), (10, 12))
    assert line.slot_states == (f"[13->-{B}]", f"[14-<-{B}]")
    assert render_line(line).endswith(f"5 10-12 [13->-{B}] [14-<-{B}]")


@pytest.mark.parametrize(
    "text",
    [
        f"{A} 10.0.0.1:7000@17000 master - 0 0",  # too few fields
        f"{'A' * 40} 10.0.0.1:7000@17000 master - 0 0 0 connected",  # bad id
        f"{A} 10.0.0.1 master - 0 0 0 connected",  # no port
        f"{A} 10.0.0.1:7000@17000 master - 0 0 0 connected 16384",  # slot out of range
        f"{A} 10.0.0.1:7000@17000 master - x 0 0 connected",  # bad number
        f"{A} 10.0.0.1:7000@17000 master - 0 0 0 connected [5->-short]",
    ],
)
def test_malformed_lines_are_refused(text: str) -> None:
    with pytest.raises(NodesConfError):
        parse_line(text)


def test_file_needs_exactly_one_myself_and_odd_vars() -> None:
    with pytest.raises(NodesConfError, match="myself"):
        parse_nodes_conf(f"{A} 10.0.0.1:7000@17000 master - 0 0 0 connected\n")
    with pytest.raises(NodesConfError, match="vars"):
        parse_nodes_conf(SAMPLE + "vars currentEpoch\n")
    assert parse_nodes_conf("\n" + SAMPLE + "\nvars unknownVar 1\n").current_epoch == 6


names = st.text("0123456789abcdefghijklmnopqrstuvwxyz", min_size=40, max_size=40)
lines = st.builds(
    NodeLine,
    name=names,
    ip=st.sampled_from(["127.0.0.1", "10.1.2.3", "::1", "fe80::1"]),
    port=st.integers(1, 65535),
    cport=st.integers(1, 65535),
    flags=st.integers(0, 1023).map(lambda v: NodeFlag(v) & ~(F.MEET | F.MIGRATE_TO)),
    master=st.one_of(st.none(), names),
    ping_sent_ms=st.integers(0, 2**50),
    pong_received_ms=st.integers(0, 2**50),
    config_epoch=st.integers(0, 2**64 - 1),
    connected=st.booleans(),
    slots=st.lists(st.tuples(st.integers(0, 16383), st.integers(0, 16383)), max_size=4).map(
        lambda pairs: tuple(sorted((min(a, b), max(a, b)) for a, b in pairs))
    ),
    hostname=st.sampled_from(["", "h1", "node.example.com"]),
)


@given(st.lists(lines, min_size=1, max_size=4), st.integers(0, 2**40), st.integers(0, 2**40))
def test_render_parse_round_trip(nodes: list[NodeLine], current: int, last_vote: int) -> None:
    nodes[0] = dataclasses.replace(nodes[0], flags=nodes[0].flags | F.MYSELF)
    nodes[1:] = [dataclasses.replace(n, flags=n.flags & ~F.MYSELF) for n in nodes[1:]]
    conf = NodesConf(tuple(nodes), current, last_vote)
    assert parse_nodes_conf(render_nodes_conf(conf)) == conf


@pytest.mark.realredis
@pytest.mark.slow
def test_real_nodes_conf_and_cluster_nodes_parse_and_render_back(redis_lab: Lab) -> None:
    cluster = redis_lab.cluster(3, 1, node_timeout_ms=2000)
    for node in cluster.nodes:
        text = (node.workdir / "nodes.conf").read_text()
        conf = parse_nodes_conf(text)
        assert render_nodes_conf(conf) == text
        assert conf.current_epoch >= 1 and len(conf.nodes) == 6
        myself = conf.myself
        assert myself is not None and myself.port == node.port
        with node.client() as client:
            listing = client.execute_command("CLUSTER", "NODES")
        listing = listing if isinstance(listing, str) else str(listing)
        live = [parse_line(line) for line in listing.splitlines() if line.strip()]
        assert "\n".join(render_line(line) for line in live) == listing.strip("\n")
        assert {n.name for n in live} == {n.name for n in conf.nodes}
        owners = [n for n in live if n.slots]
        assert len(owners) == 3 and sum(b - a + 1 for n in owners for a, b in n.slots) == 16384
