"""The side-by-side Sentinel study: one failover with real Sentinels, one with sentinel_lab.

Each run starts the same topology in a fresh lab: 1 master, 2 replicas
(``repl-diskless-sync-delay 0`` so that the setup does not wait 5 s), 3 sentinels with
quorum 2, ``down-after-milliseconds`` 1000 (``--down-after-ms``), ``failover-timeout``
10000 and ``parallel-syncs`` 1; every other setting is Redis's default. Then it SIGKILLs
the master (t=0) and watches three clients at once:

- the probe: a redis-py ``Sentinel`` over all three sentinels, one ``discover_master`` and
  one SET per attempt, no retries: "first write" is when the new master accepted one;
- the application: ``Sentinel.master_for`` writing in a loop (0.2 s timeouts, 10 ms
  between attempts): its errors, its outage (kill to first acknowledged write) and its
  slowest operation;
- the poller: ``SENTINEL GET-MASTER-ADDR-BY-NAME`` on each sentinel every 10 ms: when
  each one first names the new master.

From the sentinels' logs: per sentinel, the first ``+sdown``, ``+odown`` (about the
master), ``+elected-leader``, ``+promoted-slave`` and ``+switch-master``.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from labkit.events import Event
from labkit.realredis import Lab, RedisProcess, ReplicationGroup, TopologyError, wait_until
from labkit.realredis.labsentinel import start_lab_sentinel
from labkit.realredis.topology import sentinel_discovered
from labkit.timeline.merge import Anchor, Timeline, first_occurrences, merge
from labkit.timeline.redislog import read_log

__all__ = [
    "KINDS",
    "PHASES",
    "ClientOutage",
    "FailoverRun",
    "StudySettings",
    "run_failover",
    "run_side_by_side",
]

MASTER_NAME = "mymaster"
KINDS = ("real", "ours", "ours-early")
"""Real Sentinels; sentinel_lab with Redis's behaviour; sentinel_lab with the early switch."""
PHASES = ("+sdown", "+odown", "+elected-leader", "+promoted-slave", "+switch-master")
_NOISE = ("Sentinel new configuration saved on disk",)
_REPLICA_LINES = (
    "Connection with master lost",
    "MASTER MODE enabled",
    "Connecting to MASTER",
    "REPLICAOF",
    "MASTER <-> REPLICA sync: Finished with success",
    "Successful partial resynchronization",
)
_FAST: dict[str, Any] = {
    "socket_timeout": 0.2,
    "socket_connect_timeout": 0.2,
    "retry": Retry(NoBackoff(), 0),
}


@dataclass(frozen=True, slots=True)
class StudySettings:
    """The sentinels' settings (the same for both kinds)."""

    down_after_ms: int = 1000
    failover_timeout_ms: int = 10_000
    quorum: int = 2


@dataclass(frozen=True, slots=True)
class ClientOutage:
    """What the ``master_for`` client saw from the kill until its first acknowledged write."""

    errors: int
    outage_s: float | None
    max_latency_s: float
    writes_before_kill: int


@dataclass(slots=True)
class FailoverRun:
    """One failover, seen by the clients and the sentinels' logs."""

    kind: str
    old_master: str
    new_master: str
    zero: Anchor
    first_write_s: float
    probe_failures: int
    client: ClientOutage
    addr_switch_s: dict[str, float | None]
    """Per sentinel: when GET-MASTER-ADDR-BY-NAME first named a master other than the old."""
    phases: dict[str, dict[str, int | None]]
    """Per sentinel: ns from the kill to the first occurrence of each of PHASES."""
    timeline: Timeline
    sentinels: list[str] = field(default_factory=list)

    @property
    def leader(self) -> str | None:
        return next((s for s in self.sentinels if self.phases[s]["+elected-leader"]), None)

    def phase_s(self, phase: str, pick: Callable[[list[float]], float] = min) -> float | None:
        """A phase over the sentinels that logged it (first by default), in seconds."""
        times = [v / 1e9 for s in self.sentinels if (v := self.phases[s][phase]) is not None]
        return pick(times) if times else None


