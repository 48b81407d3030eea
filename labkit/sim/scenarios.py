"""Named simulation scenarios: what ``redis-lab replay SEED --scenario NAME`` runs.

A scenario is a callable ``run(seed) -> RunResult``. Components register theirs at
import with :func:`register`, and name the module to import in the
``redis_lab.scenarios`` entry point group so the CLI finds them; the toy election is
built in as ``"toy"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from labkit.sim.errors import SimError
from labkit.sim.result import RunResult

__all__ = [
    "Scenario",
    "UnknownScenarioError",
    "get_scenario",
    "load_plugins",
    "register",
    "run_seed",
    "scenario_names",
]

RunFn = Callable[[int], RunResult]


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named, seeded simulation run."""

    name: str
    run: RunFn
    description: str


class UnknownScenarioError(SimError):
    """No scenario has that name."""


_REGISTRY: dict[str, Scenario] = {}


def register(name: str, run: RunFn, description: str, *, replace: bool = False) -> Scenario:
    """Register ``run`` as scenario ``name``; registering a name twice is an error."""
    if name in _REGISTRY and not replace:
        raise SimError(f"scenario {name!r} is already registered")
    scenario = Scenario(name, run, description)
    _REGISTRY[name] = scenario
    return scenario


def scenario_names() -> list[str]:
    """Registered names, sorted."""
    return sorted(_REGISTRY)


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(scenario_names()) or "none"
        raise UnknownScenarioError(f"no scenario {name!r}; known: {known}") from None


def run_seed(name: str, seed: int) -> RunResult:
    """Run one seed of scenario ``name``; the result carries any failure."""
    return get_scenario(name).run(seed)


def load_plugins() -> list[str]:
    """Import every module named in the ``redis_lab.scenarios`` entry point group.

    Returns a message for each one that failed to import (a broken component must not
    hide the others' scenarios).
    """
    from importlib.metadata import entry_points

    problems = []
    for entry in entry_points(group="redis_lab.scenarios"):
        try:
            entry.load()
        except Exception as exc:
            problems.append(f"scenarios of {entry.name!r} are unavailable: {exc}")
    return problems


def _register_builtin() -> None:
    from labkit.sim.toy import run_toy

    def toy(seed: int) -> RunResult:
        return run_toy(seed)

    register("toy", toy, "toy leader election by epoch votes, with swarm-random faults")


_register_builtin()
