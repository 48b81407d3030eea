"""Fuzz the cluster core with random wire messages and commands: it never raises."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gossip_cluster.core import ClusterCommand, ClusterCore, LinkDown, ReplicationInfo
from gossip_cluster.sim_scenario import build_topology
from gossip_cluster.wire.constants import MessageFlag, NodeFlag
from gossip_cluster.wire.messages import (
    Fail,
    FailoverAuthAck,
    FailoverAuthRequest,
    GossipEntry,
    Header,
    HostnameExt,
    Meet,
    MfStart,
    Ping,
    Pong,
    Publish,
    UnknownExt,
    Update,
)
from gossip_cluster.wire.slots import SlotBitmap
from labkit.core import ClientRequest, Received
from tests.unit.test_cluster_core_harness import formed

TOPO = build_topology(random.Random(11), 3, [1, 1, 0])
NAMES = list(TOPO.names)
ENDPOINTS = list(TOPO.endpoints)

names = st.one_of(
    st.sampled_from(NAMES),
    st.text("0123456789abcdef", min_size=40, max_size=40),
    st.text(max_size=41),
)
epochs = st.integers(0, 2**64 - 1)
small_epochs = st.integers(0, 12)
slots = st.one_of(
    st.just(SlotBitmap()),
    st.just(SlotBitmap.full()),
    st.lists(st.integers(0, 16383), max_size=5).map(SlotBitmap.of),
    st.sampled_from([SlotBitmap.from_ranges([(0, 5460)]), SlotBitmap.from_ranges([(5461, 10922)])]),
)
flags = st.integers(0, 0xFFFF).map(NodeFlag)
headers = st.builds(
    Header,
    sender=names,
    port=st.integers(0, 65535),
    current_epoch=st.one_of(small_epochs, epochs),
    config_epoch=st.one_of(small_epochs, epochs),
    offset=st.integers(0, 2**63),
    myslots=slots,
    slaveof=st.one_of(st.none(), names),
    myip=st.sampled_from(["", "10.0.0.1", "::1", "junk"]),
    pport=st.integers(0, 65535),
    cport=st.integers(0, 65535),
    flags=flags,
    state=st.integers(0, 1),
    mflags=st.integers(0, 7).map(MessageFlag),
)
entries = st.builds(
    GossipEntry,
    nodename=names,
    ping_sent=st.integers(0, 2**32 - 1),
    pong_received=st.integers(0, 2**32 - 1),
    ip=st.sampled_from(["", "10.0.0.1", "10.0.0.2", "1.2.3.4"]),
    port=st.integers(0, 65535),
    cport=st.integers(0, 65535),
    flags=flags,
    pport=st.integers(0, 65535),
)
extensions = st.lists(
    st.one_of(
        st.builds(HostnameExt, st.text(max_size=10)),
        st.builds(UnknownExt, st.integers(4, 9), st.just(b"")),
    ),
    max_size=2,
).map(tuple)
pings = st.one_of(
    *(
        st.builds(kind, headers, st.lists(entries, max_size=4).map(tuple), extensions)
        for kind in (Ping, Pong, Meet)
    )
)
messages = st.one_of(
    pings,
    st.builds(Fail, headers, names),
    st.builds(FailoverAuthRequest, headers),
    st.builds(FailoverAuthAck, headers),
    st.builds(MfStart, headers),
    st.builds(Update, headers, epochs, names, slots),
    st.builds(Publish, headers, st.just(b"c"), st.just(b"m")),
)
links = st.one_of(
    st.sampled_from(ENDPOINTS),
    st.sampled_from([f"in:{ep}@10.0.0.1" for ep in ENDPOINTS]),
    st.sampled_from(["in:", "in:x", "", "weird", "in:1.2.3.4:5@"]),
)
commands = st.lists(
    st.sampled_from(
        [
            "MEET",
            "10.0.0.9",
            "7000",
            "FAILOVER",
            "FORCE",
            "TAKEOVER",
            "ADDSLOTSRANGE",
            "0",
            "5",
            "REPLICATE",
            NAMES[0],
            "SET-CONFIG-EPOCH",
            "NODES",
            "-1",
            "x",
        ]
    ),
    max_size=4,
).map(tuple)
inputs = st.one_of(
    st.builds(Received, links, messages),
    st.builds(LinkDown, links),
    st.builds(ReplicationInfo, st.integers(0, 10**6), st.booleans(), st.integers(0, 10**6)),
    st.builds(lambda args: ClientRequest("c", ClusterCommand(args)), commands),
    st.builds(
        lambda obj: ClientRequest("c", obj),
        st.one_of(st.none(), st.integers(), st.text(max_size=3)),
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, len(ENDPOINTS) - 1),
    st.lists(st.tuples(inputs, st.integers(0, 3000)), max_size=25),
)
def test_core_never_raises_on_random_inputs(which: int, script: list[tuple[object, int]]) -> None:
    core: ClusterCore = formed(TOPO)[ENDPOINTS[which]]
    now = 0
    for event, gap in script:
        now += gap
        core.step(event, now)  # type: ignore[arg-type]
        if gap % 2:
            core.tick(now)
    core.nodes_conf()
    assert core.durable_state()
