"""Timing knobs of the commit cores, one object; every field says why it has its value."""

from __future__ import annotations

from dataclasses import dataclass

from commit_lab.errors import CommitLabError

__all__ = ["SIM_CONFIG", "CommitConfig"]


@dataclass(frozen=True, slots=True)
class CommitConfig:
    """Timeouts in ms. 3PC's safety rests on them exceeding the worst message round trip."""

    vote_timeout_ms: int = 1000
    """Coordinator: a vote missing this long counts as no (the transaction aborts)."""
    ack_timeout_ms: int = 1000
    """3PC coordinator: pre-commit acks missing this long hand the transaction to termination."""
    retry_ms: int = 200
    """Resend a decision, or ask again about an in-doubt transaction, this often."""
    wait_timeout_ms: int = 1000
    """3PC participant: no word from the coordinator this long starts the termination protocol."""
    collect_ms: int = 250
    """3PC recovery coordinator: gather states (and pre-commit acks) for this long."""
    round_timeout_ms: int = 1000
    """3PC: a termination round that decided nothing by then gives way to the next round."""
    cooperative: bool = True
    """2PC: an in-doubt participant asks its peers too (cooperative termination)."""

    def __post_init__(self) -> None:
        for name in (
            "vote_timeout_ms",
            "ack_timeout_ms",
            "retry_ms",
            "wait_timeout_ms",
            "collect_ms",
            "round_timeout_ms",
        ):
            if getattr(self, name) <= 0:
                raise CommitLabError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.round_timeout_ms <= 2 * self.collect_ms:
            raise CommitLabError("round_timeout_ms must exceed two collect windows")


SIM_CONFIG = CommitConfig(
    vote_timeout_ms=300,
    ack_timeout_ms=300,
    retry_ms=100,
    wait_timeout_ms=300,
    collect_ms=80,
    round_timeout_ms=300,
)
"""Simulator timings: the crash-only network delivers within 20 ms, so 80 ms collects all."""
