"""redis_raft throughput and latency beside plain Redis, Redis + WAIT and PySyncObj.

Every system runs on loopback in the same run, with the same load: ``C`` client threads
(redis-py, one connection each), each issuing ``SET bench:<client>:<n % 1000> <10 bytes>``
back to back for ``--duration`` seconds; throughput is completed SETs per second, and
p50/p99 the per-SET latency. The systems:

* ``redis``: one plain redis-server (persistence off), the ceiling; ``redis-benchmark``
  (``-t set -d 10 -P 1``) on the same server is reported too, as a client-independent
  ceiling;
* ``redis+wait``: a master with ``appendonly yes`` / ``appendfsync always`` and one
  replica; each SET is followed by ``WAIT 1 1000`` (pipelined), so it returns once the
  master fsynced it and the replica holds it in memory;
* ``redis_raft fsync=always`` / ``fsync=no``: 3 nodes, clients on the leader;
* ``pysyncobj``: PySyncObj (from PyPI) 3 nodes in 3 processes, a replicated dict, in-memory
  log (it never fsyncs); the leader proposes ``C`` SETs at a time (a bounded number in
  flight, as one client thread each would) and counts committed ones; also at
  ``--pysyncobj-inflight`` (200 and 2,000 by default), where its 100 ms append period
  stops dominating.

``--deep CxD`` (default ``50x40``) adds a high in-flight cell for every system: ``C``
client threads that each pipeline ``D`` SETs per round trip (for Redis + WAIT, the
``D`` SETs and one ``WAIT 1`` after them), so ``C*D`` writes are in flight, the same
number as PySyncObj's ``--pysyncobj-inflight`` cell; each SET's latency is its round
trip. Ratios compare rows with the same number in flight.

Results go to ``--out`` (JSON) and a markdown table beside it (``.md``), with ratios of
each system to plain Redis, to Redis + WAIT and to PySyncObj at the same concurrency.
Run: ``.venv/bin/python bench/bench_raft.py --out bench/results/raft.json``.
PySyncObj is a benchmark-only dependency (``pip install pysyncobj``); without it that
column is skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from labkit.realredis import Lab, reaper
from labkit.realredis.labraft import start_raft_cluster
from labkit.realredis.ports import free_port

VALUE = "x" * 10
HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Result:
    system: str
    clients: int
    ops: int
    seconds: float
    ops_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    depth: int = 1
    """SETs each client pipelines per round trip."""

    @property
    def inflight(self) -> int:
        return self.clients * self.depth


def _percentile(values: Sequence[int], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


def _result(
    system: str, clients: int, lat_ns: list[int], seconds: float, errors: int, depth: int = 1
) -> Result:
    return Result(
        system,
        clients,
        len(lat_ns),
        round(seconds, 3),
        round(len(lat_ns) / seconds, 1),
        _percentile(lat_ns, 0.50),
        _percentile(lat_ns, 0.99),
        errors,
        depth,
    )


def _client(port: int) -> redis.Redis:
    return redis.Redis(host=HOST, port=port, socket_timeout=10, retry=Retry(NoBackoff(), 0))


def _set(conn: redis.Redis, keys: list[str]) -> None:
    if len(keys) == 1:
        conn.set(keys[0], VALUE)
        return
    pipe = conn.pipeline(transaction=False)
    for key in keys:
        pipe.set(key, VALUE)
    pipe.execute()


def _set_wait(conn: redis.Redis, keys: list[str]) -> None:
    pipe = conn.pipeline(transaction=False)
    for key in keys:
        pipe.set(key, VALUE)
    pipe.execute_command("WAIT", 1, 1000)  # type: ignore[no-untyped-call]
    *_, acked = pipe.execute()
    if int(acked) < 1:
        raise redis.RedisError("WAIT 1 timed out")


def run_clients(
    system: str,
    port: int,
    op: Callable[[redis.Redis, list[str]], None],
    clients: int,
    duration_s: float,
    depth: int = 1,
) -> Result:
    """``clients`` threads doing ``op`` (``depth`` SETs a round trip) back to back for
    ``duration_s``."""
    latencies: list[list[int]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def loop(index: int) -> None:
        mine = latencies[index]
        with _client(port) as conn:
            conn.ping()
            start.wait()
            n = 0
            while time.perf_counter() < stop_at[0]:
                keys = [f"bench:{index}:{(n + i) % 1000}" for i in range(depth)]
                t0 = time.perf_counter_ns()
                try:
                    op(conn, keys)
                except redis.RedisError:
                    errors[index] += depth
                    continue
                finally:
                    n += depth
                mine.extend([time.perf_counter_ns() - t0] * depth)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + duration_s
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join(duration_s + 30)
    elapsed = time.perf_counter() - began
    flat = [x for per in latencies for x in per]
    return _result(system, clients, flat, elapsed, sum(errors), depth)


def redis_benchmark(port: int, clients: int, requests: int) -> float | None:
    """SETs/s that ``redis-benchmark`` reaches on the server (no pipelining)."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return None
    out = subprocess.run(
        [
            binary,
            "-h",
            HOST,
            "-p",
            str(port),
            "-t",
            "set",
            "-d",
            "10",
            "-c",
            str(clients),
            "-n",
            str(requests),
            "-r",
            "1000",
            "--csv",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for line in out.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if cells and cells[0] == "SET":
            return float(cells[1])
    return None


# -- PySyncObj -------------------------------------------------------------------------
def _pysyncobj_bench(store: Any, success: object, inflight: int, duration_s: float) -> Result:
    """Propose SETs from the leader with ``inflight`` outstanding; count committed ones."""
    lat: list[int] = []
    fails = [0]
    slots = threading.Semaphore(inflight)

    def submit(n: int) -> None:
        t0 = time.perf_counter_ns()

        def done(_res: object, err: object) -> None:
            if err == success:
                lat.append(time.perf_counter_ns() - t0)
            else:
                fails[0] += 1
            slots.release()

        store.set(f"bench:{n % 1000}", VALUE, callback=done)

    began = time.perf_counter()
    end = began + duration_s
    n = 0
    while time.perf_counter() < end:
        if slots.acquire(timeout=0.1):
            submit(n)
            n += 1
    for _ in range(inflight):  # wait for the last ones
        slots.acquire(timeout=10)
    return _result("pysyncobj", inflight, lat, time.perf_counter() - began, fails[0])


def pysyncobj_node(self_port: int, partners: list[int]) -> int:
    """One PySyncObj node (a child process); answers ``leader?`` and ``bench C S`` on stdin."""
    # Imported by name: a benchmark-only dependency, absent where mypy runs in CI.
    pysyncobj = importlib.import_module("pysyncobj")
    batteries = importlib.import_module("pysyncobj.batteries")
    FAIL_REASON, SyncObj = pysyncobj.FAIL_REASON, pysyncobj.SyncObj  # noqa: N806
    store = batteries.ReplDict()
    node = SyncObj(f"{HOST}:{self_port}", [f"{HOST}:{p}" for p in partners], consumers=[store])
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["leader?"]:
            print(json.dumps({"leader": bool(node._isLeader())}), flush=True)
        elif words[:1] == ["bench"]:
            result = _pysyncobj_bench(store, FAIL_REASON.SUCCESS, int(words[1]), float(words[2]))
            print(json.dumps(asdict(result)), flush=True)
        elif words[:1] == ["quit"]:
            break
    node.destroy()
    return 0


@contextlib.contextmanager
def pysyncobj_cluster() -> Iterator[subprocess.Popen[str]]:
    """Three PySyncObj node processes; yields the leader's."""
    ports = [free_port(HOST) for _ in range(3)]
    procs: list[subprocess.Popen[str]] = []
    try:
        for port in ports:
            others = [str(p) for p in ports if p != port]
            proc = subprocess.Popen(
                [sys.executable, __file__, "--pysyncobj-node", str(port), *others],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                preexec_fn=reaper.child_preexec(),  # noqa: PLW1509 - PDEATHSIG
            )
            reaper.register(proc)  # type: ignore[arg-type]
            procs.append(proc)
        deadline = time.monotonic() + 30
        while True:
            leaders = []
            for proc in procs:
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write("leader?\n")
                proc.stdin.flush()
                if json.loads(proc.stdout.readline())["leader"]:
                    leaders.append(proc)
            if len(leaders) == 1:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("PySyncObj elected no leader in 30 s")
            time.sleep(0.2)
        time.sleep(1.0)  # let the followers settle
        yield leaders[0]
    finally:
        for proc in procs:
            with contextlib.suppress(OSError, ValueError):
                assert proc.stdin is not None
                proc.stdin.write("quit\n")
                proc.stdin.close()
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def bench_pysyncobj(clients: Sequence[int], duration_s: float) -> list[Result]:
    out = []
    with pysyncobj_cluster() as leader:
        assert leader.stdin is not None and leader.stdout is not None
        for count in clients:
            leader.stdin.write(f"bench {count} {duration_s}\n")
            leader.stdin.flush()
            out.append(Result(**json.loads(leader.stdout.readline())))
    return out


# -- the run -----------------------------------------------------------------------------
def run(
    clients: Sequence[int],
    duration_s: float,
    say: Callable[[str], None],
    pysyncobj_extra: Sequence[int] = (),
    deep: Sequence[tuple[int, int]] = (),
) -> dict[str, Any]:
    results: list[Result] = []
    ceiling: dict[str, float | None] = {}
    cells = [(count, 1) for count in clients] + list(deep)

    def series(system: str, port: int, op: Callable[[redis.Redis, list[str]], None]) -> None:
        for count, depth in cells:
            result = run_clients(system, port, op, count, duration_s, depth)
            shape = f"{count:>3} clients" + (f" x {depth} pipelined" if depth > 1 else "")
            say(
                f"  {system:24} {shape}: {result.ops_per_s:>9,.0f} ops/s  "
                f"p50 {result.p50_ms or 0:.2f} ms  p99 {result.p99_ms or 0:.2f} ms"
                + (f"  ({result.errors} errors)" if result.errors else "")
            )
            results.append(result)

    with Lab() as lab:
        plain = lab.server("plain")
        series("redis", plain.port, _set)
        for count in clients:
            ceiling[str(count)] = redis_benchmark(plain.port, count, 100_000)
        say(f"  redis-benchmark SET ceiling: {ceiling}")
        plain.kill()

        master = lab.server("wait-master", extra=[("appendonly", "yes"), ("appendfsync", "always")])
        lab.server("wait-replica", replica_of=master)
        with _client(master.port) as conn:
            deadline = time.monotonic() + 15
            while "online" not in str(conn.info("replication").get("slave0", "")):
                if time.monotonic() > deadline:
                    raise RuntimeError("the replica did not connect")
                time.sleep(0.05)
        series("redis+wait", master.port, _set_wait)

        for fsync in ("always", "no"):
            cluster = start_raft_cluster(lab, 3, extra_args=["--fsync", fsync], prefix=f"r{fsync}")
            leader = cluster.node(cluster.leader())
            series(f"redis_raft fsync={fsync}", leader.port, _set)
            cluster.close()

    if importlib.util.find_spec("pysyncobj") is None:
        say("  pysyncobj is not installed (pip install pysyncobj): skipped")
    else:
        inflight = [*clients, *pysyncobj_extra]
        inflight += [c * d for c, d in deep if c * d not in inflight]
        for result in bench_pysyncobj(inflight, duration_s):
            say(f"  pysyncobj {result.clients:>3} in flight: {result.ops_per_s:>9,.0f} ops/s")
            results.append(result)

    return {
        "benchmark": "raft",
        "command": " ".join(sys.argv),
        "host": {"python": platform.python_version(), "machine": platform.machine()},
        "duration_s": duration_s,
        "results": [{**asdict(r), "inflight": r.inflight} for r in results],
        "redis_benchmark_set_ops_per_s": ceiling,
        "ratios": ratios(results),
    }


def ratios(results: Sequence[Result]) -> list[dict[str, Any]]:
    """Each row against the reference systems with the same number in flight (for
    Redis and Redis + WAIT also the same pipelining)."""
    by = {(r.system, r.clients, r.depth): r.ops_per_s for r in results}
    by_inflight = {(r.system, r.inflight): r.ops_per_s for r in results}
    out = []
    for r in results:
        row: dict[str, Any] = {"system": r.system, "clients": r.clients, "depth": r.depth}
        for base in ("redis", "redis+wait", "pysyncobj"):
            if base == "pysyncobj":
                ref = by_inflight.get((base, r.inflight))
            else:
                ref = by.get((base, r.clients, r.depth))
            row[f"vs_{base}"] = round(r.ops_per_s / ref, 3) if ref else None
        out.append(row)
    return out


def markdown(report: dict[str, Any]) -> str:
    ratio = {(x["system"], x["clients"], x.get("depth", 1)): x for x in report["ratios"]}
    lines = [
        f"# redis_raft beside Redis and PySyncObj ({report['duration_s']:g} s per cell)",
        "",
        f"`{report['command']}`",
        "",
        "| system | clients | in flight | SETs/s | p50 ms | p99 ms | vs Redis | vs Redis+WAIT "
        "| vs PySyncObj |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def cell(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    for r in report["results"]:
        depth = r.get("depth", 1)
        x = ratio[(r["system"], r["clients"], depth)]
        shape = f"{r['clients']}" + (f" x {depth}" if depth > 1 else "")
        lines.append(
            f"| {r['system']} | {shape} | {r['clients'] * depth} | {r['ops_per_s']:,.0f} "
            f"| {cell(r['p50_ms'], '.2f')} "
            f"| {cell(r['p99_ms'], '.2f')} | {cell(x['vs_redis'], '.3f')} "
            f"| {cell(x['vs_redis+wait'], '.2f')} | {cell(x['vs_pysyncobj'], '.2f')} |"
        )
    ceiling = report["redis_benchmark_set_ops_per_s"]
    lines += [
        "",
        "`redis-benchmark -t set -d 10` on the plain server, SETs/s by clients: "
        + ", ".join(f"{c}: {v:,.0f}" for c, v in ceiling.items() if v is not None),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["--pysyncobj-node"]:
        return pysyncobj_node(int(args_in[1]), [int(p) for p in args_in[2:]])
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--clients", default="1,10,50", help="client counts (default 1,10,50)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per cell")
    parser.add_argument(
        "--pysyncobj-inflight",
        default="200,2000",
        help="PySyncObj also at these numbers in flight (its batching needs many; '' for none)",
    )
    parser.add_argument(
        "--deep",
        default="50x40",
        help="also CxD: C clients each pipelining D SETs ('' for none; default 50x40)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here (+ .md)")
    args = parser.parse_args(args_in)
    try:
        clients = [int(c) for c in args.clients.split(",")]
        extra = [int(c) for c in args.pysyncobj_inflight.split(",") if c.strip()]
        deep = [
            (int(c), int(d))
            for c, _, d in (cell.partition("x") for cell in args.deep.split(",") if cell.strip())
        ]
    except ValueError:
        parser.error("--clients, --pysyncobj-inflight and --deep take numbers (--deep: 50x40)")
    if not all(0 < c <= 500 for c in clients) or not 0 < args.duration <= 120:
        parser.error("clients must be 1-500 and --duration 0-120 s")
    if not all(0 < c <= 500 and 0 < d <= 1000 for c, d in deep):
        parser.error("--deep cells are CxD with C 1-500 and D 1-1000")
    report = run(clients, args.duration, lambda line: print(line, flush=True), extra, deep)
    table = markdown(report)
    print("\n" + table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
