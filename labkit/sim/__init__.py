"""A deterministic simulator for sans-I/O protocol cores.

One seed drives everything: node RNGs, network delays, loss, duplication, reordering,
partitions, crash and restart times. A failing run raises an error that names its
seed; ``pytest --seed N`` (or ``redis-lab replay SCENARIO N``) replays it.

Modules: ``clock`` (virtual time), ``network`` (seeded links and partitions),
``storage`` (a log with fsync; crashes drop the unsynced tail, may tear it),
``faults`` (fault kinds, swarm profiles, schedules), ``trace`` (hash and timeline
events), ``world`` (the :class:`Simulator`), ``redis_model`` (a small model of a Redis
server's replication, INFO, pub/sub and keys), ``toy`` (an example core),
``scenarios`` (the registry for the CLI).
"""

from __future__ import annotations

from labkit.sim.errors import InvariantViolation, LivenessFailure, SimError
from labkit.sim.faults import (
    Crash,
    Cut,
    FaultProfile,
    Heal,
    Partition,
    Restart,
    RestartAll,
    ScheduledFault,
    SetNetwork,
    plan_faults,
    swarm_profile,
)
from labkit.sim.network import LinkConfig, Network
from labkit.sim.result import RunResult
from labkit.sim.seeds import derive_seed, fixed_seeds, rng_for, seeds_to_run
from labkit.sim.storage import Storage
from labkit.sim.trace import Trace, TraceEntry
from labkit.sim.world import ClientReply, ConnectionRefused, Simulator, StepRecord

__all__ = [
    "ClientReply",
    "ConnectionRefused",
    "Crash",
    "Cut",
    "FaultProfile",
    "Heal",
    "InvariantViolation",
    "LinkConfig",
    "LivenessFailure",
    "Network",
    "Partition",
    "Restart",
    "RestartAll",
    "RunResult",
    "ScheduledFault",
    "SetNetwork",
    "SimError",
    "Simulator",
    "StepRecord",
    "Storage",
    "Trace",
    "TraceEntry",
    "derive_seed",
    "fixed_seeds",
    "plan_faults",
    "rng_for",
    "seeds_to_run",
    "swarm_profile",
]
