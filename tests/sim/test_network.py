"""The seeded network: rates of loss, duplication and reordering; FIFO; partitions."""

from __future__ import annotations

import random

import pytest

from labkit.sim import LinkConfig, Network, SimError

MESSAGES = 20_000


def burst(config: LinkConfig, seed: int = 1) -> tuple[Network, list[tuple[int, int]]]:
    """Send MESSAGES on one link, one per ms; return (arrival, send index) in arrival order."""
    net = Network(random.Random(seed), config)
    arrivals: list[tuple[int, int, int]] = []
    seq = 0
    for i in range(MESSAGES):
        for at in net.route("a", "b", i):
            seq += 1
            arrivals.append((at, seq, i))
    arrivals.sort()
    return net, [(at, i) for at, _, i in arrivals]


def out_of_order(order: list[tuple[int, int]]) -> int:
    """Deliveries that arrive after a message sent later than them."""
    count, highest = 0, -1
    for _, index in order:
        if index < highest:
            count += 1
        highest = max(highest, index)
    return count


def test_fifo_by_default() -> None:
    net, order = burst(LinkConfig(delay_ms_min=1, delay_ms_max=50))
    assert out_of_order(order) == 0
    assert [i for _, i in order] == list(range(MESSAGES))
    assert net.stats.sent == MESSAGES


@pytest.mark.parametrize("rate", [0.05, 0.2])
def test_loss_rate(rate: float) -> None:
    net, order = burst(LinkConfig(loss_probability=rate))
    assert net.stats.lost == MESSAGES - len(order)
    assert abs(net.stats.lost / MESSAGES - rate) < 0.01


@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_duplication_rate(rate: float) -> None:
    net, order = burst(LinkConfig(duplicate_probability=rate))
    duplicates = len(order) - len({i for _, i in order})
    assert duplicates == net.stats.duplicated
    assert abs(duplicates / MESSAGES - rate) < 0.01


@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_reordering_rate(rate: float) -> None:
    net, order = burst(LinkConfig(reorder_probability=rate, reorder_window_ms=50))
    assert abs(net.stats.reordered / MESSAGES - rate) < 0.01
    # most held-back messages are overtaken; some overtake earlier ones instead
    observed = out_of_order(order) / MESSAGES
    assert rate * 0.7 < observed < rate * 1.5


def test_delays_stay_in_range() -> None:
    net = Network(random.Random(2), LinkConfig(delay_ms_min=7, delay_ms_max=9))
    net.set_link("a", "c", LinkConfig(delay_ms_min=100, delay_ms_max=100))
    assert {net.delay_ms("a", "b") for _ in range(200)} == {7, 8, 9}
    assert net.route("a", "c", 0) == [100]
    net.set_link("a", "c", None)
    assert net.link("a", "c") == net.default


def test_partitions_one_way_two_way_and_heal() -> None:
    net = Network(random.Random(3))
    net.partition([("a", "b"), ("c",)])
    assert net.blocked("a", "c") and net.blocked("c", "b") and not net.blocked("a", "b")
    assert net.route("a", "c", 0) == []
    assert net.stats.blocked == 1
    net.heal()
    assert net.cut_links() == []
    net.cut("a", "b")
    assert net.blocked("a", "b") and not net.blocked("b", "a")
    net.heal_link("a", "b")
    assert not net.blocked("a", "b")


def test_same_seed_same_routes() -> None:
    config = LinkConfig(loss_probability=0.1, duplicate_probability=0.1, reorder_probability=0.1)
    assert burst(config, seed=5)[1] == burst(config, seed=5)[1]
    assert burst(config, seed=5)[1] != burst(config, seed=6)[1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"delay_ms_min": 5, "delay_ms_max": 1},
        {"loss_probability": 1.5},
        {"reorder_window_ms": -1},
    ],
)
def test_bad_link_config(kwargs: dict[str, float]) -> None:
    with pytest.raises(SimError):
        LinkConfig(**kwargs)  # type: ignore[arg-type]
