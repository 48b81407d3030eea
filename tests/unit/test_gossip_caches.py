"""The core's speed-ups change nothing: its caches (nodes.conf lines, gossip entries, the
name list) never go stale, and its inlined random picks are rng.choice's.

Seeded simulator runs with faults, restarts and failovers; every nodes.conf the core
saves and every gossip entry it sends is compared with one built afresh from the node
table at that moment.
"""

from __future__ import annotations

import random

import pytest

from gossip_cluster.core import cluster, gossip, persist
from gossip_cluster.core.context import Context
from gossip_cluster.core.gossip import build_ping
from gossip_cluster.core.quorum import gossip_wanted
from gossip_cluster.core.table import ClusterNode, NodeTable, wire_flags
from gossip_cluster.nodes_conf import NodesConf
from gossip_cluster.sim_scenario import run_gossip
from gossip_cluster.wire.constants import MessageType
from gossip_cluster.wire.messages import GossipEntry
from tests.unit.test_cluster_core_harness import World


def fresh_conf(ctx: Context, *, include_handshake: bool = False) -> NodesConf:
    table = ctx.table
    states = persist.slot_states(ctx)
    lines = tuple(
        persist.node_line(table, node, states if node is table.myself else ())
        for node in table.nodes.values()
        if include_handshake or not node.in_handshake
    )
    return NodesConf(lines, ctx.current_epoch, ctx.last_vote_epoch)


def fresh_entry(node: ClusterNode) -> GossipEntry:
    return GossipEntry(
        nodename=node.name,
        ping_sent=max(0, node.ping_sent // 1000),
        pong_received=max(0, node.pong_received // 1000),
        ip=node.ip,
        port=node.port,
        cport=node.cport,
        flags=wire_flags(node.flags),
        pport=node.pport,
    )


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_cached_lines_and_entries_match_fresh_ones(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = {"confs": 0, "entries": 0}
    cached_conf, cached_entry = persist.to_conf, gossip.gossip_entry

    def checked_conf(ctx: Context, *, include_handshake: bool = False) -> NodesConf:
        conf = cached_conf(ctx, include_handshake=include_handshake)
        assert conf == fresh_conf(ctx, include_handshake=include_handshake)
        counts["confs"] += 1
        return conf

    def checked_entry(node: ClusterNode) -> GossipEntry:
        entry = cached_entry(node)
        assert entry == fresh_entry(node)
        counts["entries"] += 1
        return entry

    monkeypatch.setattr(cluster, "to_conf", checked_conf)
    monkeypatch.setattr(gossip, "gossip_entry", checked_entry)
    result = run_gossip(seed, keep_trace=False)
    assert result.ok, result.failure
    assert counts["confs"] > 0 and counts["entries"] > 0


def test_name_list_follows_the_table() -> None:
    me = ClusterNode(name="a" * 40, flags=0)
    table = NodeTable(me)
    assert table.names() == ["a" * 40]
    other = ClusterNode(name="b" * 40, flags=0)
    table.add(other)
    assert table.names() == ["a" * 40, "b" * 40]
    table.rename(other, "c" * 40)
    assert table.names() == ["a" * 40, "c" * 40]
    table.delete(other)
    assert table.names() == ["a" * 40]


class _SubclassRandom(random.Random):
    """Not a plain Random: build_ping falls back to rng.choice."""


def test_inlined_random_picks_are_rng_choice() -> None:
    """build_ping's inlined pick draws exactly what rng.choice would (same seed, same
    gossip), so the speed-up changes no run."""
    world, _topo = World.formed(40, [1] * 40)
    world.run(1500)
    core = next(iter(world.cores.values()))
    ctx = core.ctx
    pings = []
    for rng in (random.Random(5), _SubclassRandom(5)):
        ctx.rng = rng
        pings.append([build_ping(ctx, MessageType.PING).gossip for _ in range(50)])
    assert pings[0] == pings[1]
    assert all(len(gossip) == gossip_wanted(len(ctx.table)) for gossip in pings[0])
