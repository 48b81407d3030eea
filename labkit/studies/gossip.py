"""The side-by-side cluster study: one master SIGKILLed in a real Redis Cluster and in a
gossip_cluster one.

Each run starts the same topology in a fresh lab: 3 masters and 3 replicas made by
``redis-cli --cluster create``, every node with the same ``cluster-node-timeout`` (1000 ms
by default, ``--node-timeout-ms``) and Redis's defaults otherwise. Once every replica
synced and every node knows every replica's master, it SIGKILLs the first master (t=0)
and watches:

- the poller: ``CLUSTER NODES`` on every survivor every 10 ms: when each one first flags
  the victim ``fail?`` (PFAIL) or ``fail``, first flags it ``fail``, and first shows the
  victim's replica as a master owning the victim's slots (promoted in its view);
- the application: a redis-py ``RedisCluster`` (0.2 s timeouts) SETting a key of the
  victim's slots in a loop, 10 ms between attempts: its errors and its outage (kill to
  the first acknowledged write).

The survivors' logs (``Marking node ... as failing (quorum reached)``, ``FAIL message
received from``, ``Start of election delayed``, ``Failover election won``, ``Failover
auth granted``, ``configEpoch set to``, ``Cluster state changed``, ...) are merged into a
timeline; gossip_cluster logs the same texts as Redis.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from gossip_cluster.dataplane import key_hash_slot
from gossip_cluster.nodes_conf import NodeLine, parse_line
from gossip_cluster.wire import NodeFlag
from labkit.events import Event
from labkit.realredis import Lab, RedisProcess, TopologyError, wait_until
from labkit.realredis.labgossip import create_cluster_of, start_gossip_node
from labkit.timeline.html import write_html
from labkit.timeline.merge import Anchor, Timeline, merge, side_by_side
from labkit.timeline.report import SummaryTable

__all__ = [
    "FIGURES",
    "KINDS",
    "LOG_LINES",
    "ClusterRun",
    "StudySettings",
    "medians",
    "medians_table",
    "render_medians",
    "run_failover",
    "run_side_by_side",
    "side_by_side",
    "write_report",
]

KINDS = ("real", "ours")
LOG_LINES = (
    "as failing (quorum reached)",
    "FAIL message received from",
    "Start of election delayed",
    "Starting a failover election",
    "Failover election won",
    "Failover auth granted",
    "Failover auth denied",
    "configEpoch set to",
    "Cluster state changed",
    "Connection with master lost",
    "Setting secondary replication ID",
    "MASTER MODE enabled",
    "Clear FAIL state",
)
"""Log messages kept in the timeline (substrings)."""
_FAST: dict[str, Any] = {"socket_timeout": 0.2, "socket_connect_timeout": 0.2}
_FAILING = NodeFlag.FAIL | NodeFlag.PFAIL


@dataclass(frozen=True, slots=True)
class StudySettings:
    """The cluster's settings (the same for both kinds)."""

    node_timeout_ms: int = 1000
    masters: int = 3
    replicas_per_master: int = 1


@dataclass(slots=True)
class ClusterRun:
    """One failover, seen by the poller, the client and the nodes' logs."""

    kind: str
    victim: str
    """The victim's node id."""
    replica: str
    """The node id of the replica that took over."""
    zero: Anchor
    pfail_s: dict[str, float | None]
    """Per survivor (process name): first seen flagging the victim PFAIL or FAIL."""
    fail_s: dict[str, float | None]
    promoted_s: dict[str, float | None]
    """Per survivor: first seen showing the replica as master of the victim's slots."""
    outage_s: float | None
    client_errors: int
    writes_before_kill: int
    timeline: Timeline
    nodes: list[str] = field(default_factory=list)
    log_s: dict[str, float | None] = field(default_factory=dict)
    """First occurrence in any survivor's log of a few LOG_LINES, seconds after the kill."""

    def everywhere(self, which: dict[str, float | None]) -> float | None:
        """When the last survivor got there (None if one never did)."""
        values = list(which.values())
        return None if not values or None in values else max(v for v in values if v is not None)

    def first(self, which: dict[str, float | None]) -> float | None:
        values = [v for v in which.values() if v is not None]
        return min(values) if values else None


