"""Client workloads that record Jepsen-style histories against any Redis-speaking target."""

from labkit.workloads.runner import RunStats, final_reads, run_workload
from labkit.workloads.targets import DirectTarget, SentinelTarget, Target
from labkit.workloads.workloads import WORKLOADS, OpSpec, Workload, get_workload

__all__ = [
    "WORKLOADS",
    "DirectTarget",
    "OpSpec",
    "RunStats",
    "SentinelTarget",
    "Target",
    "Workload",
    "final_reads",
    "get_workload",
    "run_workload",
]
