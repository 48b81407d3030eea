"""The simulator's world: delivery, storage across crashes, partitions, clients, Redis."""

from __future__ import annotations

import random

import pytest

from labkit.core import RedisPush, RedisReply, TornRecord
from labkit.sim import (
    ConnectionRefused,
    Crash,
    Heal,
    InvariantViolation,
    LinkConfig,
    LivenessFailure,
    Partition,
    Restart,
    ScheduledFault,
    SimError,
    Simulator,
)
from labkit.sim.world import CoreFactory
from tests.sim.cores import Ask, Put, Recorder, Tell


def make(name: str) -> CoreFactory:
    def factory(rng: random.Random) -> Recorder:
        return Recorder(name, rng)

    return factory


def world(seed: int = 1, **kwargs: object) -> Simulator:
    sim = Simulator(seed, link=LinkConfig(delay_ms_min=1, delay_ms_max=5), **kwargs)  # type: ignore[arg-type]
    for name in ("a", "b", "c"):
        sim.add_node(name, make(name))
    return sim


def is_up(sim: Simulator, name: str) -> bool:
    return sim.nodes[name].up


def recorder(sim: Simulator, name: str) -> Recorder:
    core = sim.nodes[name].core
    assert isinstance(core, Recorder)
    return core


def test_send_is_delivered_as_received_and_emits() -> None:
    sim = world()
    sim.request("a", Tell("b", "hello"))
    sim.run_for(50)
    assert recorder(sim, "b").received == [("a", "hello")]
    assert [r.value for r in sim.replies] == ["sent"]
    assert [(e.node, e.event.name) for e in sim.emitted] == [("b", "+got")]
    assert sim.nodes["a"].applied == []


def test_ticks_run_at_the_interval() -> None:
    sim = Simulator(3, tick_interval_ms=10)
    sim.add_node("a", lambda rng: Recorder("a", rng))
    sim.run_until(1000)
    assert recorder(sim, "a").ticks in (100, 101)


def test_crash_loses_unsynced_storage_and_restart_restores_synced() -> None:
    sim = world(tear_probability=0.0)
    sim.request("a", Put("one", sync=True))
    sim.request("a", Put("two", sync=False))
    sim.run_for(10)
    assert sim.nodes["a"].storage.records == ("one", "two")
    assert sim.nodes["a"].applied == ["one", "two"]
    sim.crash("a")
    assert not is_up(sim, "a")
    sim.run_for(10)
    sim.restart("a")
    assert recorder(sim, "a").restored == ("one",)
    assert recorder(sim, "a").received == []  # volatile state is gone


def test_a_later_sync_makes_earlier_unsynced_writes_durable() -> None:
    sim = world(tear_probability=0.0)
    sim.request("a", Put("one", sync=False))
    sim.request("a", Put("two", sync=True))
    sim.run_for(10)
    sim.crash("a")
    sim.restart("a")
    assert recorder(sim, "a").restored == ("one", "two")


def test_torn_tail_is_truncated_or_passed_through() -> None:
    for keep in (False, True):
        sim = world(tear_probability=1.0, pass_torn_records=keep)
        sim.request("a", Put("one"))
        sim.request("a", Put("two", sync=False))
        sim.run_for(10)
        sim.crash("a")
        sim.restart("a")
        expected = ("one", TornRecord("two")) if keep else ("one",)
        assert recorder(sim, "a").restored == expected
        assert sim.nodes["a"].storage.stats.torn == 1


def test_mid_step_crash_cuts_the_action_list() -> None:
    cuts: list[int] = []
    for seed in range(1, 40):
        sim = world(seed, tear_probability=0.0)
        sim.crash("a", mid_step=True)
        sim.request("a", Put("x"))  # Persist, Apply, Reply
        sim.run_for(10)
        assert not is_up(sim, "a")
        [crash] = sim.trace.of_kind("crash")
        assert isinstance(crash.payload, str) and crash.payload.endswith("of 3 actions")
        done = int(crash.payload.split()[3])
        cuts.append(done)
        # the persist came first: it is durable exactly when the cut fell after it
        assert sim.nodes["a"].storage.records == (("x",) if done >= 1 else ())
        assert len(sim.replies) == (1 if done == 3 else 0)
        assert sim.nodes["a"].applied == (["x"] if done >= 2 else [])
    assert sorted(set(cuts)) == [0, 1, 2, 3]