# -- the run ----------------------------------------------------------------------------------
def _lines(proc: RedisProcess) -> list[NodeLine]:
    with proc.client() as conn:
        text = str(conn.execute_command("CLUSTER", "NODES"))
    return [parse_line(line) for line in text.splitlines() if line.strip()]


def _myid(proc: RedisProcess) -> str:
    with proc.client() as conn:
        return str(conn.execute_command("CLUSTER", "MYID"))


def _build(lab: Lab, kind: str, s: StudySettings) -> list[RedisProcess]:
    count = s.masters * (1 + s.replicas_per_master)
    nodes: list[RedisProcess]
    if kind == "ours":
        nodes = [start_gossip_node(lab, node_timeout_ms=s.node_timeout_ms) for _ in range(count)]
    else:
        nodes = [lab.cluster_node(node_timeout_ms=s.node_timeout_ms) for _ in range(count)]
    create_cluster_of(
        lab, nodes, replicas_per_master=s.replicas_per_master, node_timeout_ms=s.node_timeout_ms
    )
    replicas = nodes[s.masters :]
    wait_until(
        lambda: all(n.info("replication").get("master_link_status") == "up" for n in replicas),
        timeout_s=20.0,
        what="every replica to sync with its master",
    )
    ids = {_myid(n) for n in nodes[: s.masters]}
    wait_until(
        lambda: all(
            {x.master for x in _lines(n) if x.master is not None} == ids
            and not any(x.flags & _FAILING for x in _lines(n))
            for n in nodes
        ),
        timeout_s=20.0,
        what="every node to know every replica's master",
    )
    return nodes


def _key_in(slots: Sequence[tuple[int, int]]) -> str:
    first, last = slots[0]
    i = 0
    while True:
        key = f"study:{i}"
        if first <= key_hash_slot(key.encode()) <= last:
            return key
        i += 1


class _Writer(threading.Thread):
    """The application: SET one key of the victim's slots through ``RedisCluster``."""

    def __init__(self, seed: RedisProcess, key: str) -> None:
        super().__init__(daemon=True, name="gossip-study-writer")
        self.client = RedisCluster(
            host=seed.host, port=seed.port, retry=Retry(NoBackoff(), 0), **_FAST
        )
        self.key = key
        self.stop = threading.Event()
        self.ops: list[tuple[float, float, bool]] = []

    def run(self) -> None:
        i = 0
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                ok = True
                try:
                    self.client.set(self.key, i)
                except (redis.exceptions.RedisError, OSError, IndexError, KeyError):
                    ok = False
                self.ops.append((started, time.monotonic(), ok))
                i += 1
                self.stop.wait(0.01)
        finally:
            with contextlib.suppress(Exception):
                self.client.close()

    def outage(self, kill_s: float) -> tuple[float | None, int, int]:
        """(kill to first acknowledged write started after it, errors, writes before)."""
        first_ok = next((op for op in self.ops if op[2] and op[0] >= kill_s), None)
        errors = sum(
            1
            for op in self.ops
            if not op[2] and op[1] >= kill_s and (first_ok is None or op[0] <= first_ok[0])
        )
        before = sum(1 for op in self.ops if op[2] and op[1] < kill_s)
        return (None if first_ok is None else first_ok[1] - kill_s), errors, before


