"""The outcome of one seeded run, as a scenario returns it to tests and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field

from labkit.events import Event
from labkit.sim.errors import SimError
from labkit.sim.world import Simulator

__all__ = ["RunResult", "result_of"]


@dataclass(frozen=True, slots=True)
class RunResult:
    """One run: its seed, trace hash, end time, timeline events and failure, if any."""

    scenario: str
    seed: int
    trace_hash: str
    end_ms: int
    steps: int
    events: tuple[Event, ...] = field(repr=False)
    failure: SimError | None = field(default=None, compare=False)
    details: dict[str, object] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        """Whether every invariant and liveness check held."""
        return self.failure is None

    def check(self) -> RunResult:
        """Raise the run's failure (it names the seed and the replay command), if any."""
        if self.failure is not None:
            raise self.failure
        return self


def result_of(
    sim: Simulator, scenario: str, failure: SimError | None = None, **details: object
) -> RunResult:
    """Build a result from a simulator that has finished (or stopped at a failure)."""
    return RunResult(
        scenario=scenario,
        seed=sim.seed,
        trace_hash=sim.trace.hexdigest(),
        end_ms=sim.now_ms,
        steps=sim.steps,
        events=tuple(sim.trace.to_events()),
        failure=failure,
        details=dict(details),
    )
