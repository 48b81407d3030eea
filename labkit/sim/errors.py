"""Errors raised by the simulator; all descend from :class:`SimError`."""

from __future__ import annotations

from labkit.errors import LabError

__all__ = ["InvariantViolation", "LivenessFailure", "SimError", "replay_hint"]


def replay_hint(seed: int, scenario: str | None) -> str:
    """How to rerun one seed: the pytest option, and the CLI for a named scenario."""
    hint = f"replay: pytest --seed {seed}"
    if scenario is not None:
        hint += f"  (or: redis-lab replay {seed} --scenario {scenario})"
    return hint


class SimError(LabError):
    """Root of every error the simulator raises."""


class _SeededRunError(SimError):
    """A failure of one seeded run: the message names the seed, the time and the replay."""

    kind = "failure"

    def __init__(
        self, name: str, detail: str, *, seed: int, time_ms: int, scenario: str | None = None
    ) -> None:
        self.name = name
        self.detail = detail
        self.seed = seed
        self.time_ms = time_ms
        self.scenario = scenario
        super().__init__(
            f"{self.kind} {name!r} at t={time_ms} ms, seed {seed}: {detail}\n"
            f"{replay_hint(seed, scenario)}"
        )


class InvariantViolation(_SeededRunError):  # noqa: N818 - the name the contracts use
    """An invariant checker found a state that must never happen (a safety failure)."""

    kind = "invariant"


class LivenessFailure(_SeededRunError):  # noqa: N818 - pairs with InvariantViolation
    """The system did not reach a required state before its deadline."""

    kind = "liveness"