class _Writer(threading.Thread):
    """The application client: SET in a loop through ``Sentinel.master_for``."""

    def __init__(self, sentinels: list[tuple[str, int]]) -> None:
        super().__init__(daemon=True, name="study-writer")
        manager = Sentinel(sentinels, sentinel_kwargs=_FAST, **_FAST)  # type: ignore[no-untyped-call]
        self.client = manager.master_for(MASTER_NAME, **_FAST)  # type: ignore[no-untyped-call]
        self.stop = threading.Event()
        self.ops: list[tuple[float, float, bool]] = []
        """(start, end, ok) in monotonic seconds."""

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            started = time.monotonic()
            ok = True
            try:
                self.client.set("study:key", i)
            except (redis.exceptions.RedisError, OSError):
                ok = False
            self.ops.append((started, time.monotonic(), ok))
            i += 1
            self.stop.wait(0.01)

    def outage(self, kill_s: float) -> ClientOutage:
        after = [op for op in self.ops if op[1] >= kill_s]
        first_ok = next((op for op in after if op[2] and op[0] >= kill_s), None)
        window = [op for op in after if first_ok is None or op[0] <= first_ok[0]]
        return ClientOutage(
            errors=sum(1 for op in window if not op[2]),
            outage_s=None if first_ok is None else first_ok[1] - kill_s,
            max_latency_s=max((op[1] - max(op[0], kill_s) for op in window), default=0.0),
            writes_before_kill=sum(1 for op in self.ops if op[2] and op[1] < kill_s),
        )


class _Poller(threading.Thread):
    """GET-MASTER-ADDR-BY-NAME on every sentinel every 10 ms."""

    def __init__(self, sentinels: list[RedisProcess], old: str, kill_s: float) -> None:
        super().__init__(daemon=True, name="study-poller")
        self.sentinels = sentinels
        self.old = old
        self.kill_s = kill_s
        self.stop = threading.Event()
        self.switched: dict[str, float | None] = {s.name: None for s in sentinels}

    def run(self) -> None:
        conns = {s.name: redis.Redis(host=s.host, port=s.port, **_FAST) for s in self.sentinels}
        try:
            while not self.stop.is_set() and None in self.switched.values():
                for name, conn in conns.items():
                    if self.switched[name] is not None:
                        continue
                    with contextlib.suppress(redis.exceptions.RedisError, OSError):
                        reply = conn.execute_command(  # type: ignore[no-untyped-call]
                            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME
                        )
                        addr = f"{reply[0].decode()}:{int(reply[1])}"
                        if addr != self.old:
                            self.switched[name] = time.monotonic() - self.kill_s
                self.stop.wait(0.01)
        finally:
            for conn in conns.values():
                conn.close()


def _probe(sentinels: list[tuple[str, int]], old: str, deadline_s: float) -> tuple[str, float, int]:
    """Discover and SET until a master other than ``old`` accepts: (address, mono s, failures)."""
    client = Sentinel(sentinels, sentinel_kwargs=_FAST, **_FAST)  # type: ignore[no-untyped-call]
    failures = 0
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            host, port = client.discover_master(MASTER_NAME)  # type: ignore[no-untyped-call]
            address = f"{host}:{port}"
            if address != old:
                with redis.Redis(host=host, port=port, **_FAST) as conn:
                    conn.set("study:probe", address)
                return address, time.monotonic(), failures
        except (redis.exceptions.RedisError, OSError):
            pass
        failures += 1
        time.sleep(0.01)
    raise TopologyError(f"no new master accepted a write within {deadline_s:.0f}s of the kill")


def _group(lab: Lab) -> ReplicationGroup:
    return lab.replication_group(2, extra=[("repl-diskless-sync-delay", 0)])


def _sentinels(
    lab: Lab, group: ReplicationGroup, kind: str, s: StudySettings
) -> list[RedisProcess]:
    options: dict[str, Any] = {
        "master_name": MASTER_NAME,
        "quorum": s.quorum,
        "down_after_ms": s.down_after_ms,
        "failover_timeout_ms": s.failover_timeout_ms,
    }
    if kind == "real":
        return lab.sentinel_group(group, 3, **options).sentinels
    args = ("--early-switch",) if kind == "ours-early" else ()
    procs: list[RedisProcess] = [
        start_lab_sentinel(lab, group.master, name=f"lab-sentinel-{i + 1}", args=args, **options)
        for i in range(3)
    ]
    wait_until(
        lambda: all(_discovered(p, 2, 2) for p in procs),
        timeout_s=20,
        what="3 sentinel_lab processes to discover each other",
    )
    return procs


