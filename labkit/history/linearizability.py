"""The linearizability checker: Wing & Gong's search with Lowe's memoisation.

The history is split by key and each key is checked on its own (a history is
linearizable iff each object's sub-history is: P-compositionality). Keys with fewer
operations go first, so a cheap violation is found before a large key spends the budget.

For one key, the operations' call and return events form a doubly linked list in
real-time order. The search walks the list from its head:

- at a call, it tries to linearize that operation now: step the model; if the model
  accepts, and the pair (set of linearized operations, new state) was never reached
  before, it records the choice on a stack, unlinks the operation's call and return from
  the list ("lift"), and starts again from the head;
- at a return, the operation it belongs to should already have been linearized: the
  choices made so far lead nowhere, so it pops the last one, relinks that operation
  ("unlift") and tries the next call after it.

All returns gone means every completed operation found its place: linearizable. An empty
stack at a return means no order works: not linearizable. The set of linearized
operations is a Python int used as a bitset; the memo holds ``(bitset, state)``, which is
why model states must be hashable.

``fail`` operations are dropped: they did not happen. ``info`` operations have no return
entry (they return at +infinity), so they may be linearized anywhere after their call or
never; an ``info`` read constrains nothing and is dropped too, and so are the ``info``
operations that the model says nothing could observe (:meth:`Model.prune`).

With a budget, the search gives up when it is spent and the verdict is ``unknown``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from labkit.history.models import Model, OpInput, Output, State, get_model
from labkit.history.ops import History, Key, Operation

__all__ = [
    "DEFAULT_MAX_STATES",
    "KeyResult",
    "LinearizabilityResult",
    "NextOp",
    "Verdict",
    "Violation",
    "check_linearizability",
]

_CLOCK_EVERY = 1024
"""Search steps between two looks at the clock (and at the memo's size)."""
DEFAULT_MAX_STATES = 20_000_000
"""Memoised states per key before giving up with ``unknown``: a few GB of memory."""


class Verdict(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class NextOp:
    """An operation that could not be linearized after the longest linearizable prefix."""

    op: Operation
    accepted: bool
    """Whether the model accepts it in the state after the prefix (it then led nowhere later);
    False when the model refuses it there (for example a read of another value)."""


@dataclass(frozen=True, slots=True)
class Violation:
    """Why one key is not linearizable."""

    key: Key
    prefix: tuple[Operation, ...]
    """The longest linearizable prefix found, in linearization order."""
    state: str
    """The model's state after the prefix, described."""
    next_ops: tuple[NextOp, ...]
    """The operations that could go next (concurrent calls up to the first pending return);
    none of them extends the prefix to a full linearization."""
    first_return: Operation | None
    """The first of those to have returned: it had to be linearized before anything that
    was called after its return."""


@dataclass(frozen=True, slots=True)
class KeyResult:
    key: Key
    verdict: Verdict
    ops: int
    """Operations checked (after dropping ``fail`` operations and ``info`` reads)."""
    explored: int
    """Distinct (linearized set, state) pairs visited."""
    elapsed_s: float
    method: str = "search"
    """``search`` (the general search) or ``forced order`` (the model fixed the only
    possible order and the checker walked it; ``explored`` counts the steps)."""


@dataclass(frozen=True, slots=True)
class LinearizabilityResult:
    verdict: Verdict
    model: str
    violation: Violation | None
    keys: tuple[KeyResult, ...]
    """One per key that was checked, in the order checked (the search stops at a violation)."""
    ops: int
    """Operations in the history."""
    key_count: int
    """Keys in the history."""
    dropped: int
    """Operations left out: ``fail`` ones, ``info`` reads, and ``info`` operations that
    nothing could observe (see :meth:`Model.prune`)."""
    elapsed_s: float

    @property
    def valid(self) -> bool:
        return self.verdict is Verdict.VALID

    @property
    def failing_key(self) -> Key:
        """The key of the violation (None if there is none, or the history has no keys)."""
        return None if self.violation is None else self.violation.key

    @property
    def explored(self) -> int:
        return sum(k.explored for k in self.keys)


@dataclass(slots=True)
class _Prepared:
    ops: list[Operation]
    inputs: list[OpInput]
    outputs: list[Output]


def check_linearizability(
    history: History | Iterable[Operation],
    model: Model | str,
    *,
    budget_s: float | None = None,
    max_states: int | None = DEFAULT_MAX_STATES,
    clock: Callable[[], float] = time.monotonic,
) -> LinearizabilityResult:
    """Check a history (or its paired operations) against ``model``.

    ``budget_s`` bounds the time spent (None: no bound); when it runs out the verdict is
    :attr:`Verdict.UNKNOWN`; so it is when one key's search has memoised ``max_states``
    states (a bound on memory; None: no bound). Raises :class:`~labkit.history.errors.ModelError` for an
    operation the model cannot interpret, before any search.
    """
    started = clock()
    deadline = None if budget_s is None else started + budget_s
    the_model = get_model(model)
    ops = history.operations() if isinstance(history, History) else tuple(history)

    by_key: dict[Key, _Prepared] = {}
    dropped = 0
    keys_seen: dict[Key, None] = {}
    for op in ops:
        keys_seen.setdefault(op.key, None)
        if op.outcome == "fail":
            dropped += 1
            continue
        op_input, op_output = the_model.prepare(op)
        if op.outcome == "info" and op_input.f in the_model.reads:
            dropped += 1
            continue
        prepared = by_key.get(op.key)
        if prepared is None:
            prepared = by_key[op.key] = _Prepared([], [], [])
        prepared.ops.append(op)
        prepared.inputs.append(op_input)
        prepared.outputs.append(op_output)

    for key, prepared in by_key.items():
        pruned = the_model.prune(prepared.inputs, prepared.outputs)
        if pruned:
            dropped += len(pruned)
            keep = [i for i in range(len(prepared.ops)) if i not in pruned]
            by_key[key] = _Prepared(
                [prepared.ops[i] for i in keep],
                [prepared.inputs[i] for i in keep],
                [prepared.outputs[i] for i in keep],
            )

    results: list[KeyResult] = []
    violation: Violation | None = None
    verdict = Verdict.VALID
    for key, prepared in sorted(by_key.items(), key=lambda item: len(item[1].ops)):
        key_started = clock()
        outcome: Verdict = Verdict.UNKNOWN
        prefix: list[int] = []
        explored = 0
        method = "search"
        if deadline is None or key_started <= deadline:
            walked = _walk_forced_order(the_model, prepared)
            if walked is not None:
                method = "forced order"
                outcome, prefix = walked
                explored = len(prefix)
            else:
                outcome, prefix, explored = _search(
                    the_model, prepared, deadline, clock, max_states
                )
        results.append(
            KeyResult(key, outcome, len(prepared.ops), explored, clock() - key_started, method)
        )
        if outcome is Verdict.INVALID:
            verdict = Verdict.INVALID
            violation = _explain(the_model, key, prepared, prefix)
            break
        if outcome is Verdict.UNKNOWN:
            verdict = Verdict.UNKNOWN
    return LinearizabilityResult(
        verdict=verdict,
        model=the_model.name,
        violation=violation,
        keys=tuple(results),
        ops=len(ops),
        key_count=len(keys_seen),
        dropped=dropped,
        elapsed_s=clock() - started,
    )


def _entry_list(ops: Sequence[Operation]) -> tuple[list[int], list[int], int]:
    """The linked list of call and return entries, in real-time order.

    Node 0 is the head; operation ``i`` has call node ``2i+1`` and return node ``2i+2``
    (none for ``info``); the tail, node ``2n+2``, only marks the end.
    """
    n = len(ops)
    entries: list[tuple[int, int]] = []
    for i, op in enumerate(ops):
        entries.append((op.call, 2 * i + 1))
        if op.outcome != "info":
            assert op.ret is not None
            entries.append((op.ret, 2 * i + 2))
    entries.sort()
    tail = 2 * n + 2
    nxt = [tail] * (tail + 1)
    prv = [0] * (tail + 1)
    previous = 0
    for _, node in entries:
        nxt[previous] = node
        prv[node] = previous
        previous = node
    nxt[previous] = tail
    prv[tail] = previous
    return nxt, prv, tail


def _search(
    model: Model,
    prepared: _Prepared,
    deadline: float | None,
    clock: Callable[[], float],
    max_states: int | None,
) -> tuple[Verdict, list[int], int]:
    """Search one key: the verdict, the longest linearized prefix, states explored."""
    ops = prepared.ops
    inputs = prepared.inputs
    outputs = prepared.outputs
    nxt, prv, _tail = _entry_list(ops)
    has_return = [op.outcome != "info" for op in ops]
    remaining = sum(has_return)
    step = model.step

    memo: set[tuple[int, State]] = set()
    stack: list[int] = []
    saved_states: list[State] = []
    best: list[int] = []  # the longest prefix linearized so far, copied lazily:
    best_len = 0
    best_stale = False  # the stack is longer than ``best``: copy it before the next pop
    state: State = model.init()
    linearized = 0
    node = nxt[0]
    countdown = _CLOCK_EVERY

    while remaining:
        countdown -= 1
        if not countdown:
            countdown = _CLOCK_EVERY
            if (deadline is not None and clock() > deadline) or (
                max_states is not None and len(memo) >= max_states
            ):
                return Verdict.UNKNOWN, stack.copy() if best_stale else best, len(memo)
        if node & 1:  # a call entry: try to linearize operation i now
            i = node >> 1
            accepted, new_state = step(state, inputs[i], outputs[i])
            if accepted:
                new_linearized = linearized | (1 << i)
                memo_key = (new_linearized, new_state)
                if memo_key not in memo:
                    memo.add(memo_key)
                    stack.append(i)
                    saved_states.append(state)
                    state = new_state
                    linearized = new_linearized
                    # lift: unlink the call entry, then the return entry
                    before = prv[node]
                    after = nxt[node]
                    nxt[before] = after
                    prv[after] = before
                    if has_return[i]:
                        remaining -= 1
                        ret = node + 1
                        before = prv[ret]
                        after = nxt[ret]
                        nxt[before] = after
                        prv[after] = before
                    if len(stack) > best_len:
                        best_len = len(stack)
                        best_stale = True
                    node = nxt[0]
                    continue
            node = nxt[node]
        else:  # a return entry: the choices so far lead nowhere
            if not stack:
                return Verdict.INVALID, best, len(memo)
            if best_stale:
                best = stack.copy()
                best_stale = False
            i = stack.pop()
            state = saved_states.pop()
            linearized ^= 1 << i
            call = 2 * i + 1
            # unlift: relink the return entry, then the call entry
            if has_return[i]:
                remaining += 1
                ret = call + 1
                nxt[prv[ret]] = ret
                prv[nxt[ret]] = ret
            nxt[prv[call]] = call
            prv[nxt[call]] = call
            node = nxt[call]
    return Verdict.VALID, best, len(memo)


def _walk_forced_order(model: Model, prepared: _Prepared) -> tuple[Verdict, list[int]] | None:
    """Replay the one order the model says is possible (see :meth:`Model.forced_order`):
    the verdict and the longest prefix that real time and the model allow; None when the
    model fixes no order, or its slots miss an operation that returned."""
    ops = prepared.ops
    slots = model.forced_order(prepared.inputs, prepared.outputs)
    if slots is None:
        return None
    order = [i for slot in slots for i in sorted(slot, key=lambda i: ops[i].call)]
    in_order = set(order)
    if len(in_order) != len(order) or any(
        op.outcome != "info" and i not in in_order for i, op in enumerate(ops)
    ):
        return None
    # returns still to come, earliest first: an op may go next only if no operation
    # outside the prefix returned before it was called
    pending = sorted(
        (op.ret, i) for i, op in enumerate(ops) if op.outcome != "info" and op.ret is not None
    )
    done = [False] * len(ops)
    first = 0
    state = model.init()
    prefix: list[int] = []
    for i in order:
        while first < len(pending) and done[pending[first][1]]:
            first += 1
        if first < len(pending) and pending[first][0] < ops[i].call:
            return Verdict.INVALID, prefix
        accepted, state = model.step(state, prepared.inputs[i], prepared.outputs[i])
        if not accepted:
            return Verdict.INVALID, prefix
        done[i] = True
        prefix.append(i)
    return Verdict.VALID, prefix


def _explain(model: Model, key: Key, prepared: _Prepared, prefix: list[int]) -> Violation:
    """Replay the longest prefix and list the operations that could have come next."""
    ops = prepared.ops
    nxt, prv, tail = _entry_list(ops)
    state = model.init()
    for i in prefix:
        _accepted, state = model.step(state, prepared.inputs[i], prepared.outputs[i])
        for node in (2 * i + 1, 2 * i + 2):
            if node == 2 * i + 2 and ops[i].outcome == "info":
                continue
            nxt[prv[node]] = nxt[node]
            prv[nxt[node]] = prv[node]
    next_ops: list[NextOp] = []
    first_return: Operation | None = None
    node = nxt[0]
    while node != tail:
        i = (node - 1) >> 1
        if not node & 1:
            first_return = ops[i]
            break
        accepted, _ = model.step(state, prepared.inputs[i], prepared.outputs[i])
        next_ops.append(NextOp(ops[i], accepted))
        node = nxt[node]
    return Violation(
        key=key,
        prefix=tuple(ops[i] for i in prefix),
        state=model.describe_state(state),
        next_ops=tuple(next_ops),
        first_return=first_return,
    )
