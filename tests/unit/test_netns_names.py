"""Names, addresses and parsers of the namespace backend (pure; no root needed)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.faults import netns_names as names

RUN = "rl1234-ab12cd"


@given(
    pid=st.integers(min_value=1, max_value=4_194_304),
    token=st.text(alphabet="0123456789abcdef", min_size=6, max_size=6),
    index=st.integers(min_value=1, max_value=names.MAX_HOSTS),
    attempt=st.integers(min_value=0, max_value=15),
)
def test_every_interface_name_fits_in_15_characters(
    pid: int, token: str, index: int, attempt: int
) -> None:
    run_id = f"rl{pid}-{token}"
    tag = names.tag_for(run_id, attempt)
    assert names.is_tag(tag)
    for link in (names.bridge_name(tag), names.veth_name(tag, index)):
        assert len(link) <= 15
        parsed = names.parse_link(link)
        assert parsed is not None and parsed.tag == tag
    for chain in names.chain_names(run_id):
        assert len(chain) <= 28 and names.parse_chain(chain) == run_id
    assert names.parse_netns_name(names.netns_name(run_id, "host_1")) == (run_id, "host_1")
    assert names.parse_alias(names.alias_for(run_id, pid)) == (run_id, pid)
    assert names.run_owner_pid(run_id) == pid


def test_the_first_tag_is_the_run_token_and_retries_differ() -> None:
    assert names.tag_for(RUN) == "rlab12cd"
    assert len({names.tag_for(RUN, attempt) for attempt in range(8)}) == 8


@pytest.mark.parametrize("bad", ["", "rl-ab12cd", "rl12-AB12CD", "rl12-ab12c", "x1-ab12cd"])
def test_bad_run_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="run id"):
        names.validate_run_id(bad)
    assert names.run_owner_pid(bad) is None


@pytest.mark.parametrize("bad", ["", "A", "1a", "a-b", "a" * 25, "control", "a b"])
def test_bad_host_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        names.validate_host_name(bad)


@pytest.mark.parametrize(
    "text",
    ["eth0", "docker0", "br-e1d0719106ae", "vethf2bb279", "rlab12cd", "rlab12cdv", "rlAB12CDbr"],
)
def test_foreign_interfaces_are_never_ours(text: str) -> None:
    assert names.parse_link(text) is None


@pytest.mark.parametrize(
    "text", ["DOCKER", "DOCKER-USER", "rl12-ab12cd", "rl12-ab12cd-out", "x-rl12-ab12cd-fwd"]
)
def test_foreign_chains_are_never_ours(text: str) -> None:
    assert names.parse_chain(text) is None


def test_host_addresses_and_the_control_address() -> None:
    subnet = ipaddress.IPv4Network("198.18.7.0/24")
    assert str(names.host_address(subnet, 1)) == "198.18.7.1"
    assert str(names.host_address(subnet, names.CONTROL_HOST)) == "198.18.7.254"
    for bad in (0, names.MAX_HOSTS + 1, 255):
        with pytest.raises(ValueError):
            names.host_address(subnet, bad)


def test_subnets_come_from_the_benchmark_range_and_skip_used_ones() -> None:
    used = [
        ipaddress.IPv4Network("198.18.5.0/24"),
        ipaddress.IPv4Network("198.18.6.7/32"),
        ipaddress.IPv4Network("10.0.0.0/8"),
    ]
    chosen = names.choose_subnet(5, used)
    assert chosen == ipaddress.IPv4Network("198.18.7.0/24")
    assert chosen.subnet_of(names.BENCH_NET)
    assert names.choose_subnet(511, []) == ipaddress.IPv4Network("198.19.255.0/24")
    assert names.choose_subnet(512, []) == ipaddress.IPv4Network("198.18.0.0/24")
    assert 0 <= names.preferred_slot("rlffffff") < 512
    with pytest.raises(ValueError, match="in use"):
        names.choose_subnet(0, [ipaddress.IPv4Network("198.18.0.0/15")])


def test_netns_list_parsing() -> None:
    text = "rl1-aaaaaa-b (id: 3)\nrl1-aaaaaa-a (id: 2)\nother\n\n"
    assert names.parse_netns_list(text) == ["rl1-aaaaaa-b", "rl1-aaaaaa-a", "other"]
    assert names.parse_netns_name("other") is None


def test_hook_deletions_find_only_jumps_to_our_chains() -> None:
    listing = "\n".join(
        [
            "-P FORWARD DROP",
            "-N DOCKER",
            f"-N {RUN}-fwd",
            f"-N {RUN}-in",
            f"-A FORWARD -i rlab12cdbr -j {RUN}-fwd",
            f"-A FORWARD -o rlab12cdbr -j {RUN}-fwd",
            "-A FORWARD -j DOCKER-USER",
            f"-A INPUT -i rlab12cdbr -j {RUN}-in",
            f"-A {RUN}-fwd -i rlab12cdbr -o rlab12cdbr -j ACCEPT",
            f"-A {RUN}-in -s 198.18.1.1/32 -j DROP",
            '-A INPUT -m comment --comment "rl9-ffffff-in" -j ACCEPT',
        ]
    )
    assert names.hook_deletions(listing, names.chain_names(RUN)) == [
        ["-D", "FORWARD", "-i", "rlab12cdbr", "-j", f"{RUN}-fwd"],
        ["-D", "FORWARD", "-o", "rlab12cdbr", "-j", f"{RUN}-fwd"],
        ["-D", "INPUT", "-i", "rlab12cdbr", "-j", f"{RUN}-in"],
    ]
    assert names.hook_deletions(listing, ["rl9-ffffff-in"]) == []


@pytest.mark.parametrize(
    ("rate", "bits"),
    [("1mbit", 1e6), ("500kbit", 5e5), ("125kbps", 1e6), ("2.5MBIT", 2.5e6), ("100bit", 100.0)],
)
def test_rates_in_tc_syntax(rate: str, bits: float) -> None:
    assert names.parse_rate_bits(rate) == bits


@pytest.mark.parametrize("bad", ["", "1", "1 mbit", "fast", "-1mbit", "0mbit", "1mibit"])
def test_bad_rates_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        names.parse_rate_bits(bad)