class _Poller(threading.Thread):
    """CLUSTER NODES on every survivor every 10 ms."""

    def __init__(
        self,
        alive: Sequence[RedisProcess],
        victim: str,
        replica: str,
        slots: tuple[tuple[int, int], ...],
        kill_s: float,
    ) -> None:
        super().__init__(daemon=True, name="gossip-study-poller")
        self.alive = list(alive)
        self.victim, self.replica, self.slots, self.kill_s = victim, replica, slots, kill_s
        self.stop = threading.Event()
        names = [p.name for p in alive]
        self.pfail: dict[str, float | None] = dict.fromkeys(names)
        self.fail: dict[str, float | None] = dict.fromkeys(names)
        self.promoted: dict[str, float | None] = dict.fromkeys(names)

    def done(self) -> bool:
        return None not in (*self.fail.values(), *self.promoted.values())

    def run(self) -> None:
        conns = {
            p.name: redis.Redis(host=p.host, port=p.port, decode_responses=True, **_FAST)
            for p in self.alive
        }
        try:
            while not self.stop.is_set() and not self.done():
                for name, conn in conns.items():
                    try:
                        reply = conn.execute_command("CLUSTER", "NODES")  # type: ignore[no-untyped-call]
                        text = str(reply)
                        lines = [parse_line(x) for x in text.splitlines() if x.strip()]
                    except (redis.exceptions.RedisError, OSError, ValueError):
                        continue
                    now = time.monotonic() - self.kill_s
                    view = {x.name: x for x in lines}
                    dead, new = view.get(self.victim), view.get(self.replica)
                    if dead is not None and dead.flags & _FAILING and self.pfail[name] is None:
                        self.pfail[name] = now
                    if dead is not None and dead.flags & NodeFlag.FAIL and self.fail[name] is None:
                        self.fail[name] = now
                    if (
                        new is not None
                        and new.flags & NodeFlag.MASTER
                        and new.slots == self.slots
                        and self.promoted[name] is None
                    ):
                        self.promoted[name] = now
                self.stop.wait(0.01)
        finally:
            for conn in conns.values():
                conn.close()


def _events(proc: RedisProcess, zero: Anchor) -> list[Event]:
    from labkit.timeline.redislog import read_log

    parsed = read_log(proc.log_path, source=proc.name)
    return [
        e
        for e in parsed.events
        if e.wall_ns >= zero.wall_ns and any(k in e.name for k in LOG_LINES)
    ]


_LOG_FIGURES = {
    "Marking ... as failing": "as failing (quorum reached)",
    "Failover election won": "Failover election won",
}


