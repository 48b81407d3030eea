"""Random message sequences never make the core raise."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.core import ClientRequest, Received
from redis_raft.core import (
    AddLearner,
    AppendEntries,
    AppendEntriesResponse,
    Config,
    Entry,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    PromoteLearner,
    RaftConfig,
    RaftCore,
    Read,
    RemoveNode,
    RequestVote,
    RequestVoteResponse,
    SnapshotMeta,
    TimeoutNow,
    TransferLeadership,
    Write,
)
from redis_raft.core.testing import SimRaftNode

PEERS = ("n1", "n2", "n3")
small = st.integers(0, 6)
terms = st.integers(0, 4)
data = st.one_of(st.none(), st.just(b"SET k v"), st.just(Config.of(["n1", "n2"])))
entries = st.lists(st.builds(Entry, small, terms, data), max_size=4).map(
    lambda es: tuple(Entry(i, e.term, e.data) for i, e in enumerate(es, start=1))
)
messages = st.one_of(
    st.builds(RequestVote, terms, small, terms, st.booleans(), st.booleans()),
    st.builds(RequestVoteResponse, terms, st.booleans(), st.booleans()),
    st.builds(
        lambda t, p, es, c: AppendEntries(
            t,
            p,
            t if p else 0,
            tuple(Entry(p + 1 + k, e.term, e.data) for k, e in enumerate(es)),
            c,
        ),
        terms,
        small,
        entries,
        small,
    ),
    st.builds(
        AppendEntriesResponse,
        terms,
        st.booleans(),
        small,
        small,
        small,
        st.one_of(st.none(), terms),
    ),
    st.builds(Heartbeat, terms, small, small),
    st.builds(HeartbeatResponse, terms, small, small),
    st.builds(
        lambda t, i: InstallSnapshot(t, SnapshotMeta(i, t, Config.of(list(PEERS))), b"{}"),
        terms,
        small,
    ),
    st.builds(InstallSnapshotResponse, terms, small),
    st.builds(TimeoutNow, terms),
)
requests = st.one_of(
    st.builds(Write, st.just(b"SET k v")),
    st.builds(Read, st.just(b"GET k")),
    st.builds(AddLearner, st.sampled_from(["n4", "n2"])),
    st.builds(PromoteLearner, st.sampled_from(["n4", "n3"])),
    st.builds(RemoveNode, st.sampled_from(PEERS)),
    st.builds(TransferLeadership, st.sampled_from(PEERS)),
)
events = st.one_of(
    st.tuples(st.just("msg"), st.sampled_from(["n2", "n3", "n4"]), messages),
    st.tuples(st.just("client"), st.just("c"), requests),
    st.tuples(st.just("tick"), st.just(""), st.integers(1, 400)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(events, max_size=40), st.sampled_from(["n1", "n2"]))
def test_random_inputs_never_raise(script: list[tuple[str, str, object]], name: str) -> None:
    node = SimRaftNode(
        RaftCore(
            name, PEERS, random.Random(3), RaftConfig(election_timeout_ms=100, heartbeat_ms=20)
        ),
        snapshot_every=3,
    )
    now = 0
    node.tick(now)
    for kind, who, payload in script:
        if kind == "tick":
            assert isinstance(payload, int)
            now += payload
            node.tick(now)
        elif kind == "msg":
            node.step(Received(who, payload), now)
        else:
            node.step(ClientRequest(who, payload), now)
        core = node.core
        assert core.applied <= core.commit <= core.log.last_index
        assert core.log.snap_index <= core.applied
