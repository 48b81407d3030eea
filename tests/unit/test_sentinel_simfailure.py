"""SENTINEL SIMULATE-FAILURE, SENTINEL DEBUG and +sentinel-address-update in the pure
core, checked against Redis 7.0.15's sentinel.c (texts, order, partial effects)."""

from __future__ import annotations

import random
from pathlib import Path

from labkit.actions import Apply, Emit, Persist
from labkit.core import RedisPush
from labkit.events import Event
from sentinel_lab.config import load_config
from sentinel_lab.convert import to_state
from sentinel_lab.core import (
    HELLO_CHANNEL,
    ErrorReply,
    Hello,
    MasterConfig,
    MonitorRequest,
    SentinelCore,
    SentinelIdentity,
    admin,
)
from sentinel_lab.core.debug import DEBUG_PARAMS, debug_values, set_debug_params
from sentinel_lab.core.simfailure import SimFailure, SimulatedCrash, parse_simulate_failure
from sentinel_lab.driver import SentinelDriver
from sentinel_lab.events_out import EventOutput
from tests.unit.test_sentinel_core_harness import MYID, Harness

# -- SIMULATE-FAILURE ---------------------------------------------------------------------


def test_simulate_failure_arguments_as_redis_reads_them() -> None:
    out = parse_simulate_failure(["CRASH-AFTER-ELECTION"])
    assert out.flags == SimFailure.CRASH_AFTER_ELECTION and out.reply == "OK"
    assert out.log_lines == (
        "Failure simulation: this Sentinel will crash after being successfully elected "
        "as failover leader",
    )
    both = parse_simulate_failure(["crash-after-promotion", "crash-after-election"])
    assert int(both.flags) == 3 and len(both.log_lines) == 2
    # help answers the list; the flags before it stay set, those after are not read
    helped = parse_simulate_failure(["crash-after-election", "help", "crash-after-promotion"])
    assert helped.reply == "HELP" and helped.flags == SimFailure.CRASH_AFTER_ELECTION
    # an unknown name is an error, and the flags read before it stay set
    bad = parse_simulate_failure(["crash-after-promotion", "nope"])
    assert bad.reply == ErrorReply("ERR Unknown failure simulation specified")
    assert bad.flags == SimFailure.CRASH_AFTER_PROMOTION
    assert parse_simulate_failure([]).flags == SimFailure.NONE


def _crash_index(h: Harness) -> int:
    actions = [a for _, a in h.log]
    return next(i for i, a in enumerate(actions) if isinstance(a, Apply))


def test_crash_after_election_comes_right_after_elected_leader() -> None:
    h = Harness()
    h.start()
    h.core.simfailure_flags = SimFailure.CRASH_AFTER_ELECTION
    h.master.alive = False
    h.run(h.now + 8000)
    actions = [a for _, a in h.log]
    i = _crash_index(h)
    crash = actions[i]
    assert isinstance(crash, Apply) and crash.command == SimulatedCrash("election")
    before = actions[i - 1]
    assert isinstance(before, Emit) and before.event.name == "+elected-leader"
    assert "+failover-state-select-slave" not in h.names()


def test_crash_after_promotion_comes_right_after_promoted_slave() -> None:
    h = Harness()
    h.start()
    h.core.simfailure_flags = SimFailure.CRASH_AFTER_PROMOTION
    h.master.alive = False
    h.run(h.now + 8000)
    actions = [a for _, a in h.log]
    i = _crash_index(h)
    assert actions[i] == Apply(SimulatedCrash("promotion"))
    before = actions[i - 1]
    assert isinstance(before, Emit) and before.event.name == "+promoted-slave"
    assert h.names().index("+elected-leader") < h.names().index("+promoted-slave")
    # the promotion's config-epoch was saved before the crash point
    assert h.core.durable_state()[0].masters[0].config_epoch == 1


def test_no_crash_without_flags() -> None:
    h = Harness()
    h.start()
    h.master.alive = False
    h.run(h.now + 15_000)
    assert not [a for _, a in h.log if isinstance(a, Apply)]
    assert "+switch-master" in h.names()


# -- DEBUG --------------------------------------------------------------------------------


def _core(*masters: str) -> SentinelCore:
    configs = [MasterConfig(m, f"127.0.20.{i + 1}", 6379, 2) for i, m in enumerate(masters)]
    return SentinelCore(SentinelIdentity("127.0.11.1", 26379, MYID), configs, random.Random(1))


def test_debug_shows_redis_defaults_in_redis_order() -> None:
    assert debug_values(_core("m")) == [
        ("INFO-PERIOD", 10000),
        ("PING-PERIOD", 1000),
        ("ASK-PERIOD", 1000),
        ("PUBLISH-PERIOD", 2000),
        ("DEFAULT-DOWN-AFTER", 30000),
        ("DEFAULT-FAILOVER-TIMEOUT", 180000),
        ("TILT-TRIGGER", 2000),
        ("TILT-PERIOD", 30000),
        ("SLAVE-RECONF-TIMEOUT", 10000),
        ("MIN-LINK-RECONNECT-PERIOD", 15000),
        ("ELECTION-TIMEOUT", 10000),
        ("SCRIPT-MAX-RUNTIME", 60000),
        ("SCRIPT-RETRY-DELAY", 30000),
    ]


