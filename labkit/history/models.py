"""Sequential specifications: small state machines the checker replays operations against.

A model describes one object (one key: histories are partitioned by key before checking).
Its states are immutable and hashable, because the checker memoises
``(linearized operations, state)`` pairs. The interface:

- ``init() -> state``;
- ``prepare(op) -> (OpInput, output)``: once per operation, normalise the function name
  (``get`` -> ``read``) and values (a set read's list -> frozenset) and refuse what the
  model cannot interpret, with :class:`~labkit.history.errors.ModelError`;
- ``step(state, op_input, op_output) -> (ok, new_state)``: apply one operation.
  ``op_output`` is :data:`UNKNOWN` for an ``info`` operation: it may or may not have
  taken effect, and its result was never seen;
- ``is_read(f)``: the functions that change nothing. An ``info`` read constrains nothing
  and is dropped before checking; so is every ``fail`` operation;
- ``prune(inputs, outputs)``, optional: the ``info`` operations of one key that nothing
  could observe (a register write of a value nobody read; a set element no read holds),
  which are left out too.

The completion value of a state-changing operation is not checked: Jepsen clients echo the
written value there, Redis returns lengths and counts, and the two cannot be told apart.

Adding a model: subclass :class:`Model`, set ``name``, ``description`` and ``functions``
(canonical name -> accepted aliases), write ``init`` and ``step`` (and ``prepare_value``
or ``prepare_output`` if values need checking or normalising), then
``register_model(MyModel())``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, TypeAlias

from labkit.history.errors import ModelError, UnknownModelError
from labkit.history.ops import Operation, Value

__all__ = [
    "MODELS",
    "UNKNOWN",
    "CounterModel",
    "KVModel",
    "ListModel",
    "Model",
    "OpInput",
    "Output",
    "RegisterModel",
    "SetModel",
    "State",
    "Unknown",
    "get_model",
    "register_model",
]

State: TypeAlias = Hashable


class Unknown:
    """The output of an ``info`` operation: never seen."""

    _instance: ClassVar[Unknown | None] = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = Unknown()
Output: TypeAlias = Value | Unknown


@dataclass(frozen=True, slots=True)
class OpInput:
    """What an operation asked for: the canonical function name and its argument."""

    f: str
    value: Value


class Model(ABC):
    """A sequential specification. See the module docstring."""

    name: ClassVar[str]
    description: ClassVar[str]
    functions: ClassVar[Mapping[str, tuple[str, ...]]]
    """Canonical function name -> the other names accepted for it."""
    reads: ClassVar[frozenset[str]]
    """Canonical names of the functions that change nothing."""

    @abstractmethod
    def init(self) -> State:
        """The state before any operation."""

    @abstractmethod
    def step(self, state: State, op_input: OpInput, op_output: Output) -> tuple[bool, State]:
        """Apply one operation: whether it is allowed in ``state``, and the state after it."""

    def canonical(self, f: str) -> str | None:
        """The canonical name of function ``f``, or None if the model has no such function."""
        lowered = f.lower()
        for name, aliases in self.functions.items():
            if lowered == name or lowered in aliases:
                return name
        return None

    def is_read(self, f: str) -> bool:
        """Whether ``f`` (any accepted name) changes nothing."""
        return self.canonical(f) in self.reads

    def prepare(self, op: Operation) -> tuple[OpInput, Output]:
        """The normalised input and output of ``op``; :class:`ModelError` if not interpretable."""
        f = self.canonical(op.f)
        if f is None:
            known = ", ".join(self.functions)
            raise ModelError(
                f"model {self.name} has no operation {op.f!r} (it knows {known})",
                line_no=op.call_line,
            )
        try:
            value = self.prepare_value(f, op.value)
            output: Output = UNKNOWN
            if op.outcome == "ok":
                output = self.prepare_output(f, op.output)
        except ValueError as exc:
            raise ModelError(f"{op.describe()}: {exc}", line_no=op.call_line) from None
        return OpInput(f, value), output

    def prepare_value(self, f: str, value: Value) -> Value:
        """The argument of a call to ``f``, normalised; ValueError if it makes no sense."""
        return value

    def prepare_output(self, f: str, output: Value) -> Value:
        """The result of an ``ok`` call to ``f``, normalised; ValueError if it makes no sense."""
        return output

    def describe_state(self, state: State) -> str:
        """The state for people."""
        return _show(state)

    def prune(self, inputs: Sequence[OpInput], outputs: Sequence[Output]) -> frozenset[int]:
        """Indices of ``info`` operations (output :data:`UNKNOWN`) of one key that can be
        left out without changing the verdict. None by default.

        An ``info`` operation is allowed never to take effect, so leaving one out is sound
        exactly when, in any linearization that contains it, nothing after it could see it.
        Pruning matters: the search may place every pending ``info`` operation at every
        point after its invoke, which is where its time goes.
        """
        return frozenset()

    def forced_order(
        self, inputs: Sequence[OpInput], outputs: Sequence[Output]
    ) -> list[list[int]] | None:
        """When the outputs of one key's operations leave no real choice of order: the
        operations in slots, in the only order a linearization may take. None (the
        default) sends the key to the general search.

        The promise, which makes the shortcut exact: every linearization puts the slots in
        this order; operations within one slot may go in any order (the checker sorts them
        by call, which respects real time); and an operation in no slot is an ``info`` one
        that no linearization can contain, or may leave out. The checker then only walks
        that one order, in linear time, instead of searching all the orders real time
        allows, which for lists grows exponentially with the appends between two reads.
        """
        return None


def _show(value: object) -> str:
    if value is None:
        return "nil"
    if isinstance(value, tuple):
        return "[" + " ".join(_show(v) for v in value) + "]"
    if isinstance(value, frozenset):
        return "#{" + " ".join(sorted(_show(v) for v in value)) + "}"
    if isinstance(value, str):
        return repr(value)
    return str(value)


class RegisterModel(Model):
    """One value: ``read`` (returns it, nil at first), ``write``, and ``cas [from to]``."""

    name = "register"
    description = "a read/write/cas register (Redis GET/SET, SET with a compare-and-set script)"
    functions: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "read": ("get", "r"),
        "write": ("set", "put", "w"),
        "cas": ("compare-and-set",),
    }
    reads = frozenset({"read"})

    def init(self) -> State:
        return None

    def prepare_value(self, f: str, value: Value) -> Value:
        if f == "cas" and not (isinstance(value, tuple) and len(value) == 2):
            raise ValueError(f"a cas value must be [from, to], not {_show(value)}")
        return value

    def step(self, state: State, op_input: OpInput, op_output: Output) -> tuple[bool, State]:
        f = op_input.f
        if f == "read":
            return state == op_output or op_output is UNKNOWN, state
        if f == "write":
            return True, op_input.value
        # A cas that finds another value changes nothing: as an ``info`` operation that is
        # the same as never taking effect, which the checker allows anyway.
        pair = op_input.value
        assert isinstance(pair, tuple)
        return state == pair[0], pair[1]

    def prune(self, inputs: Sequence[OpInput], outputs: Sequence[Output]) -> frozenset[int]:
        # A value no read returned and no cas expected: right after an info write of it,
        # only a blind write (or nothing) can come next, so the write may as well not be.
        observed: set[Value] = set()
        for op_input, op_output in zip(inputs, outputs, strict=True):
            if op_input.f == "read" and not isinstance(op_output, Unknown):
                observed.add(op_output)
            elif op_input.f == "cas":
                assert isinstance(op_input.value, tuple)
                observed.add(op_input.value[0])
        return frozenset(
            i
            for i, (op_input, op_output) in enumerate(zip(inputs, outputs, strict=True))
            if op_output is UNKNOWN and op_input.f != "read" and _written(op_input) not in observed
        )


def _written(op_input: OpInput) -> Value:
    if op_input.f == "cas":
        assert isinstance(op_input.value, tuple)
        return op_input.value[1]
    return op_input.value


def _never_read_additions(inputs: Sequence[OpInput], outputs: Sequence[Output]) -> frozenset[int]:
    """For sets and lists: info additions of an element no read contains. Once added, an
    element is in every later read, so such an addition has no read after it."""
    seen: set[Value] = set()
    for op_input, op_output in zip(inputs, outputs, strict=True):
        if op_input.f == "read" and isinstance(op_output, tuple | frozenset):
            seen.update(op_output)
    return frozenset(
        i
        for i, (op_input, op_output) in enumerate(zip(inputs, outputs, strict=True))
        if op_output is UNKNOWN and op_input.f != "read" and op_input.value not in seen
    )


class KVModel(Model):
    """A Redis string: ``get`` (nil when absent), ``put`` (SET) and ``append`` (APPEND)."""

    name = "kv"
    description = "a Redis string: GET, SET and APPEND"
    functions: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "get": ("read", "r"),
        "put": ("set", "write", "w"),
        "append": ("app",),
    }
    reads = frozenset({"get"})

    def init(self) -> State:
        return None

    def prepare_value(self, f: str, value: Value) -> Value:
        if f == "append" and not isinstance(value, str):
            raise ValueError(f"an append value must be a string, not {_show(value)}")
        return value

    def prepare_output(self, f: str, output: Value) -> Value:
        if f == "get" and output is not None and not isinstance(output, str):
            raise ValueError(f"a get returns a string or nil, not {_show(output)}")
        return output

    def step(self, state: State, op_input: OpInput, op_output: Output) -> tuple[bool, State]:
        f = op_input.f
        if f == "get":
            return state == op_output or op_output is UNKNOWN, state
        if f == "put":
            return True, op_input.value
        suffix = op_input.value
        assert isinstance(suffix, str)
        return True, (state if isinstance(state, str) else "") + suffix


class ListModel(Model):
    """A Redis list: ``append`` (RPUSH one element) and ``read`` (LRANGE 0 -1, the whole list)."""

    name = "list"
    description = "a Redis list: RPUSH and LRANGE of the whole list"
    functions: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "append": ("rpush", "push"),
        "read": ("lrange", "get", "r"),
    }
    reads = frozenset({"read"})

    def init(self) -> State:
        return ()

    def prepare_output(self, f: str, output: Value) -> Value:
        if f == "read":
            if output is None:
                return ()
            if not isinstance(output, tuple):
                raise ValueError(f"a list read returns a list, not {_show(output)}")
        return output

    def step(self, state: State, op_input: OpInput, op_output: Output) -> tuple[bool, State]:
        if op_input.f == "read":
            return state == op_output or op_output is UNKNOWN, state
        assert isinstance(state, tuple)
        return True, (*state, op_input.value)

    def prune(self, inputs: Sequence[OpInput], outputs: Sequence[Output]) -> frozenset[int]:
        return _never_read_additions(inputs, outputs)

    def forced_order(
        self, inputs: Sequence[OpInput], outputs: Sequence[Output]
    ) -> list[list[int]] | None:
        """With unique elements, the longest read fixes the order of every append it
        holds, and each read's length fixes its place among them: the appends of the
        longest read in its order, each read right after the last element it saw, then
        the ``ok`` appends that no read saw (``info`` ones no read saw are left out). An
        element read but never appended, or a read that is not a prefix of the longest,
        is refused when the checker replays the order. Repeated elements: None."""
        appends: dict[Value, int] = {}
        reads_by_length: dict[int, list[int]] = {}
        longest: tuple[Value, ...] = ()
        for i, (op_input, op_output) in enumerate(zip(inputs, outputs, strict=True)):
            if op_input.f == "read":
                if not isinstance(op_output, tuple):
                    return None
                reads_by_length.setdefault(len(op_output), []).append(i)
                if len(op_output) > len(longest):
                    longest = op_output
            else:
                if op_input.value in appends:
                    return None
                appends[op_input.value] = i
        slots: list[list[int]] = [reads_by_length.pop(0, [])]
        placed: set[int] = set()
        for length, element in enumerate(longest, start=1):
            append = appends.get(element)
            if append is not None and append not in placed:
                placed.add(append)
                slots.append([append])
            slots.append(reads_by_length.pop(length, []))
        slots.extend(reads_by_length.values())  # none: no read is longer than the longest
        slots.append([i for i in appends.values() if i not in placed and outputs[i] is not UNKNOWN])
        return [slot for slot in slots if slot]


class CounterModel(Model):
    """A Redis counter: ``incr`` by a delta (1 when none) and ``read`` (nil counts as 0)."""

    name = "counter"
    description = "a Redis counter: INCRBY and GET"
    functions: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "incr": ("incrby", "inc", "add"),
        "read": ("get", "r"),
    }
    reads = frozenset({"read"})

    def init(self) -> State:
        return 0

    def prepare_value(self, f: str, value: Value) -> Value:
        if f == "incr":
            if value is None:
                return 1
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"an increment must be an integer, not {_show(value)}")
        return value

    def prepare_output(self, f: str, output: Value) -> Value:
        if f == "read":
            if output is None:
                return 0
            if isinstance(output, str) and output.lstrip("-").isdigit():
                return int(output)
            if isinstance(output, bool) or not isinstance(output, int):
                raise ValueError(f"a counter read returns an integer, not {_show(output)}")
        return output

    def step(self, state: State, op_input: OpInput, op_output: Output) -> tuple[bool, State]:
        if op_input.f == "read":
            return state == op_output or op_output is UNKNOWN, state
        assert isinstance(state, int)
        assert isinstance(op_input.value, int)
        return True, state + op_input.value


class SetModel(Model):
    """A Redis set: ``add`` one element (SADD) and ``read`` the whole set (SMEMBERS)."""

    name = "set"
    description = "a Redis set: SADD and SMEMBERS"
    functions: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "add": ("sadd",),
        "read": ("smembers", "get", "r"),
    }
    reads = frozenset({"read"})

    def init(self) -> State:
        return frozenset()

    def prepare_output(self, f: str, output: Value) -> Value:
        if f == "read":
            if output is None:
                return frozenset()
            if isinstance(output, tuple | frozenset):
                return frozenset(output)
            raise ValueError(f"a set read returns a list or set, not {_show(output)}")
        return output

    def step(self, state: State, op_input: OpInput, op_output: Output) -> tuple[bool, State]:
        if op_input.f == "read":
            return state == op_output or op_output is UNKNOWN, state
        assert isinstance(state, frozenset)
        return True, state | {op_input.value}

    def prune(self, inputs: Sequence[OpInput], outputs: Sequence[Output]) -> frozenset[int]:
        return _never_read_additions(inputs, outputs)


MODELS: dict[str, Model] = {}
"""Every registered model by name."""


def register_model(model: Model) -> Model:
    """Make ``model`` available by its name (to :func:`get_model` and the CLI)."""
    MODELS[model.name] = model
    return model


def get_model(name: str | Model) -> Model:
    """The model called ``name`` (a :class:`Model` is returned as is)."""
    if isinstance(name, Model):
        return name
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(MODELS)
        raise UnknownModelError(f"unknown model {name!r} (known: {known})") from None


for _model in (RegisterModel(), KVModel(), ListModel(), CounterModel(), SetModel()):
    register_model(_model)
