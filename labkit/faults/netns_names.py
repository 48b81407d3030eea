"""Names, addresses and parsing for the namespace backend: pure functions, no I/O.

Everything a :class:`~labkit.faults.netns.NetnsLab` creates is named after its run id
(``rl<pid>-<6 hex>``, see :func:`labkit.realredis.reaper.new_run_id`):

* namespaces: ``<run id>-<host>`` (no length limit);
* interfaces (15 characters at most): a tag ``rl<6 hex>``, then ``br`` for the bridge or
  ``v<index>`` for a host's veth end on the bridge; the other end, inside the namespace,
  is called ``eth0``;
* iptables chains: ``<run id>-fwd`` (hooked into FORWARD) and ``<run id>-in`` (INPUT);
* the bridge and the veths carry the alias ``redis-lab run=<run id> owner=<pid>``.

Addresses come from 198.18.0.0/15, RFC 2544's benchmarking range: one /24 per run, hosts
``.1`` up, the bridge (the root namespace, where the tests run) ``.254``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "BENCH_NET",
    "CONTROL_HOST",
    "LinkNames",
    "alias_for",
    "bridge_name",
    "chain_names",
    "choose_subnet",
    "hook_deletions",
    "host_address",
    "netns_name",
    "parse_alias",
    "parse_chain",
    "parse_netns_list",
    "parse_netns_name",
    "parse_rate_bits",
    "run_owner_pid",
    "tag_for",
    "validate_host_name",
    "veth_name",
]

BENCH_NET = ipaddress.IPv4Network("198.18.0.0/15")
CONTROL_HOST = 254  # the bridge's address in each /24: the root namespace
INNER_IF = "eth0"
MAX_HOSTS = 200
RUN_ID_RE = re.compile(r"rl(\d+)-([0-9a-f]{6})")
_HOST_RE = re.compile(r"[a-z][a-z0-9_]{0,23}")
_TAG_RE = re.compile(r"rl[0-9a-f]{6}")
_LINK_RE = re.compile(r"(rl[0-9a-f]{6})(?:br|v\d{1,3})")
_CHAIN_RE = re.compile(r"(rl\d+-[0-9a-f]{6})-(?:fwd|in)")
_ALIAS_RE = re.compile(r"redis-lab run=(rl\d+-[0-9a-f]{6}) owner=(\d+)")
_RATE_RE = re.compile(r"(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)")
_RATE_UNITS = {
    "bit": 1.0,
    "kbit": 1e3,
    "mbit": 1e6,
    "gbit": 1e9,
    "bps": 8.0,
    "kbps": 8e3,
    "mbps": 8e6,
    "gbps": 8e9,
}


def validate_run_id(run_id: str) -> str:
    """``run_id`` if it has the lab's form ``rl<pid>-<6 hex>``; ValueError otherwise."""
    if RUN_ID_RE.fullmatch(run_id) is None:
        raise ValueError(f"run id {run_id!r} is not of the form rl<pid>-<6 hex digits>")
    return run_id


def run_owner_pid(run_id: str) -> int | None:
    """The pid that made ``run_id`` (the owner), or None if it is not a lab run id."""
    match = RUN_ID_RE.fullmatch(run_id)
    return int(match.group(1)) if match else None


def validate_host_name(name: str) -> str:
    """A host name: a lowercase letter, then up to 23 of ``[a-z0-9_]``."""
    if _HOST_RE.fullmatch(name) is None:
        raise ValueError(
            f"host name {name!r} must be a lowercase letter followed by up to 23 of [a-z0-9_]"
        )
    if name == "control":
        raise ValueError("host name 'control' is reserved for the root namespace")
    return name


def tag_for(run_id: str, attempt: int = 0) -> str:
    """The interface-name prefix ``rl<6 hex>``: the run id's token, or a hash on retries."""
    match = RUN_ID_RE.fullmatch(validate_run_id(run_id))
    assert match is not None
    if attempt == 0:
        return f"rl{match.group(2)}"
    digest = hashlib.sha256(f"{run_id}/{attempt}".encode()).hexdigest()
    return f"rl{digest[:6]}"


def bridge_name(tag: str) -> str:
    return f"{tag}br"


def veth_name(tag: str, index: int) -> str:
    """The root-namespace end of host ``index``'s veth pair (a port of the bridge)."""
    if not 0 < index <= MAX_HOSTS:
        raise ValueError(f"host index {index} is outside 1..{MAX_HOSTS}")
    return f"{tag}v{index}"


