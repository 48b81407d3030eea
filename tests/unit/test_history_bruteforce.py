"""The checker against a brute-force reference, on thousands of small random histories.

The reference knows nothing of the checker: its own model semantics, no partitioning by
key, no memo, no linked list. It tries every order that respects real-time precedence:
an ``ok`` operation that returned before another was invoked goes first; ``fail``
operations are left out; an ``info`` operation goes anywhere after its invoke, or
nowhere. The history is linearizable iff some order places every ``ok`` operation.

Histories come from a seeded generator: linearizable by construction (a true sequential
object per key, with random overlaps, timeouts that take effect late or never, and
refusals), then mutated (a read's value changed, a refusal turned into ``ok``) so that
both verdicts are exercised. A failure prints the seed (``pytest --seed N`` replays it)
and the history.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import pytest

from labkit.history import (
    History,
    HistoryEvent,
    Operation,
    Verdict,
    check_linearizability,
    dumps_event,
)
from labkit.history.models import ListModel, OpInput, Output
from labkit.history.ops import Value

MODELS = ("register", "kv", "list", "list-unique", "counter", "set")
"""``list-unique`` is the list model with every appended element unique, as the workloads
write them: the checker then walks the one order the reads allow instead of searching."""
SEEDS_PER_MODEL = 2000
"""Each seed gives one history built linearizable and one mutated: 24,000 histories in all."""

RefState = object


def ref_init(model: str) -> RefState:
    return {"register": None, "kv": None, "list": (), "counter": 0, "set": frozenset()}[model]


def ref_output(model: str, output: Value) -> object:
    """A read's recorded value, as the reference compares it."""
    if model == "list":
        return () if output is None else tuple(output)  # type: ignore[arg-type]
    if model == "set":
        return frozenset() if output is None else frozenset(output)  # type: ignore[arg-type]
    if model == "counter":
        return 0 if output is None else output
    return output


def ref_step(
    model: str, state: RefState, f: str, arg: Value, output: object, known: bool
) -> tuple[bool, RefState]:
    """The reference semantics. ``known`` is False for an info operation (output unseen)."""
    if f in ("read", "get"):
        return (not known or output == state), state
    if model == "register":
        if f == "write":
            return True, arg
        assert isinstance(arg, tuple)
        return state == arg[0], arg[1]
    if model == "kv":
        if f == "put":
            return True, arg
        assert isinstance(arg, str)
        return True, (state if isinstance(state, str) else "") + arg
    if model == "list":
        assert isinstance(state, tuple)
        return True, (*state, arg)
    if model == "counter":
        assert isinstance(state, int) and isinstance(arg, int)
        return True, state + arg
    assert isinstance(state, frozenset)
    return True, state | {arg}


def random_op(rng: random.Random, model: str) -> tuple[str, Value]:
    roll = rng.random()
    if model == "list-unique":
        return ("read", None) if roll < 0.45 else ("append", rng.randrange(10**9))
    if model == "register":
        if roll < 0.4:
            return "read", None
        if roll < 0.75:
            return "write", rng.randrange(3)
        return "cas", (rng.choice((None, 0, 1, 2)), rng.randrange(3))
    if model == "kv":
        if roll < 0.4:
            return "get", None
        if roll < 0.7:
            return "put", rng.choice(("a", "b"))
        return "append", rng.choice(("x", "y"))
    if roll < 0.45:
        return "read", None
    if model == "counter":
        return "incr", rng.choice((1, 2, -1))
    return ("append" if model == "list" else "add"), rng.randrange(3)


def event_value(model: str, state: RefState) -> Value:
    """A read's result as a client records it (a set's members as a sorted list)."""
    if model == "set":
        assert isinstance(state, frozenset)
        return tuple(sorted(state))
    return state  # type: ignore[return-value]


@dataclass
class Worker:
    process: int
    op: tuple[str, str, Value] | None = None  # (f, key, arg)
    fate: str = "ok"
    applied: bool = False
    output: Value = None


@dataclass
class Ghost:
    """An operation whose client gave up (info) but that may still take effect."""

    f: str
    key: str
    arg: Value