def test_partition_blocks_and_heal_restores() -> None:
    sim = world()
    sim.apply_fault(Partition((("a",), ("b", "c"))))
    sim.request("a", Tell("b", "lost"))
    sim.request("c", Tell("b", "same-side"))
    sim.run_for(50)
    assert recorder(sim, "b").received == [("c", "same-side")]
    sim.apply_fault(Heal())
    sim.request("a", Tell("b", "after-heal"))
    sim.run_for(50)
    assert recorder(sim, "b").received[-1] == ("a", "after-heal")


def test_one_way_cut_blocks_one_direction() -> None:
    sim = world()
    sim.network.cut("a", "b")
    sim.request("a", Tell("b", "a->b"))
    sim.request("b", Tell("a", "b->a"))
    sim.run_for(50)
    assert recorder(sim, "b").received == []
    assert recorder(sim, "a").received == [("b", "b->a")]


def test_partition_drops_messages_in_flight() -> None:
    sim = Simulator(1, link=LinkConfig(delay_ms_min=20, delay_ms_max=20))
    for name in ("a", "b"):
        sim.add_node(name, make(name))
    sim.request("a", Tell("b", "in-flight"))
    sim.run_for(5)
    sim.network.cut("a", "b")
    sim.run_for(50)
    assert recorder(sim, "b").received == []
    assert sim.network.stats.blocked_in_flight == 1


def test_requests_to_a_down_node_are_refused() -> None:
    sim = world()
    sim.crash("b")
    sim.request("b", Put("x"), client="c1")
    sim.run_for(5)
    assert sim.replies_to("c1")[0].value == ConnectionRefused("b")


def test_fault_schedule_crashes_and_restarts() -> None:
    sim = world()
    sim.request("a", Put("kept"))
    sim.schedule([ScheduledFault(100, Crash("a")), ScheduledFault(200, Restart("a"))])
    sim.run_until(150)
    assert not is_up(sim, "a")
    sim.run_until(250)
    assert is_up(sim, "a") and sim.nodes["a"].incarnation == 3
    assert recorder(sim, "a").restored == ("kept",)
    kinds = [e.kind for e in sim.trace if e.kind in ("start", "crash", "restart")]
    assert kinds == ["start", "start", "start", "crash", "restart"]


def test_compaction_replaces_the_log_with_durable_state() -> None:
    sim = world(compact_every_records=2)
    for value in ("1", "2", "3", "4", "5"):
        sim.request("a", Put(value))
    sim.run_for(10)
    assert sim.nodes["a"].storage.records == ("1", "2", "3", "4", "5")
    # the log is compacted each time two records were appended since the last time
    assert [e.payload for e in sim.trace.of_kind("compact")] == [2, 4]


def test_invariant_violation_names_seed_time_and_replay() -> None:
    sim = world(seed=4242)

    def never_b(s: Simulator) -> str | None:
        step = s.last_step
        got = step is not None and step.node == "b" and step.input is not None
        return "b got a message" if got else None

    sim.add_invariant("b-is-silent", never_b)
    sim.request("a", Tell("b", "boom"), at_ms=30)
    with pytest.raises(InvariantViolation) as info:
        sim.run_for(100)
    text = str(info.value)
    assert "seed 4242" in text and "pytest --seed 4242" in text and "b-is-silent" in text
    assert info.value.seed == 4242 and 30 < info.value.time_ms < 40


def test_assertion_in_invariant_is_a_violation() -> None:
    sim = world()

    def check(s: Simulator) -> None:
        assert s.now_ms < 20, "too late"

    sim.add_invariant("early", check)
    with pytest.raises(InvariantViolation, match="too late"):
        sim.run_for(100)


