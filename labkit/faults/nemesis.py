"""Nemeses on processes, and a seeded fault schedule that drives every nemesis.

A schedule is data: a list of :class:`Fault` (when, what, on which target, for how long),
drawn from one seed by :func:`plan`, printable and replayable. :class:`ScheduleRunner`
applies it on wall-clock time in a background thread and records every start and end
as an :class:`~labkit.events.Event` (source ``nemesis``) for the timeline.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

from labkit.errors import LabError
from labkit.events import Event
from labkit.faults.hostile import SecondAdmin, hostile_clients
from labkit.faults.proxy import ProxyHub
from labkit.realredis.process import RedisProcess

__all__ = [
    "Fault",
    "FaultKind",
    "NemesisError",
    "ScheduleRunner",
    "plan",
]

FaultKind = Literal["kill", "pause", "hostile", "admin", "partition", "delay", "throttle", "reset"]
PROCESS_FAULTS: tuple[FaultKind, ...] = ("kill", "pause", "hostile", "admin")
INSTANT_FAULTS: tuple[FaultKind, ...] = ("reset", "hostile")
# What plan() draws from by default: an "admin" fault needs a setting to change.
RANDOM_PROCESS_FAULTS: tuple[FaultKind, ...] = ("kill", "pause", "hostile")
LINK_FAULTS: tuple[FaultKind, ...] = ("partition", "delay", "throttle", "reset")


class NemesisError(LabError):
    """A schedule names a target that does not exist, or a fault that cannot apply."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: ``kind`` on ``target`` from ``at_s`` (after the run starts) for ``duration_s``.

    Process faults target a process name; link faults a proxy name, optionally only for
    clients from ``source`` (a loopback address). ``amount`` is the delay in ms or the
    rate in bytes/s. A ``reset`` is instantaneous.
    """

    at_s: float
    kind: FaultKind
    target: str
    duration_s: float = 0.0
    source: str = "*"
    amount: float = 0.0
    setting: str = ""
    """For ``admin``: the setting a second administrator changes (``CONFIG SET``)."""
    value: str = ""

    def describe(self) -> str:
        extra = f" source={self.source}" if self.source != "*" else ""
        if self.kind == "admin":
            extra += f" {self.setting}={self.value}"
        if self.kind == "delay":
            extra += f" delay={self.amount:g}ms"
        elif self.kind == "throttle":
            extra += f" rate={self.amount:g}B/s"
        return f"{self.kind} {self.target}{extra} for {self.duration_s:.2f}s at +{self.at_s:.2f}s"


def plan(
    rng: random.Random,
    *,
    processes: Sequence[str] = (),
    links: Sequence[str] = (),
    duration_s: float,
    mean_gap_s: float = 2.0,
    mean_fault_s: float = 3.0,
    kinds: Sequence[FaultKind] | None = None,
) -> list[Fault]:
    """A random schedule over ``duration_s``: one fault at a time, gaps between them.

    Every fault ends before ``duration_s``; what comes after is the liveness phase.
    """
    allowed = (
        list(kinds)
        if kinds is not None
        else [
            *(RANDOM_PROCESS_FAULTS if processes else ()),
            *(LINK_FAULTS if links else ()),
        ]
    )
    if not allowed:
        raise NemesisError("a schedule needs at least one process or link to act on")
    faults: list[Fault] = []
    now = rng.expovariate(1 / mean_gap_s)
    while now < duration_s:
        kind = rng.choice(allowed)
        pool = processes if kind in PROCESS_FAULTS else links
        if not pool:
            raise NemesisError(
                f"fault {kind!r} needs a {'process' if kind in PROCESS_FAULTS else 'link'}"
            )
        length = (
            0.0
            if kind in INSTANT_FAULTS
            else min(rng.expovariate(1 / mean_fault_s), duration_s - now)
        )
        amount = {
            "delay": rng.choice((50.0, 200.0, 1000.0)),
            "throttle": rng.choice((10_000.0, 100_000.0)),
        }.get(kind, 0.0)
        faults.append(
            Fault(round(now, 3), kind, rng.choice(list(pool)), round(length, 3), amount=amount)
        )
        now += length + rng.expovariate(1 / mean_gap_s)
    return faults


@dataclass(slots=True)
class _Active:
    fault: Fault
    ends_at: float


@dataclass(slots=True)
class ScheduleRunner:
    """Applies a schedule to real processes and proxy links; always heals on exit.

    ``with ScheduleRunner(schedule, processes=..., hub=...) as runner: ...`` starts the
    clock at entry. On exit every fault still active is ended: paused processes are
    resumed, killed ones restarted, links healed.
    """

    schedule: Sequence[Fault]
    processes: Mapping[str, RedisProcess] = field(default_factory=dict)
    hub: ProxyHub | None = None
    events: list[Event] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _active: list[_Active] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _admin: SecondAdmin = field(default_factory=SecondAdmin)
    _attacks: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        for fault in self.schedule:
            if fault.kind in PROCESS_FAULTS and fault.target not in self.processes:
                raise NemesisError(f"fault {fault.describe()!r}: no process named {fault.target!r}")
            if fault.kind in LINK_FAULTS and (
                self.hub is None or fault.target not in self.hub.proxies
            ):
                raise NemesisError(
                    f"fault {fault.describe()!r}: no proxy link named {fault.target!r}"
                )

    def __enter__(self) -> ScheduleRunner:
        self._thread = threading.Thread(target=self._run, name="nemesis", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until the schedule has run out (every fault started and ended)."""
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Stop applying faults and end every active one."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for attack in self._attacks:
            attack.join(timeout=30)
        with self._lock:
            for active in list(self._active):
                self._end(active.fault)
            self._active.clear()

    # -- the loop -----------------------------------------------------------------------

    def _run(self) -> None:
        started = time.monotonic()
        pending = sorted(self.schedule, key=lambda f: f.at_s)
        while not self._stop.is_set() and (pending or self._active):
            now = time.monotonic() - started
            with self._lock:
                for active in [a for a in self._active if a.ends_at <= now]:
                    self._end(active.fault)
                    self._active.remove(active)
                while pending and pending[0].at_s <= now:
                    fault = pending.pop(0)
                    self._begin(fault)
                    if fault.kind not in INSTANT_FAULTS:
                        self._active.append(_Active(fault, fault.at_s + fault.duration_s))
            upcoming = [a.ends_at for a in self._active] + [f.at_s for f in pending[:1]]
            self._stop.wait(max(0.0, min(upcoming, default=now) - (time.monotonic() - started)))

    def _record(self, name: str, fault: Fault) -> None:
        self.events.append(
            Event(
                source="nemesis",
                name=name,
                wall_ns=time.time_ns(),
                mono_ns=time.monotonic_ns(),
                instance=f"{'process' if fault.kind in PROCESS_FAULTS else 'link'} {fault.target}",
                details=fault.describe(),
            )
        )

    def _begin(self, fault: Fault) -> None:
        try:
            if fault.kind == "kill":
                self.processes[fault.target].kill()
            elif fault.kind == "pause":
                self.processes[fault.target].pause()
            elif fault.kind == "hostile":  # in its own thread: some payloads wait for a reply
                proc = self.processes[fault.target]
                attack = threading.Thread(
                    target=hostile_clients,
                    args=(proc.host, proc.port),
                    kwargs={"seed": int(fault.at_s * 1000)},
                    name="nemesis-hostile",
                    daemon=True,
                )
                attack.start()
                self._attacks.append(attack)
            elif fault.kind == "admin":
                proc = self.processes[fault.target]
                self._admin.password = proc.password
                self._admin.config_set(proc.host, proc.port, fault.setting, fault.value)
            else:
                assert self.hub is not None
                if fault.kind == "partition":
                    self.hub.partition(fault.target, source=fault.source)
                elif fault.kind == "delay":
                    self.hub.delay(
                        fault.target, fault.amount, jitter_ms=fault.amount / 5, source=fault.source
                    )
                elif fault.kind == "throttle":
                    self.hub.throttle(fault.target, fault.amount, source=fault.source)
                else:
                    self.hub.reset(fault.target, source=fault.source)
            self._record(f"+{fault.kind}", fault)
        except Exception as exc:  # a nemesis must not die mid-run: say what failed
            self.errors.append(f"starting {fault.describe()}: {exc}")

    def _end(self, fault: Fault) -> None:
        try:
            if fault.kind == "kill":
                self.processes[fault.target].start()
            elif fault.kind == "pause":
                self.processes[fault.target].resume()
            elif fault.kind == "admin":
                self._admin.undo_all()
            else:
                assert self.hub is not None
                self.hub.heal(fault.target, source=None if fault.source == "*" else fault.source)
            self._record(f"-{fault.kind}", fault)
        except Exception as exc:
            self.errors.append(f"ending {fault.describe()}: {exc}")