@dataclass
class World:
    model: str
    rng: random.Random
    keys: tuple[str, ...]
    state: dict[str, RefState] = field(default_factory=dict)

    def apply(self, f: str, key: str, arg: Value) -> tuple[bool, Value]:
        state = self.state.setdefault(key, ref_init(self.model))
        ok, new = ref_step(self.model, state, f, arg, None, known=False)
        if ok:
            self.state[key] = new
        return ok, event_value(self.model, state)


def linearizable_history(
    rng: random.Random, model: str, max_ops: int = 7, processes: tuple[int, ...] = (2, 3)
) -> list[HistoryEvent]:
    """Up to 7 operations from 2-3 processes, linearizable by construction."""
    world = World(base_model(model), rng, ("a", "b")[: rng.choice((1, 1, 2))])
    workers = [Worker(process=i) for i in range(rng.choice(processes))]
    next_process = len(workers)
    ghosts: list[Ghost] = []
    events: list[HistoryEvent] = []
    ops = rng.randint(1, max_ops)
    invoked = 0
    while invoked < ops or any(w.op for w in workers):
        if ghosts and rng.random() < 0.2:
            ghost = ghosts.pop(rng.randrange(len(ghosts)))
            world.apply(ghost.f, ghost.key, ghost.arg)  # an info op taking effect late
            continue
        worker = rng.choice(workers)
        if worker.op is None:
            if invoked >= ops:
                continue
            f, arg = random_op(rng, model)
            key = rng.choice(world.keys)
            worker.op = (f, key, arg)
            worker.fate = rng.choices(("ok", "info", "fail"), weights=(75, 15, 10))[0]
            worker.applied = False
            events.append(HistoryEvent(worker.process, "invoke", f, arg, key))
            invoked += 1
            continue
        f, key, arg = worker.op
        if not worker.applied and worker.fate != "fail" and rng.random() < 0.5:
            worker.applied = True
            ok, seen = world.apply(f, key, arg)
            worker.output = seen
            if not ok:  # a cas that found another value: the client sees a refusal
                worker.fate = "info" if worker.fate == "info" else "fail"
            continue
        if worker.fate == "ok" and not worker.applied:
            continue
        if worker.fate == "info":
            if not worker.applied and rng.random() < 0.5:
                ghosts.append(Ghost(f, key, arg))
            events.append(HistoryEvent(worker.process, "info", f, None, key))
            worker.process = next_process
            next_process += 1
        elif worker.fate == "fail":
            events.append(HistoryEvent(worker.process, "fail", f, arg, key))
        else:
            value = worker.output if f in ("read", "get") else arg
            events.append(HistoryEvent(worker.process, "ok", f, value, key))
        worker.op = None
    return events


def base_model(model: str) -> str:
    return "list" if model == "list-unique" else model


def mutate(rng: random.Random, model: str, events: list[HistoryEvent]) -> list[HistoryEvent]:
    """Change one read's value, or turn one refusal into an acknowledgement."""
    model = base_model(model)
    reads = [i for i, e in enumerate(events) if e.type == "ok" and e.f in ("read", "get")]
    fails = [i for i, e in enumerate(events) if e.type == "fail"]
    mutated = list(events)
    if fails and (not reads or rng.random() < 0.25):
        i = rng.choice(fails)
        mutated[i] = replace(events[i], type="ok")
        return mutated
    if not reads:
        return mutated
    i = rng.choice(reads)
    old = events[i].value
    value: Value
    if model == "register":
        value = rng.choice([v for v in (None, 0, 1, 2) if v != old])
    elif model == "kv":
        value = rng.choice([v for v in (None, "a", "ax", "by", "x") if v != old])
    elif model == "counter":
        assert isinstance(old, int | None)
        value = (old or 0) + rng.choice((-1, 1, 2))
    else:
        assert isinstance(old, tuple)
        choices: list[Value] = [old[:-1], (*old, rng.randrange(3)), tuple(reversed(old))]
        value = rng.choice([v for v in choices if v != old] or [(9,)])
    mutated[i] = replace(events[i], value=value)
    return mutated


