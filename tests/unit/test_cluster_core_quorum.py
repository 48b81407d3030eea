"""Quorum and gossip-size arithmetic against naive references; config formulas as a table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gossip_cluster.config import ClusterConfig, ConfigError
from gossip_cluster.core.quorum import gossip_wanted, has_quorum, needed_quorum, valid_reports


def _naive_quorum(size: int) -> int:
    return next(k for k in range(size + 2) if 2 * k > size)


def _naive_wanted(known: int) -> int:
    wanted = 3
    while (wanted + 1) * 10 <= known:
        wanted += 1
    return min(wanted, known - 2)


@given(st.integers(min_value=0, max_value=2000))
def test_needed_quorum_is_the_smallest_majority(size: int) -> None:
    assert needed_quorum(size) == _naive_quorum(size)
    assert has_quorum(needed_quorum(size), size) and not has_quorum(needed_quorum(size) - 1, size)


@given(st.integers(min_value=0, max_value=5000))
def test_gossip_wanted_matches_a_naive_count(known: int) -> None:
    assert gossip_wanted(known) == _naive_wanted(known)


@given(
    st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 100)),
    st.integers(0, 200),
    st.sets(st.sampled_from("abcdef")),
)
def test_valid_reports_are_fresh_and_from_masters(
    reports: dict[str, int], now: int, masters: set[str]
) -> None:
    naive = [s for s in reports if s in masters and now - reports[s] <= 50]
    assert valid_reports(reports, now, 50, sorted(masters)) == naive


def test_negative_cluster_size_is_refused() -> None:
    with pytest.raises(ValueError):
        needed_quorum(-1)


@pytest.mark.parametrize(
    ("node_timeout_ms", "handshake", "auth_timeout", "auth_retry", "validity", "max_age", "rejoin"),
    [
        (15_000, 15_000, 30_000, 60_000, 30_000, 160_000, 5_000),
        (1_000, 1_000, 2_000, 4_000, 2_000, 20_000, 1_000),
        (500, 1_000, 2_000, 4_000, 1_000, 15_000, 500),
        (100, 1_000, 2_000, 4_000, 200, 11_000, 500),
    ],
)
def test_derived_timings(
    node_timeout_ms: int,
    handshake: int,
    auth_timeout: int,
    auth_retry: int,
    validity: int,
    max_age: int,
    rejoin: int,
) -> None:
    config = ClusterConfig(node_timeout_ms=node_timeout_ms)
    assert config.handshake_timeout_ms == handshake
    assert config.auth_timeout_ms == auth_timeout
    assert config.auth_retry_ms == auth_retry
    assert config.fail_report_validity_ms == validity
    assert config.fail_undo_ms == 2 * node_timeout_ms
    assert config.max_data_age_ms == max_age
    assert config.rejoin_delay_ms == rejoin


def test_config_defaults_are_redis_defaults_and_bad_values_are_refused() -> None:
    config = ClusterConfig()
    assert (config.node_timeout_ms, config.replica_validity_factor, config.migration_barrier) == (
        15_000,
        10,
        1,
    )
    assert ClusterConfig(replica_validity_factor=0).max_data_age_ms is None
    with pytest.raises(ConfigError):
        ClusterConfig(node_timeout_ms=-1)
    with pytest.raises(ConfigError):
        ClusterConfig(cron_interval_ms=0)