def run_failover(
    kind: str,
    settings: StudySettings | None = None,
    *,
    keep: Path | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> ClusterRun:
    """One failover of ``kind`` (``real`` or ``ours``) in a fresh lab; all torn down after."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    s = settings or StudySettings()
    deadline_s = max(20.0, 10 * s.node_timeout_ms / 1000)
    with Lab() as lab:
        nodes = _build(lab, kind, s)
        victim = nodes[0]
        victim_id = _myid(victim)
        view = {x.name: x for x in _lines(victim)}
        slots = view[victim_id].slots
        replica_id = next(x.name for x in view.values() if x.master == victim_id)
        alive = [n for n in nodes if n is not victim]
        writer = _Writer(alive[0], _key_in(slots))
        writer.start()
        poller: _Poller | None = None
        try:
            wait_until(
                lambda: sum(1 for op in writer.ops if op[2]) >= 5,
                timeout_s=10,
                what="the RedisCluster client to write",
            )
            kill_s = time.monotonic()
            zero = Anchor(wall_ns=time.time_ns(), mono_ns=int(kill_s * 1e9))
            victim.kill()
            poller = _Poller(alive, victim_id, replica_id, slots, kill_s)
            poller.start()
            wait_until(
                poller.done,
                timeout_s=deadline_s,
                what="every survivor to flag the victim FAIL and see its replica promoted",
            )
            wait_until(
                lambda: any(op[2] and op[0] >= kill_s for op in writer.ops),
                timeout_s=deadline_s,
                what="the RedisCluster client to write again",
            )
        finally:
            writer.stop.set()
            writer.join(timeout=5)
            if poller is not None:
                poller.stop.set()
                poller.join(timeout=5)
        outage, errors, before = writer.outage(kill_s)
        timeline = merge([_events(p, zero) for p in alive], zero.wall_ns)
        log_s: dict[str, float | None] = {}
        for label, text in _LOG_FIGURES.items():
            hits = [e.rel_ns / 1e9 for e in timeline if text in e.event.name and e.rel_ns >= 0]
            log_s[label] = min(hits) if hits else None
        run = ClusterRun(
            kind=kind,
            victim=victim_id,
            replica=replica_id,
            zero=zero,
            pfail_s=dict(poller.pfail),
            fail_s=dict(poller.fail),
            promoted_s=dict(poller.promoted),
            outage_s=outage,
            client_errors=errors,
            writes_before_kill=before,
            timeline=timeline,
            nodes=[p.name for p in alive],
            log_s=log_s,
        )
        say(
            f"  [{kind}] FAIL everywhere +{_fmt(run.everywhere(run.fail_s))}, promoted "
            f"everywhere +{_fmt(run.everywhere(run.promoted_s))}, client outage "
            f"{_fmt(outage)} with {errors} errors"
        )
        if keep is not None:
            shutil.copytree(lab.base_dir, keep, dirs_exist_ok=True)
        return run


def run_side_by_side(
    runs: int,
    settings: StudySettings | None = None,
    *,
    keep: Path | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> list[ClusterRun]:
    """``runs`` failovers of each kind, interleaved (real, ours, real, ...)."""
    out: list[ClusterRun] = []
    for number in range(runs):
        for kind in KINDS:
            say(f"run {number + 1}/{runs}: {kind} ...")
            folder = None if keep is None else keep / f"{kind}-{number + 1}"
            out.append(run_failover(kind, settings, keep=folder, say=say))
    return out


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


# -- the report -------------------------------------------------------------------------------
Figure = Callable[[ClusterRun], float | None]

FIGURES: tuple[tuple[str, Figure, str], ...] = (
    ("PFAIL (first node)", lambda r: r.first(r.pfail_s), "s"),
    ("PFAIL or FAIL everywhere", lambda r: r.everywhere(r.pfail_s), "s"),
    ("FAIL (first node)", lambda r: r.first(r.fail_s), "s"),
    ("FAIL everywhere", lambda r: r.everywhere(r.fail_s), "s"),
    ("log: Failover election won", lambda r: r.log_s.get("Failover election won"), "s"),
    ("promoted (first view)", lambda r: r.first(r.promoted_s), "s"),
    ("promoted everywhere", lambda r: r.everywhere(r.promoted_s), "s"),
    ("first write via RedisCluster", lambda r: r.outage_s, "s"),
    ("client errors", lambda r: float(r.client_errors), "n"),
)
"""(label, value of one run, unit): seconds after the kill, medians per kind."""
GOALS = ("FAIL everywhere", "promoted everywhere", "first write via RedisCluster")


def medians(runs: Sequence[ClusterRun]) -> dict[str, dict[str, float | None]]:
    """``{figure: {kind: median over the runs of that kind}}``."""
    out: dict[str, dict[str, float | None]] = {}
    for label, figure, _ in FIGURES:
        row: dict[str, float | None] = {}
        for kind in KINDS:
            values = [v for r in runs if r.kind == kind and (v := figure(r)) is not None]
            if any(r.kind == kind for r in runs):
                row[kind] = statistics.median(values) if values else None
        out[label] = row
    return out


def ratio(row: dict[str, float | None]) -> float | None:
    real, ours = row.get("real"), row.get("ours")
    return ours / real if real and ours is not None else None


def medians_table(
    runs: Sequence[ClusterRun],
) -> tuple[tuple[str, ...], list[tuple[str, tuple[str, ...]]]]:
    """Columns and rows of the medians table (cells as text)."""
    table = medians(runs)
    kinds = [k for k in KINDS if any(r.kind == k for r in runs)]
    columns = (*kinds, "ours/real") if len(kinds) == 2 else tuple(kinds)
    rows: list[tuple[str, tuple[str, ...]]] = []
    for label, _, unit in FIGURES:
        row = table[label]
        cells = [_cell(row.get(k), unit) for k in kinds]
        if len(kinds) == 2:
            value = ratio(row)
            cells.append("-" if value is None else f"{value:.2f}")
        rows.append((label, tuple(cells)))
    return columns, rows


def _cell(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if unit == "n" else f"{value:.2f}"


def render_medians(runs: Sequence[ClusterRun]) -> str:
    """The medians table as fixed-width text."""
    columns, rows = medians_table(runs)
    counts = {k: sum(1 for r in runs if r.kind == k) for k in KINDS}
    header = [f"{c} (n={counts[c]})" if c in counts else c for c in columns]
    label_w = max(len(label) for label, _ in rows)
    widths = [max(len(h), *(len(cells[i]) for _, cells in rows)) for i, h in enumerate(header)]
    top = "median, seconds after the kill".ljust(label_w) + "  "
    top += "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))
    lines = [top, "-" * len(top)]
    for label, cells in rows:
        lines.append(
            label.ljust(label_w)
            + "  "
            + "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
        )
    return "\n".join(lines)


def per_node_text(run: ClusterRun) -> str:
    """One run's per-survivor times (seconds after the kill)."""
    head = f"{run.kind + ' node':<16}{'PFAIL/FAIL':>12}{'FAIL':>8}{'promoted':>10}"
    lines = [head]
    for name in run.nodes:
        cells = (run.pfail_s[name], run.fail_s[name], run.promoted_s[name])
        lines.append(
            f"{name:<16}"
            + "".join(
                ("-" if v is None else f"{v:.2f}").rjust(w)
                for v, w in zip(cells, (12, 8, 10), strict=True)
            )
        )
    return "\n".join(lines)


def write_report(
    path: Path,
    runs: Sequence[ClusterRun],
    shown: Sequence[ClusterRun],
    settings: StudySettings,
) -> Path:
    """The HTML report: the medians table, and the timelines of ``shown`` side by side."""
    columns, rows = medians_table(runs)
    summary = [
        (
            f"{r.kind}: one run",
            f"FAIL everywhere +{_fmt(r.everywhere(r.fail_s))}, promoted everywhere "
            f"+{_fmt(r.everywhere(r.promoted_s))}, client outage {_fmt(r.outage_s)} "
            f"({r.client_errors} errors)",
        )
        for r in shown
    ]
    subtitle = (
        f"{settings.masters} masters, {settings.masters * settings.replicas_per_master} "
        f"replicas, cluster-node-timeout {settings.node_timeout_ms} ms; one master SIGKILLed; "
        f"{len(runs)} failovers in all"
    )
    return write_html(
        path,
        side_by_side(shown),
        title="Redis Cluster and gossip_cluster, side by side: master killed",
        subtitle=subtitle,
        summary=summary,
        table=SummaryTable(
            columns, tuple(rows), corner="median", caption="seconds after the kill (n runs each)"
        ),
        zero_label="master killed (SIGKILL)",
    )


def _missing(run: ClusterRun) -> str | None:
    """Why ``run`` did not converge, or None."""
    if run.everywhere(run.fail_s) is None:
        return "not every survivor flagged the victim FAIL"
    if run.everywhere(run.promoted_s) is None:
        return "not every survivor saw the replica promoted"
    if run.outage_s is None:
        return "the client never wrote again"
    return None


def check(run: ClusterRun) -> None:
    """Raise :class:`TopologyError` if ``run`` did not converge."""
    problem = _missing(run)
    if problem is not None:
        raise TopologyError(f"{run.kind}: {problem}")