def test_run_until_true_raises_liveness_failure() -> None:
    sim = world(seed=9)
    with pytest.raises(LivenessFailure, match="seed 9"):
        sim.run_until_true(lambda s: False, deadline_ms=100, what="never")
    assert sim.now_ms == 100


def test_redis_commands_round_trip_and_pubsub_reaches_cores() -> None:
    sim = world()
    server = sim.add_redis("127.0.10.1", 6379)
    sim.request("a", Ask(server, ("SUBSCRIBE", "hello")))
    sim.request("b", Ask(server, ("PUBLISH", "hello", "hi")), at_ms=20)
    sim.request("c", Ask(server, ("SET", "k", "v")), at_ms=40)
    sim.run_for(100)
    a_inputs = recorder(sim, "a").redis_inputs
    assert a_inputs[0] == RedisReply(server, ("SUBSCRIBE", "hello"), [b"subscribe", b"hello", 1])
    assert a_inputs[1] == RedisPush(server, b"hello", b"hi")
    assert recorder(sim, "b").redis_inputs == [RedisReply(server, ("PUBLISH", "hello", "hi"), 1)]
    assert recorder(sim, "c").redis_inputs == [RedisReply(server, ("SET", "k", "v"), "OK")]


def test_redis_replication_follows_partitions() -> None:
    sim = world()
    master = sim.add_redis("127.0.10.1", 6379)
    replica = sim.add_redis("127.0.10.2", 6379)
    sim.redis.execute(replica, ("SLAVEOF", "127.0.10.1", "6379"), client="t", now_ms=0)
    sim.run_for(50)
    assert sim.redis[replica].master_link_up
    sim.redis.execute(master, ("SET", "k", "1"), client="t", now_ms=sim.now_ms)
    sim.run_for(50)
    assert sim.redis.execute(replica, ("GET", "k"), client="t", now_ms=sim.now_ms) == b"1"
    sim.network.cut_both(master, replica)
    sim.redis.execute(master, ("SET", "k", "2"), client="t", now_ms=sim.now_ms)
    sim.run_for(50)
    assert sim.redis.execute(replica, ("GET", "k"), client="t", now_ms=sim.now_ms) == b"1"


def test_unknown_redis_target_and_bad_schedule_raise_sim_errors() -> None:
    sim = world()
    sim.request("a", Ask("nowhere:1", ("PING",)))
    with pytest.raises(SimError, match="unknown Redis"):
        sim.run_for(10)
    sim = world()
    sim.run_for(10)
    with pytest.raises(SimError, match="past"):
        sim.at(5, lambda: None)
    with pytest.raises(SimError, match="duplicate"):
        sim.add_node("a", lambda rng: Recorder("a", rng))


def test_node_rngs_differ_per_node_and_incarnation() -> None:
    sim = world()
    first = recorder(sim, "a").rng.random()
    assert first != recorder(sim, "b").rng.random()
    sim.crash("a")
    sim.restart("a")
    assert recorder(sim, "a").rng.random() != first
    again = world()
    assert recorder(again, "a").rng.random() == first
    assert isinstance(recorder(again, "a").rng, random.Random)


def test_duplication_and_reordering_happen_at_configured_rates_in_a_run() -> None:
    link = LinkConfig(
        delay_ms_min=1,
        delay_ms_max=5,
        duplicate_probability=0.2,
        reorder_probability=0.3,
        reorder_window_ms=40,
    )
    sim = Simulator(8, link=link)
    for name in ("a", "b"):
        sim.add_node(name, make(name))
    sent = 2000
    for i in range(sent):
        sim.request("a", Tell("b", f"{i:05d}"), at_ms=i)
    sim.run_until(sent + 100)
    got = [int(str(message)) for _, message in recorder(sim, "b").received]
    duplicates = len(got) - len(set(got))
    late, highest = 0, -1
    for value in got:
        late += value < highest
        highest = max(highest, value)
    assert set(got) == set(range(sent))
    assert abs(duplicates / sent - 0.2) < 0.03
    assert 0.2 < late / sent < 0.45
    assert sim.network.stats.delivered == len(got)
