"""Quorum and gossip-size arithmetic, as small pure functions (tested against naive ones)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "gossip_wanted",
    "has_quorum",
    "needed_quorum",
    "valid_reports",
]


def needed_quorum(size: int) -> int:
    """Votes or reports needed among ``size`` slot-serving masters: ``size/2 + 1``."""
    if size < 0:
        raise ValueError(f"cluster size must be >= 0, got {size}")
    return size // 2 + 1


def has_quorum(count: int, size: int) -> bool:
    """Whether ``count`` agreeing masters are a majority of ``size``."""
    return count >= needed_quorum(size)


def gossip_wanted(known_nodes: int) -> int:
    """Gossip entries a ping wants (clusterSendPing): max(3, N/10), capped at N - 2.

    ``known_nodes`` counts every node in the table, myself and handshake nodes included.
    The result may be 0 (or less, meaning none) in a cluster of one or two nodes.
    """
    wanted = max(3, known_nodes // 10)
    return min(wanted, known_nodes - 2)


def valid_reports(
    reports: Mapping[str, int], now_ms: int, validity_ms: int, masters: Iterable[str]
) -> list[str]:
    """Senders of reports younger than ``validity_ms`` that are among ``masters``, in order."""
    allowed = set(masters)
    return [
        sender for sender, at in reports.items() if now_ms - at <= validity_ms and sender in allowed
    ]
