"""Benchmark: gossip_cluster's core at scale, in the simulator, beside Redis's formulas.

Each size N is N/2 masters with one replica each, formed as after ``redis-cli --cluster
create``, one ``cluster-node-timeout`` for all (``--node-timeout-ms``, default 5000),
no faults but one master that crashes for good at ``1.25 * node_timeout`` of virtual
time. The simulator passes messages as objects; the bus bytes are counted from the wire
codec's constants (header 2256 bytes + 104 per gossip entry + extensions, checked
against ``encode`` on a small cluster first). Figures, in virtual time:

- FAIL everywhere: from the crash until every live node flagged the master FAIL;
- bus bytes and frames per node per second, sent, averaged over
  ``[0.25, 1.25] * node_timeout`` (two ping rounds of the steady state, before the crash).

Redis's formulas (cluster-spec, ``clusterCron``/``clusterSendPing``): each node pings one
random node a second, plus every node whose last pong is older than node_timeout/2, so
about ``1 + (N-1) / (node_timeout/2)`` pings/s, each answered by a pong; each carries
``min(N-2, max(3, N/10))`` gossip entries: ``2 * pings * (2256 + 104 * entries)`` bytes/s
per node. FAIL: the dead node's next ping comes within node_timeout/2 of its last pong
and PFAIL node_timeout after that, so about ``node_timeout .. 1.5 * node_timeout``, plus
the time to gather a majority's reports by gossip, plus one FAIL broadcast.

    .venv/bin/python bench/bench_gossip_scale.py [--nodes 100 --nodes 300] \
        [--node-timeout-ms 5000] [--seed 1] [--out FILE] [--md FILE]

``make bench`` runs 100 and 300 nodes; ``--nodes 1000`` on request (``NODES=1000``). The
simulated work is Redis's own: N nodes each send about N/(node_timeout/2) pings a
second, each carrying N/10 gossip entries that are built and read one by one, so a run
grows as N^2 * N/10 at a fixed node timeout; the core keeps every other per-message cost
at O(gossip entries) and the cron at O(N): 1000 nodes took 21x the 300-node run here.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gossip_cluster import sim_driver
from gossip_cluster.sim_scenario import run_gossip
from gossip_cluster.wire.constants import GOSSIP_SIZE, HEADER_SIZE
from gossip_cluster.wire.encode import encode
from labkit.sim.faults import FaultProfile
from labkit.sim.result import RunResult

CALM = FaultProfile(partition_per_s=0.0, crash_per_s=0.0)
CRON_MS = 100


@dataclass(frozen=True, slots=True)
class Prediction:
    """Redis's formulas for N nodes at one node timeout."""

    pings_per_s: float
    entries: int
    frame_bytes: int
    bytes_per_node_s: float
    fail_low_ms: int
    fail_high_ms: int