def netns_name(run_id: str, host: str) -> str:
    return f"{run_id}-{host}"


def chain_names(run_id: str) -> tuple[str, str]:
    """``(forward chain, input chain)`` of a run."""
    return f"{run_id}-fwd", f"{run_id}-in"


def alias_for(run_id: str, owner_pid: int) -> str:
    return f"redis-lab run={run_id} owner={owner_pid}"


def host_address(subnet: ipaddress.IPv4Network, index: int) -> ipaddress.IPv4Address:
    """Host ``index`` (1..200) of ``subnet``; index 254 is the bridge (the root namespace)."""
    if not (0 < index <= MAX_HOSTS or index == CONTROL_HOST):
        raise ValueError(f"host index {index} is outside 1..{MAX_HOSTS}")
    return subnet.network_address + index


def choose_subnet(preferred: int, used: Iterable[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """The first /24 of 198.18.0.0/15 from slot ``preferred`` on that overlaps none of ``used``."""
    taken = [net for net in used if net.overlaps(BENCH_NET)]
    slots = list(BENCH_NET.subnets(new_prefix=24))
    for step in range(len(slots)):
        candidate = slots[(preferred + step) % len(slots)]
        if not any(candidate.overlaps(net) for net in taken):
            return candidate
    raise ValueError("every /24 of 198.18.0.0/15 is in use on this machine")


def preferred_slot(tag: str) -> int:
    """Where a run starts looking for a free /24: derived from its tag."""
    return int(tag[2:], 16) % 512


@dataclass(frozen=True, slots=True)
class LinkNames:
    """What an interface name tells: the run's tag."""

    tag: str


def parse_link(name: str) -> LinkNames | None:
    """The tag of one of our interfaces (``rl<6 hex>br``, ``rl<6 hex>v<n>``), else None."""
    match = _LINK_RE.fullmatch(name)
    return LinkNames(match.group(1)) if match else None


def parse_alias(alias: str) -> tuple[str, int] | None:
    """``(run id, owner pid)`` from an interface alias we set, else None."""
    match = _ALIAS_RE.fullmatch(alias.strip())
    return (match.group(1), int(match.group(2))) if match else None


def parse_chain(name: str) -> str | None:
    """The run id of one of our iptables chains, else None."""
    match = _CHAIN_RE.fullmatch(name)
    return match.group(1) if match else None


def parse_netns_name(name: str) -> tuple[str, str] | None:
    """``(run id, host)`` of one of our namespaces, else None."""
    match = re.fullmatch(r"(rl\d+-[0-9a-f]{6})-(.+)", name)
    return (match.group(1), match.group(2)) if match else None


def parse_netns_list(text: str) -> list[str]:
    """Namespace names from ``ip netns list`` (lines like ``name (id: 3)``)."""
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def is_tag(text: str) -> bool:
    return _TAG_RE.fullmatch(text) is not None


def hook_deletions(listing: str, chains: Iterable[str]) -> list[list[str]]:
    """The ``iptables -D`` arguments that remove every jump to ``chains`` in ``listing``.

    ``listing`` is ``iptables -S`` output; a hook line ``-A FORWARD -i X -j C`` becomes
    ``["-D", "FORWARD", "-i", "X", "-j", "C"]``. Rules inside the chains are not hooks.
    """
    wanted = set(chains)
    found = []
    for line in listing.splitlines():
        words = shlex.split(line)
        if len(words) < 4 or words[0] != "-A" or words[1] in wanted:
            continue
        target = words[words.index("-j") + 1] if "-j" in words[:-1] else None
        if target in wanted:
            found.append(["-D", *words[1:]])
    return found


def parse_rate_bits(rate: str) -> float:
    """Bits per second of a tc rate (``1mbit``, ``500kbit``, ``125kbps``); ValueError otherwise.

    As in tc, ``k``/``m``/``g`` are powers of 1000 and ``bps`` means bytes per second.
    """
    match = _RATE_RE.fullmatch(rate.strip().lower())
    if match is None:
        raise ValueError(
            f"rate {rate!r} is not a tc rate: a number and one of {', '.join(_RATE_UNITS)} "
            "(for example 1mbit)"
        )
    value = float(match.group(1)) * _RATE_UNITS[match.group(2)]
    if value <= 0:
        raise ValueError(f"rate {rate!r} must be positive")
    return value
