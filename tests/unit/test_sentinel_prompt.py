"""Where sentinel_lab reacts sooner than Redis's timer (see sentinel_lab.core.sentinel):
answers acted on at once, hellos sent at the promotion, the timer run at the fast INFO deadlines, the
new master connected at once after a switch; and the driver's Redis-like timer period."""

from __future__ import annotations

import random
from pathlib import Path
from unittest.mock import patch

from labkit.actions import RedisCommand, Send
from labkit.core import Received
from sentinel_lab.config import load_config
from sentinel_lab.convert import to_state
from sentinel_lab.core import HelloMessage, IsMasterDownReply, SentinelCore, parse_hello
from sentinel_lab.driver import SentinelDriver
from sentinel_lab.events_out import EventOutput
from tests.unit.test_sentinel_core_harness import R1, R2, Harness, peer_votes_for_asker


def _failover(h: Harness) -> None:
    h.start()
    h.servers[R1].offset = 500  # R2 is further ahead: it is chosen
    h.master.alive = False
    h.run(h.now + 15_000)


def test_the_answer_that_reaches_the_quorum_declares_odown_and_the_votes_elect_at_once() -> None:
    h = Harness()
    _failover(h)
    sdown, _ = h.first("+sdown")
    # ODOWN comes with the answers to the timer run that saw SDOWN
    assert h.first("+odown")[0] == sdown
    # starting waits for the next timer run, as in Redis (one candidate usually first)
    start, _ = h.first("+try-failover")
    assert start == h.first("+new-epoch")[0] == sdown + 100
    # the vote requests go out with the start, and the answers elect at once, not one
    # timer run later
    for name in ("+vote-for-leader", "+elected-leader"):
        assert h.first(name)[0] == start, name
    voting = [r for r in h.requests if r[1].runid is not None]
    assert voting and all(r[1].current_epoch == 1 for r in voting)
    # the replicas' first fast INFO round starts with ODOWN
    infos = {
        a.target
        for t, a in h.log
        if t == sdown and isinstance(a, RedisCommand) and a.args == ("INFO",)
    }
    assert {R1, R2} <= infos
    # the later states still move one per timer run, after the replicas' INFO is in
    assert h.first("+selected-slave")[0] == start + 100
    assert h.first("+failover-state-send-slaveof-noone")[0] == start + 100


def test_answers_do_not_act_in_tilt() -> None:
    h = Harness(policy=peer_votes_for_asker(down=False))
    h.start()
    h.master.ping_reply = None
    h.run(h.now + 1500)
    assert "+sdown" in h.names() and "+odown" not in h.names()
    peer = next(iter(h.peers))
    down = IsMasterDownReply("127.0.10.1", 6379, True, None, 0)
    h.core.tilt = True  # TILT collects answers but does not act on them
    assert h.core.step(Received(peer, down), h.now) == []
    h.core.tilt = False
    h.feed(h.core.step(Received(peer, down), h.now))
    assert h.first("+odown")[0] == h.now


def test_hellos_with_the_new_address_go_out_when_the_promotion_is_seen() -> None:
    h = Harness()
    _failover(h)
    promoted, _ = h.first("+promoted-slave")
    hellos = [
        parse_hello(a.message.payload)
        for t, a in h.log
        if t == promoted and isinstance(a, Send) and isinstance(a.message, HelloMessage)
    ]
    assert len(hellos) == len(h.peers)
    assert all(
        (x.master_ip, x.master_port, x.master_config_epoch) == ("127.0.10.3", 6379, 1)
        for x in hellos
    )
    published = {
        a.target
        for t, a in h.log
        if t == promoted and isinstance(a, RedisCommand) and a.args[0] == "PUBLISH"
    }
    assert {R1, R2} <= published  # the dead master's link is down: it stays due


def test_next_deadline_is_the_fast_info_round_not_the_down_after() -> None:
    h = Harness()
    h.start()
    master = h.core.masters["mymaster"]
    assert h.core.next_deadline_ms(h.now) is None  # healthy: PINGs answered, INFO slow
    h.master.ping_reply = None
    h.run(h.now + 500)
    act = master.link.act_ping_ms
    assert act is not None
    # SDOWN is noticed at a regular timer run, as in Redis: the sentinels notice it out
    # of phase, so one of them usually starts the failover first
    assert h.core.next_deadline_ms(h.now) is None
    h.now = act + 1001
    h.feed(h.core.tick(h.now))
    assert master.s_down and master.o_down
    refreshed = [r.info_refresh_ms for r in master.replicas.values()]
    assert all(t == h.now for t in refreshed)
    assert h.core.next_deadline_ms(h.now) == h.now + 1000 + 1
    assert h.core.next_deadline_ms(h.now + 1001) is None  # passed deadlines are not repeated


def test_after_a_switch_the_new_master_is_connected_at_the_next_timer_run() -> None:
    h = Harness()
    _failover(h)
    switched, _ = h.first("+switch-master")
    new_master = R2
    first_ping = min(
        t
        for t, a in h.log
        if t > switched
        and isinstance(a, RedisCommand)
        and a.target == new_master
        and a.args == ("PING",)
    )
    assert first_ping <= switched + 100
    assert not any(
        e.name == "+sdown" and e.instance.startswith("master ") and "127.0.10.3" in e.instance
        for e in h.events()
    )


def test_driver_timer_period_is_redis_hz_and_meets_deadlines(tmp_path: Path) -> None:
    path = tmp_path / "sentinel.conf"
    path.write_text(
        f"port 26379\nsentinel myid {'a' * 40}\nsentinel monitor mymaster 127.0.0.1 1 2\n"
        "sentinel down-after-milliseconds mymaster 1000\n"
    )
    config = load_config(path).config
    core = SentinelCore.from_state(to_state(config, "127.0.0.1", 26379), random.Random(2))
    out = EventOutput(logfile=str(tmp_path / "s.log"))
    try:
        driver = SentinelDriver(core, config, path, out, rng=random.Random(3))
        delays = {round(driver.next_delay_s(10**9), 6) for _ in range(500)}
        assert delays == {round(1 / hz, 6) for hz in range(10, 20)}
        with patch.object(core, "next_deadline_ms", return_value=6001):
            assert driver.next_delay_s(5990) == (6001 - 5990 + 1) / 1000
    finally:
        out.close()
