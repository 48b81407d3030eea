"""Scripted faults at the worst moments, run in the simulator or against real shards.

One transfer ``t1`` (A1 on p1 pays B1 on p2 and C1 on p3) runs through coordinator
``c``; a conflicting transfer ``t2`` (A1 again) goes through a second coordinator
``c2`` while the fault lasts, so a refusal shows locks held in doubt. Faults:

* ``none``;
* ``coordinator-crash``: once every participant has voted yes, ``c``'s decision is
  lost and ``c`` is down for ``down_ms``;
* ``coordinator-participant-crash``: only p1 hears the decision (the commit; in 3PC
  after every participant pre-committed), then ``c`` and p1 (with its redis-server)
  are down for ``down_ms``;
* ``partition``: only p1 hears the next message after the votes (3PC: PreCommit),
  then {c, p1, g1} and {p2, p3, g2, g3} are cut apart for ``down_ms``.

:class:`Script` works on :class:`labkit.sim.Simulator` and on
:class:`commit_lab.driver.RealWorld` alike (both have ``network``, ``crash``,
``restart``, ``at``, ``request`` and ``last_step``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from commit_lab.checkers import Ledger, audit
from commit_lab.control import ParticipantView
from commit_lab.core.consensus_decision import Propose
from commit_lab.core.messages import (
    Decided,
    Leg,
    OnePhaseApplied,
    OnePhaseWrite,
    PreCommitted,
    Prepared,
    Transfer,
    TxOutcome,
)
from commit_lab.core.participant import Participant
from commit_lab.errors import CommitLabError
from labkit.actions import Persist, Send
from labkit.events import Event

__all__ = ["FAULTS", "ROUND_TRIPS", "SECOND", "T1", "T2", "Script", "Verdict", "verdict"]

FAULTS = ("none", "coordinator-crash", "coordinator-participant-crash", "partition")
SECOND = "c2"
T1 = Transfer("t1", (Leg("A1", -20), Leg("B1", 10), Leg("C1", 10)))
T2 = Transfer("t2", (Leg("A1", -5), Leg("B2", 5)))
PARTS = ("p1", "p2", "p3")
ROUND_TRIPS = {"1pc": "1", "2pc": "2", "3pc": "3", "2pc-consensus": "2 + group"}
"""Message round trips between coordinator and participants in a fault-free commit."""


@dataclass(slots=True)
class Script:
    """The nemesis and the observer of one scripted run (install with ``add_invariant``)."""

    world: Any
    protocol: str
    fault: str
    down_ms: int
    ledger: Ledger = field(default_factory=lambda: Ledger(PARTS))
    prepared: set[str] = field(default_factory=set)
    precommitted: set[str] = field(default_factory=set)
    decided: dict[str, bool] = field(default_factory=dict)
    fired: set[str] = field(default_factory=set)
    notes: list[tuple[int, str, str]] = field(default_factory=list)
    fault_start_ms: int = -1
    fault_end_ms: int = -1

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise CommitLabError(f"unknown fault {self.fault!r}; known: {', '.join(FAULTS)}")

    def install(self, start_ms: int) -> None:
        self.world.add_invariant("script", self)
        self.world.request("c", T1, client="client1", at_ms=start_ms)

    def __call__(self, world: Any) -> None:
        step = world.last_step
        if step is None:
            return
        self.ledger.observe(step.node, step.actions, world.now_ms)
        sent_writes = False
        for action in step.actions:
            if isinstance(action, Persist):
                self._record(step.node, action.record)
            elif isinstance(action, Send) and step.node == "c":
                sent_writes |= isinstance(action.message, OnePhaseWrite | Propose)
        self._trigger(sent_writes)

    def _record(self, node: str, record: object) -> None:
        if getattr(record, "txid", None) != T1.txid:
            return
        if isinstance(record, Prepared):
            self.prepared.add(node)
        elif isinstance(record, PreCommitted):
            self.precommitted.add(node)
        elif isinstance(record, Decided):
            self.decided[node] = record.commit
        elif isinstance(record, OnePhaseApplied):
            self.decided[node] = True

    def _once(self, name: str, condition: bool, action: Callable[[], None]) -> None:
        if condition and name not in self.fired:
            self.fired.add(name)
            action()

    def _trigger(self, sent_writes: bool) -> None:
        onepc = self.protocol == "1pc"
        voted = len(self.prepared) == len(PARTS) or (onepc and sent_writes)
        if self.fault == "coordinator-crash":
            self._once("crash", voted, self._crash_coordinator)
        elif self.fault == "coordinator-participant-crash":
            ready = len(self.precommitted) == len(PARTS) if self.protocol == "3pc" else voted
            self._once("cut", ready, self._cut_others)
            self._once("crash", self.decided.get("p1") is True, self._crash_both)
        elif self.fault == "partition":
            self._once("cut", voted, self._cut_others)
            moved = (
                "p1" in self.precommitted
                or "p1" in self.decided
                or (self.protocol == "2pc-consensus" and "cut" in self.fired and sent_writes)
            )
            self._once("split", moved or (onepc and voted), self._split)

    # -- faults ----------------------------------------------------------------------
    def _note(self, name: str, details: str) -> None:
        self.notes.append((self.world.now_ms, name, details))

    def _window(self) -> None:
        now = self.world.now_ms
        self.fault_start_ms, self.fault_end_ms = now, now + self.down_ms
        self.world.request(SECOND, T2, client="client2", at_ms=now + self.down_ms // 2)

    def _crash_coordinator(self) -> None:
        w = self.world
        for p in PARTS if self.protocol != "1pc" else PARTS[1:]:
            w.network.cut("c", p)
        self._note("+crash", "c, after every yes vote (its decision is lost)")
        w.crash("c")
        self._window()
        w.at(self.fault_end_ms, lambda: self._restart(("c",)))

    def _cut_others(self) -> None:
        for p in PARTS[1:]:
            self.world.network.cut("c", p)
        self._note("+cut", "c -> p2, p3: only p1 hears the next message")

    def _crash_both(self) -> None:
        w = self.world
        self._note("+crash", "c and p1, after p1 committed")
        w.crash("c")
        w.crash("p1")
        self._window()
        w.at(self.fault_end_ms, lambda: self._restart(("c", "p1")))

    def _split(self) -> None:
        w = self.world
        left, right = ("c", "p1", "g1"), ("p2", "p3", "g2", "g3")
        w.network.heal()
        w.network.partition([left, right])
        self._note("+partition", "{c, p1, g1} | {p2, p3, g2, g3}")
        self._window()
        w.at(self.fault_end_ms, self._heal)

    def _restart(self, names: tuple[str, ...]) -> None:
        self.world.network.heal()
        for name in names:
            self.world.restart(name)
        self._note("+heal", f"restarted {', '.join(names)}")

    def _heal(self) -> None:
        self.world.network.heal()
        self._note("+heal", "partition healed")

    # -- reading the run -------------------------------------------------------------
    def events(self, to_event: Callable[[int], tuple[int, int]]) -> list[Event]:
        """The script's notes as timeline events; ``to_event`` maps ms to (wall, mono) ns."""
        out = []
        for ms, name, details in self.notes:
            wall, mono = to_event(ms)
            out.append(
                Event(source="nemesis", name=name, wall_ns=wall, mono_ns=mono, details=details)
            )
        return out

    def resolved(self, world: Any) -> bool:
        """Faults over, t1 decided everywhere, t2 answered, no participant in doubt."""
        if self.fault != "none" and (
            not self.fired or self.fault_end_ms < 0 or world.now_ms < self.fault_end_ms
        ):
            return False
        cores = participants(world)
        if len(cores) != len(PARTS) or any(core.pending for core in cores.values()):
            return False
        if any(T1.txid not in core.outcomes for core in cores.values()) and self.protocol != "1pc":
            return False
        if self.protocol == "1pc" and self.fault == "none" and not _answered(world, "client1"):
            return False
        return self.fault == "none" or _answered(world, "client2")


