"""Benchmark (not a test): committed transfers per second and latency on 3 real shards.

Each protocol runs ``transfers`` disjoint transfers (no lock conflicts) through one
coordinator, ``concurrency`` at a time, over three redis-servers with
``appendfsync always``; the consensus variant also stores every decision in a real
3-node redis_raft cluster (``SET NX`` through Raft, fsynced on a majority). Latency is
from the client request to the coordinator's reply.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from commit_lab.core.messages import Leg, Transfer, TxOutcome
from commit_lab.demos import REAL_CONFIG, build_real
from commit_lab.driver import RealWorld
from labkit.realredis import Lab

__all__ = ["BenchResult", "bench", "render_bench"]


@dataclass(frozen=True, slots=True)
class BenchResult:
    protocol: str
    committed: int
    aborted: int  # answered but not committed (none expected: no conflicts, no faults)
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.committed / self.seconds if self.seconds else 0.0


def bench(protocol: str, *, transfers: int = 200, concurrency: int = 3) -> BenchResult:
    """Run ``transfers`` transfers A_k -> B_k (k cycling over disjoint account pairs)."""
    pairs = [("A1", "B1"), ("A2", "C2"), ("B3", "C3")][:concurrency]
    with Lab() as lab:
        world = RealWorld(lab, lab.base_dir, delay_ms=0, tick_ms=2)
        try:
            return _run(world, protocol, pairs, transfers)
        finally:
            world.close()


def _run(
    world: RealWorld, protocol: str, pairs: list[tuple[str, str]], transfers: int
) -> BenchResult:
    build_real(world, protocol, REAL_CONFIG)  # waits for the Raft cluster's leader
    sent: dict[str, int] = {}
    latencies: list[float] = []
    rounds = [0] * len(pairs)
    started = time.monotonic()
    next_id = 0
    answered = committed = 0

    def launch(slot: int) -> None:
        # Each slot pays back and forth between its two accounts, so none runs dry.
        nonlocal next_id
        src, dst = pairs[slot] if rounds[slot] % 2 == 0 else pairs[slot][::-1]
        rounds[slot] += 1
        txid = f"b{next_id}"
        next_id += 1
        sent[txid] = time.monotonic_ns()
        world.request("c", Transfer(txid, (Leg(src, -1), Leg(dst, 1))), client=f"s{slot}")

    for slot in range(min(len(pairs), transfers)):
        launch(slot)
    seen = 0
    while answered < transfers and time.monotonic() - started < 120:
        world.run_for(1)
        for reply in world.replies[seen:]:
            seen += 1
            value = reply.value
            if isinstance(value, TxOutcome) and value.txid in sent:
                latencies.append((time.monotonic_ns() - sent.pop(value.txid)) / 1e6)
                answered += 1
                committed += value.status == "committed"
                if next_id < transfers:
                    launch(int(reply.client[1:]))
    elapsed = time.monotonic() - started
    ordered = sorted(latencies) or [0.0]
    return BenchResult(
        protocol,
        committed,
        answered - committed,
        elapsed,
        statistics.median(ordered),
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    )


def render_bench(results: list[BenchResult]) -> str:
    lines = [
        "| protocol | committed | aborted | seconds | transfers/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.protocol} | {r.committed} | {r.aborted} | {r.seconds:.2f} | {r.per_second:.1f} | "
            f"{r.p50_ms:.1f} | {r.p99_ms:.1f} |"
        )
    return "\n".join(lines)


def write_json(results: list[BenchResult], path: Path) -> None:
    import json

    data = [
        {
            "protocol": r.protocol,
            "committed": r.committed,
            "aborted": r.aborted,
            "seconds": r.seconds,
            "per_second": r.per_second,
            "p50_ms": r.p50_ms,
            "p99_ms": r.p99_ms,
        }
        for r in results
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