def brute_force(model: str, ops: tuple[Operation, ...]) -> bool:
    candidates = [op for op in ops if op.outcome != "fail"]
    must = frozenset(i for i, op in enumerate(candidates) if op.outcome == "ok")
    before = {
        i: frozenset(
            j
            for j, other in enumerate(candidates)
            if other.outcome == "ok" and other.ret is not None and other.ret < op.call
        )
        for i, op in enumerate(candidates)
    }

    def search(done: frozenset[int], states: dict[object, RefState]) -> bool:
        if must <= done:
            return True
        for i, op in enumerate(candidates):
            if i in done or not before[i] <= done:
                continue
            state = states.get(op.key, ref_init(model))
            known = op.outcome == "ok"
            is_read = op.f in ("read", "get")
            output = ref_output(model, op.output) if known and is_read else None
            ok, new = ref_step(model, state, op.f, op.value, output, known)
            if ok and search(done | {i}, {**states, op.key: new}):
                return True
        return False

    return search(frozenset(), {})


def compare(model: str, seed: int, events: list[HistoryEvent], label: str) -> bool:
    ops = History(tuple(events)).operations()
    expected = brute_force(base_model(model), ops)
    result = check_linearizability(ops, base_model(model))
    assert result.verdict is not Verdict.UNKNOWN
    if model == "list-unique":
        assert all(k.method == "forced order" for k in result.keys), result.keys
    if result.valid != expected:
        text = "\n".join(dumps_event(e) for e in events)
        pytest.fail(
            f"model {model}, seed {seed} ({label}): checker says {result.verdict.value}, "
            f"brute force says {'valid' if expected else 'invalid'}; replay with "
            f"pytest --seed {seed}\n{text}"
        )
    return expected


def seeds(replay_seed: int | None) -> range:
    return (
        range(replay_seed, replay_seed + 1) if replay_seed is not None else range(SEEDS_PER_MODEL)
    )


@pytest.mark.parametrize("model", MODELS)
def test_checker_agrees_with_brute_force(model: str, replay_seed: int | None) -> None:
    verdicts = {True: 0, False: 0}
    for seed in seeds(replay_seed):
        rng = random.Random(f"{model}/{seed}")
        events = linearizable_history(rng, model)
        assert compare(model, seed, events, "built linearizable"), (
            f"the generator built a non-linearizable history (seed {seed})"
        )
        verdicts[True] += 1
        verdicts[compare(model, seed, mutate(rng, model, events), "mutated")] += 1
    if replay_seed is None:
        # Both verdicts are exercised, in earnest.
        assert verdicts[False] > SEEDS_PER_MODEL // 5, verdicts


class SearchOnlyList(ListModel):
    """The list model without its shortcut: the general search decides."""

    def forced_order(
        self, inputs: Sequence[OpInput], outputs: Sequence[Output]
    ) -> list[list[int]] | None:
        return None


def test_the_list_shortcut_agrees_with_the_search_on_longer_histories(
    replay_seed: int | None,
) -> None:
    """Histories too long for the brute force (up to 40 operations, 4 processes): the
    walk of the forced order and the general search must agree."""
    verdicts = {True: 0, False: 0}
    for seed in seeds(replay_seed)[:400]:
        rng = random.Random(f"long-list/{seed}")
        events = linearizable_history(rng, "list-unique", max_ops=40, processes=(3, 4))
        for label, history in (("built", events), ("mutated", mutate(rng, "list", events))):
            ops = History(tuple(history)).operations()
            fast = check_linearizability(ops, "list")
            slow = check_linearizability(ops, SearchOnlyList())
            assert {k.method for k in fast.keys} <= {"forced order"}
            assert fast.verdict is slow.verdict, (seed, label, fast, slow)
            verdicts[fast.valid] += 1
    if replay_seed is None:
        assert verdicts[False] > 50, verdicts


def test_generator_exercises_info_fail_and_concurrency() -> None:
    counts = {"info": 0, "fail": 0, "overlap": 0, "multikey": 0}
    check: Callable[[tuple[Operation, ...]], bool] = lambda ops: any(  # noqa: E731
        a.ret is not None and b.ret is not None and a.call < b.call < a.ret
        for a in ops
        for b in ops
    )
    for seed in range(200):
        events = linearizable_history(random.Random(f"register/{seed}"), "register")
        ops = History(tuple(events)).operations()
        counts["info"] += any(op.outcome == "info" for op in ops)
        counts["fail"] += any(op.outcome == "fail" for op in ops)
        counts["overlap"] += check(ops)
        counts["multikey"] += len({op.key for op in ops}) > 1
    assert all(count > 20 for count in counts.values()), counts