def participants(world: Any) -> dict[str, Participant | ParticipantView]:
    """The live participants' cores (or, for agent processes, views of them)."""
    out: dict[str, Participant | ParticipantView] = {}
    for name in PARTS:
        core = world.nodes[name].core
        if isinstance(core, Participant | ParticipantView):
            out[name] = core
    return out


def _answered(world: Any, client: str) -> bool:
    return any(reply.client == client for reply in world.replies)


def _reply(world: Any, client: str) -> str:
    for reply in world.replies:
        if reply.client == client:
            value = reply.value
            if isinstance(value, TxOutcome):
                return f"{value.status}" + (f" ({value.reason})" if value.reason else "")
            return repr(value)
    return "no answer"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one scripted run showed."""

    protocol: str
    fault: str
    where: str
    atomic: bool
    problems: tuple[str, ...]
    t1: tuple[tuple[str, bool | None], ...]
    t1_reply: str
    t2_reply: str
    in_doubt_ms: int
    messages: int
    durable_writes: int
    elapsed_ms: int
    register: str = ""  # the consensus variant on real Redis: what the Raft nodes hold

    @property
    def round_trips(self) -> str:
        return ROUND_TRIPS[self.protocol]

    def line(self) -> str:
        """One line: the verdict a demonstration prints."""
        outcomes = " ".join(
            f"{p}={'commit' if c else 'abort' if c is False else '?'}" for p, c in self.t1
        )
        atomic = "ATOMIC" if self.atomic else "NOT ATOMIC"
        register = f"; decision register: {self.register}" if self.register else ""
        return (
            f"{self.protocol} / {self.fault} ({self.where}): {atomic}; t1 {outcomes}; "
            f"in doubt up to {self.in_doubt_ms} ms; conflicting t2: {self.t2_reply}{register}"
        )


def verdict(script: Script, world: Any, where: str, elapsed_ms: int) -> Verdict:
    """Audit the end state and sum up the run."""
    cores = participants(world)
    members = {T1.txid: PARTS, T2.txid: ("p1", "p2")}
    result = audit(cores, members, sum(sum(c.balances.values()) for c in cores.values()))
    expected = 100 * 9
    problems = list(script.ledger.violations) + list(result.problems)
    if result.total != expected:
        problems.append(f"conservation: total balance {result.total}, expected {expected}")
    t1 = tuple((p, cores[p].outcomes.get(T1.txid) if p in cores else None) for p in PARTS)
    return Verdict(
        protocol=script.protocol,
        fault=script.fault,
        where=where,
        atomic=not any(p.startswith(("atomicity", "conservation")) for p in problems),
        problems=tuple(dict.fromkeys(problems)),
        t1=t1,
        t1_reply=_reply(world, "client1"),
        t2_reply=_reply(world, "client2") if script.fault != "none" else "not sent",
        in_doubt_ms=max(
            (ms for (node, txid), ms in script.ledger.in_doubt_ms.items() if txid == T1.txid),
            default=0,
        ),
        messages=script.ledger.messages,
        durable_writes=script.ledger.durable_writes,
        elapsed_ms=elapsed_ms,
    )