def test_debug_sets_every_parameter() -> None:
    core = _core("m")
    args: list[str] = []
    for n, param in enumerate(DEBUG_PARAMS):
        args += [param.upper() if n % 2 else param, str(100 + n)]
    assert set_debug_params(core, args) == "OK"
    assert [v for _, v in debug_values(core)] == [100 + n for n in range(len(DEBUG_PARAMS))]
    # derived values follow, as Redis derives them
    assert core.timing.reconnect_period_ms == core.timing.ping_period_ms == 101
    assert core.timing.master_down_validity_ms == 5 * 102


def test_debug_errors_and_partial_effect() -> None:
    core = _core("m")
    assert set_debug_params(core, ["info-period", "500", "ping-period", "abc"]) == ErrorReply(
        "ERR Invalid argument 'abc' for SENTINEL DEBUG 'ping-period'"
    )
    assert core.timing.info_period_ms == 500 and core.timing.ping_period_ms == 1000
    assert set_debug_params(core, ["tilt-period", "0"]) == ErrorReply(
        "ERR Invalid argument '0' for SENTINEL DEBUG 'tilt-period'"
    )
    assert set_debug_params(core, ["Nope", "1"]) == ErrorReply(
        "ERR Unknown option or number of arguments for SENTINEL DEBUG 'Nope'"
    )
    assert set_debug_params(core, ["ask-period"]) == ErrorReply(
        "ERR Unknown option or number of arguments for SENTINEL DEBUG 'ask-period'"
    )
    assert set_debug_params(core, ["ask-period", " 5"]) == ErrorReply(
        "ERR Invalid argument ' 5' for SENTINEL DEBUG 'ask-period'"
    )


def test_debug_defaults_apply_to_masters_monitored_later() -> None:
    core = _core("m")
    core.tick(0)
    set_debug_params(core, ["default-down-after", "1234", "default-failover-timeout", "5678"])
    assert admin.monitor(core, MonitorRequest("new", "127.0.30.1", 6379, 2)) == "OK"
    config = core.masters["new"].config
    assert (config.down_after_ms, config.failover_timeout_ms) == (1234, 5678)
    assert core.masters["m"].config.down_after_ms == 30000


# -- +sentinel-address-update -------------------------------------------------------------

PEER = "b" * 40


def _hello(core: SentinelCore, master: str, ip: str, port: int, now: int) -> list[str]:
    m = core.masters[master]
    hello = Hello(ip, port, PEER, 0, master, m.host, m.port, 0)
    actions = core.step(RedisPush(m.addr, HELLO_CHANNEL.encode(), hello.encode()), now)
    return [a.event.message for a in actions if isinstance(a, Emit)]


def test_sentinel_address_update_moves_the_peer_in_every_master() -> None:
    core = _core("m1", "m2")
    core.tick(0)
    _hello(core, "m1", "127.0.11.2", 26379, 10)
    _hello(core, "m2", "127.0.11.2", 26379, 20)
    events = _hello(core, "m1", "127.0.11.9", 26400, 30)
    assert events == [
        f"+sentinel-address-switch master m1 127.0.20.1 6379 ip 127.0.11.9 port 26400 for {PEER}",
        f"+sentinel-address-update sentinel {PEER} 127.0.11.9 26400 @ m1 127.0.20.1 6379 "
        "1 additional matching instances",
    ]
    moved = core.masters["m2"].sentinels[PEER]
    assert (moved.host, moved.port) == ("127.0.11.9", 26400)
    assert moved.link is core.masters["m1"].sentinels[PEER].link
    assert "127.0.11.2:26379" not in core.peer_links
    assert core.peer_links["127.0.11.9:26400"].refcount == 2
    # the saved state has the new address under both masters
    known = [r.known_sentinels for r in core.durable_state()[0].masters]
    assert all(k[0].ip == "127.0.11.9" and k[0].port == 26400 for k in known)
    # the next hello about m2 finds it already moved: nothing to report
    assert _hello(core, "m2", "127.0.11.9", 26400, 40) == []


def test_no_address_update_with_a_single_master() -> None:
    core = _core("m1")
    core.tick(0)
    _hello(core, "m1", "127.0.11.2", 26379, 10)
    events = _hello(core, "m1", "127.0.11.9", 26400, 20)
    assert [e.split()[0] for e in events] == ["+sentinel-address-switch"]


# -- the driver carries the crash out -------------------------------------------------------


def test_driver_saves_logs_and_exits_99_at_the_crash(tmp_path: Path) -> None:
    path = tmp_path / "sentinel.conf"
    path.write_text(f"port 26379\nsentinel myid {MYID}\nsentinel monitor m 127.0.0.1 6379 2\n")
    config = load_config(path).config
    core = SentinelCore.from_state(to_state(config, "127.0.0.1", 26379), random.Random(2))
    out = EventOutput(logfile=str(tmp_path / "s.log"))
    driver = SentinelDriver(core, config, path, out, rng=random.Random(3))
    exits: list[int] = []
    driver.crash = exits.append
    core.current_epoch = 7
    elected = Event(
        source="x", name="+elected-leader", wall_ns=0, instance="master m 127.0.0.1 6379"
    )
    driver.execute(
        [
            Persist(core.snapshot()),
            Emit(elected),
            Apply(SimulatedCrash("election")),
            Emit(Event(source="x", name="+failover-state-select-slave", wall_ns=0)),
        ]
    )
    out.close()
    assert exits == [99]
    lines = (tmp_path / "s.log").read_text().splitlines()
    assert " # +elected-leader master m 127.0.0.1 6379" in lines[-3]
    assert lines[-2].endswith(" * Sentinel new configuration saved on disk")
    assert lines[-1].endswith(" # Sentinel CRASH because of SENTINEL simulate-failure")
    assert load_config(path).config.current_epoch == 7