def predict(nodes: int, node_timeout_ms: int) -> Prediction:
    pings = 1 + (nodes - 1) / (node_timeout_ms / 2000)
    entries = min(nodes - 2, max(3, nodes // 10))
    frame = HEADER_SIZE + GOSSIP_SIZE * entries
    return Prediction(
        pings_per_s=pings,
        entries=entries,
        frame_bytes=frame,
        bytes_per_node_s=2 * pings * frame,
        fail_low_ms=node_timeout_ms,
        fail_high_ms=node_timeout_ms * 3 // 2 + CRON_MS,
    )


def self_check() -> int:
    """Run a small cluster with every frame also encoded: sizes must match ``encode``."""
    real = sim_driver.wire_size
    checked = 0

    def checking(message: object) -> int:
        nonlocal checked
        size = real(message)
        inner = message.message if isinstance(message, sim_driver.SimReply) else message
        assert size == len(encode(inner)), (type(inner).__name__, size)  # type: ignore[arg-type]
        checked += 1
        return size

    sim_driver.wire_size = checking
    try:
        run_gossip(
            1,
            masters=3,
            replicas=1,
            profile=CALM,
            node_timeout_ms=1000,
            safety_ms=1500,
            liveness_ms=6000,
            transient_faults=False,
            victims=1,
            until_fail=True,
            keep_trace=False,
            crash_at_ms=1500,
            count_bytes=True,
        )
    finally:
        sim_driver.wire_size = real
    return checked


def measure(nodes: int, node_timeout_ms: int, seed: int) -> dict[str, Any]:
    if nodes % 2 or nodes < 6:
        raise SystemExit(f"--nodes must be even and at least 6, got {nodes}")
    crash_at = round(node_timeout_ms * 1.25 / CRON_MS) * CRON_MS
    window = (round(node_timeout_ms * 0.25 / CRON_MS) * CRON_MS, crash_at)
    started = time.monotonic()
    # A large simulated cluster holds millions of long-lived objects (N node tables of N
    # nodes) and allocates fast: the default thresholds make the cyclic GC rescan them
    # over and over (about 15% of the run at 200 nodes). The run makes few cycles.
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        result = _run(nodes, node_timeout_ms, seed, crash_at)
    finally:
        gc.set_threshold(*thresholds)
    wall_s = time.monotonic() - started
    return _row(result, nodes, node_timeout_ms, seed, crash_at, window, wall_s)


def _run(nodes: int, node_timeout_ms: int, seed: int, crash_at: int) -> RunResult:
    return run_gossip(
        seed,
        masters=nodes // 2,
        replicas=1,
        profile=CALM,
        node_timeout_ms=node_timeout_ms,
        safety_ms=crash_at,
        liveness_ms=4 * node_timeout_ms,
        transient_faults=False,
        victims=1,
        until_fail=True,
        keep_trace=False,
        crash_at_ms=crash_at,
        count_bytes=True,
        hash_trace=False,
    )


def _row(
    result: RunResult,
    nodes: int,
    node_timeout_ms: int,
    seed: int,
    crash_at: int,
    window: tuple[int, int],
    wall_s: float,
) -> dict[str, Any]:
    if not result.ok:
        raise SystemExit(f"{nodes} nodes: the run failed: {result.failure}")
    fail_ms = result.details["fail_ms"]
    assert isinstance(fail_ms, dict)
    samples = result.details["bus"]
    assert isinstance(samples, list)
    at = {t: (b, m) for t, b, m in samples}
    (b0, m0), (b1, m1) = at[window[0]], at[window[1]]
    seconds = (window[1] - window[0]) / 1000
    measured_bytes = (b1 - b0) / nodes / seconds
    measured_frames = (m1 - m0) / nodes / seconds
    p = predict(nodes, node_timeout_ms)
    fail = next(iter(fail_ms.values()), None)
    return {
        "nodes": nodes,
        "masters": nodes // 2,
        "node_timeout_ms": node_timeout_ms,
        "seed": seed,
        "crash_at_ms": crash_at,
        "fail_everywhere_ms": fail,
        "fail_predicted_ms": [p.fail_low_ms, p.fail_high_ms],
        "bytes_per_node_s": round(measured_bytes),
        "bytes_per_node_s_predicted": round(p.bytes_per_node_s),
        "bytes_ratio_measured_over_predicted": round(measured_bytes / p.bytes_per_node_s, 3),
        "frames_per_node_s": round(measured_frames, 1),
        "frames_per_node_s_predicted": round(2 * p.pings_per_s, 1),
        "mean_frame_bytes": round((b1 - b0) / max(1, m1 - m0)),
        "frame_bytes_predicted": p.frame_bytes,
        "gossip_entries_predicted": p.entries,
        "window_ms": list(window),
        "virtual_ms": result.end_ms,
        "steps": result.steps,
        "wall_s": round(wall_s, 1),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| nodes | node timeout ms | FAIL everywhere ms (measured) | FAIL ms (formula) "
        "| bus bytes/node/s (measured) | bus bytes/node/s (formula) | ratio "
        "| frames/node/s (measured / formula) | mean frame bytes (measured / formula) "
        "| wall s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        low, high = r["fail_predicted_ms"]
        lines.append(
            f"| {r['nodes']} | {r['node_timeout_ms']} | {r['fail_everywhere_ms']} "
            f"| {low}-{high} + spread | {r['bytes_per_node_s']:,} "
            f"| {r['bytes_per_node_s_predicted']:,} | {r['bytes_ratio_measured_over_predicted']} "
            f"| {r['frames_per_node_s']} / {r['frames_per_node_s_predicted']} "
            f"| {r['mean_frame_bytes']:,} / {r['frame_bytes_predicted']:,} | {r['wall_s']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--nodes", type=int, action="append", help="cluster size (repeat; default 100 and 300)"
    )
    parser.add_argument("--node-timeout-ms", type=int, default=5000, help="(default 5000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the JSON here")
    parser.add_argument("--md", type=Path, help="write the markdown table here")
    args = parser.parse_args(argv)
    sizes = args.nodes or [100, 300]
    started = time.monotonic()
    checked = self_check()
    print(f"size check: {checked} frames, wire_size == len(encode(...))", file=sys.stderr)
    rows = []
    for nodes in sizes:
        print(f"{nodes} nodes ...", file=sys.stderr, flush=True)
        row = measure(nodes, args.node_timeout_ms, args.seed)
        print(f"  {row}", file=sys.stderr, flush=True)
        rows.append(row)
    result = {
        "benchmark": "gossip_cluster core at scale, simulated",
        "command": "python bench/bench_gossip_scale.py " + " ".join(argv or sys.argv[1:]),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "formulas": {
            "pings_per_node_s": "1 + (N-1) / (node_timeout/2)",
            "gossip_entries": "min(N-2, max(3, N/10))",
            "bytes_per_node_s": "2 * pings * (2256 + 104 * entries)  (ping + pong)",
            "fail_ms": "node_timeout .. 1.5 * node_timeout + cron, plus report gathering",
        },
        "size_check_frames": checked,
        "rows": rows,
        "seconds": round(time.monotonic() - started, 1),
    }
    text = json.dumps(result, indent=2)
    print(text)
    md = markdown(rows)
    print("\n" + md)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.md is not None:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(md + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