def _discovered(proc: RedisProcess, replicas: int, peers: int) -> bool:
    return sentinel_discovered(proc, MASTER_NAME, replicas, peers)


def _events(proc: RedisProcess, zero: Anchor, *, replica: bool) -> list[Event]:
    parsed = read_log(proc.log_path, source=proc.name)
    if replica:
        return [
            e
            for e in parsed.events
            if e.wall_ns >= zero.wall_ns and any(k in e.message for k in _REPLICA_LINES)
        ]
    return [
        e
        for e in parsed.events
        if e.wall_ns >= zero.wall_ns and not any(k in e.message for k in _NOISE)
    ]


def _about_master(event: Event) -> bool:
    return event.name not in ("+sdown", "+odown") or event.instance.startswith("master ")


def run_failover(
    kind: str,
    settings: StudySettings | None = None,
    *,
    keep: Path | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> FailoverRun:
    """One failover of ``kind`` (one of :data:`KINDS`) in a fresh lab; all torn down after."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    s = settings or StudySettings()
    with Lab() as lab:
        group = _group(lab)
        procs = _sentinels(lab, group, kind, s)
        addrs = [(p.host, p.port) for p in procs]
        old = group.master.address
        writer = _Writer(addrs)
        writer.start()
        try:
            wait_until(
                lambda: sum(1 for op in writer.ops if op[2]) >= 5,
                timeout_s=10,
                what="the client to write through the sentinels",
            )
            kill_s = time.monotonic()
            zero = Anchor(wall_ns=time.time_ns(), mono_ns=int(kill_s * 1e9))
            group.master.kill()
            poller = _Poller(procs, old, kill_s)
            poller.start()
            new, written_at, failures = _probe(addrs, old, 4 * s.failover_timeout_ms / 1000)
            wait_until(
                lambda: all(f"+switch-master {MASTER_NAME} " in p.log_text() for p in procs),
                timeout_s=2 * s.failover_timeout_ms / 1000,
                what="every sentinel to log +switch-master",
            )
            wait_until(
                lambda: any(op[2] and op[0] >= kill_s for op in writer.ops),
                timeout_s=10,
                what="the master_for client to write again",
            )
            poller.stop.set()
            poller.join(timeout=5)
        finally:
            writer.stop.set()
            writer.join(timeout=5)
        sources = [_events(p, zero, replica=False) for p in procs]
        sources += [_events(r, zero, replica=True) for r in group.replicas]
        timeline = merge(sources, zero.wall_ns)
        names = [p.name for p in procs]
        firsts = first_occurrences(timeline, PHASES, where=_about_master, after_zero=True)
        run = FailoverRun(
            kind=kind,
            old_master=old,
            new_master=new,
            zero=zero,
            first_write_s=written_at - kill_s,
            probe_failures=failures,
            client=writer.outage(kill_s),
            addr_switch_s=dict(poller.switched),
            phases={n: firsts.get(n, dict.fromkeys(PHASES)) for n in names},
            timeline=timeline,
            sentinels=names,
        )
        say(
            f"  [{kind}] first write on {new} at +{run.first_write_s:.2f}s; "
            f"client outage {_fmt(run.client.outage_s)} with {run.client.errors} errors"
        )
        if keep is not None:
            shutil.copytree(lab.base_dir, keep, dirs_exist_ok=True)
        return run


def run_side_by_side(
    runs: int,
    settings: StudySettings | None = None,
    *,
    early_switch: bool = False,
    keep: Path | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> list[FailoverRun]:
    """``runs`` failovers of each kind, interleaved (real, ours[, ours-early], real, ...)
    so that a drift of the machine hits every kind alike."""
    kinds = ["real", "ours", *(["ours-early"] if early_switch else [])]
    out: list[FailoverRun] = []
    for number in range(runs):
        for kind in kinds:
            say(f"run {number + 1}/{runs}: {kind} ...")
            folder = None if keep is None else keep / f"{kind}-{number + 1}"
            out.append(run_failover(kind, settings, keep=folder, say=say))
    return out


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"
