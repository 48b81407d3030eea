"""RESP2/RESP3 frames: one small frozen dataclass per wire type.

Every RESP type has its own class so that a server can tell a simple string from a
bulk string, an error from a bulk error, a map from an array and a push from an
array. Payloads of string-like frames are ``bytes`` (the wire is binary safe);
``text`` properties decode them for convenience.

- Aggregates hold tuples (``Array.items``, ``Set.items``, ``Push.items``); a ``Map``
  holds a tuple of ``(key, value)`` pairs, so order is kept and keys need not be
  hashable.
- ``Null`` stands for RESP3 ``_`` and for RESP2's ``$-1`` and ``*-1``. Its ``kind``
  only chooses the RESP2 spelling and is ignored by ``==``.
- ``Double`` compares NaN equal to NaN so that parsed frames compare equal to the
  frames they were encoded from.
- An attribute (``|``) is not a value of its own: the parser attaches it to the
  frame that follows as ``Attributed(attributes, value)``.

``to_frame`` turns plain Python values into frames; ``to_python`` goes back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = [
    "EMPTY_ARRAY",
    "NULL",
    "OK",
    "PONG",
    "Array",
    "Attributed",
    "BigNumber",
    "Boolean",
    "BulkError",
    "BulkString",
    "Double",
    "Frame",
    "Integer",
    "Map",
    "Null",
    "Push",
    "Set",
    "SimpleError",
    "SimpleString",
    "VerbatimString",
    "array",
    "bulk",
    "error",
    "mapping",
    "push",
    "simple",
    "to_frame",
    "to_python",
    "verbatim",
]


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class SimpleString:
    """``+OK``: a short status line without CR or LF."""

    value: bytes

    @property
    def text(self) -> str:
        return _text(self.value)


@dataclass(frozen=True, slots=True)
class SimpleError:
    """``-ERR message``: an error line; ``code`` is its first word (``ERR``, ``NOAUTH``)."""

    value: bytes

    @property
    def text(self) -> str:
        return _text(self.value)

    @property
    def code(self) -> str:
        return self.text.split(" ", 1)[0]


@dataclass(frozen=True, slots=True)
class Integer:
    """``:42``: a signed 64-bit integer."""

    value: int


@dataclass(frozen=True, slots=True)
class BulkString:
    """``$3\\r\\nfoo``: a binary-safe string."""

    value: bytes

    @property
    def text(self) -> str:
        return _text(self.value)


@dataclass(frozen=True, slots=True)
class Null:
    """RESP3 ``_``; in RESP2 ``$-1`` (kind ``bulk``) or ``*-1`` (kind ``array``)."""

    kind: Literal["bulk", "array"] = field(default="bulk", compare=False)


@dataclass(frozen=True, slots=True, eq=False)
class Double:
    """``,3.14``, ``,inf``, ``,-inf``, ``,nan`` (RESP3)."""

    value: float

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Double):
            return NotImplemented
        if math.isnan(self.value):
            return math.isnan(other.value)
        return self.value == other.value

    def __hash__(self) -> int:
        return hash(("Double", "nan" if math.isnan(self.value) else self.value))


@dataclass(frozen=True, slots=True)
class Boolean:
    """``#t`` / ``#f`` (RESP3)."""

    value: bool


@dataclass(frozen=True, slots=True)
class BigNumber:
    """``(12345678901234567890`` (RESP3): an integer of any size."""

    value: int


@dataclass(frozen=True, slots=True)
class VerbatimString:
    """``=15\\r\\ntxt:Some string`` (RESP3): ``fmt`` is the 3-byte format (``txt``, ``mkd``)."""

    fmt: bytes
    value: bytes

    @property
    def text(self) -> str:
        return _text(self.value)


@dataclass(frozen=True, slots=True)
class BulkError:
    """``!21\\r\\nSYNTAX invalid syntax`` (RESP3): a binary-safe error."""

    value: bytes

    @property
    def text(self) -> str:
        return _text(self.value)


@dataclass(frozen=True, slots=True)
class Array:
    """``*N``: an ordered list of frames."""

    items: tuple[Frame, ...]


@dataclass(frozen=True, slots=True)
class Set:
    """``~N`` (RESP3): an unordered collection, kept here in wire order."""

    items: tuple[Frame, ...]


@dataclass(frozen=True, slots=True)
class Push:
    """``>N`` (RESP3): out-of-band data such as pub/sub messages."""

    items: tuple[Frame, ...]


@dataclass(frozen=True, slots=True)
class Map:
    """``%N`` (RESP3): ``(key, value)`` pairs in wire order."""

    items: tuple[tuple[Frame, Frame], ...]

    def get(self, key: str | bytes) -> Frame | None:
        """The value for a string key (simple, bulk or verbatim), or None."""
        wanted = _bytes(key)
        for k, v in self.items:
            if isinstance(k, SimpleString | BulkString | VerbatimString) and k.value == wanted:
                return v
        return None


@dataclass(frozen=True, slots=True)
class Attributed:
    """A frame preceded by a RESP3 attribute (``|N`` followed by N pairs)."""

    attributes: tuple[tuple[Frame, Frame], ...]
    value: Frame


Frame: TypeAlias = (
    SimpleString
    | SimpleError
    | Integer
    | BulkString
    | Null
    | Double
    | Boolean
    | BigNumber
    | VerbatimString
    | BulkError
    | Array
    | Set
    | Push
    | Map
    | Attributed
)

FRAME_TYPES: tuple[type, ...] = (
    SimpleString,
    SimpleError,
    Integer,
    BulkString,
    Null,
    Double,
    Boolean,
    BigNumber,
    VerbatimString,
    BulkError,
    Array,
    Set,
    Push,
    Map,
    Attributed,
)

OK = SimpleString(b"OK")
PONG = SimpleString(b"PONG")
NULL = Null()
EMPTY_ARRAY = Array(())


def simple(text: str | bytes) -> SimpleString:
    """A simple string frame."""
    return SimpleString(_bytes(text))


def error(text: str | bytes) -> SimpleError:
    """An error frame; ``text`` includes the code: ``error("ERR syntax error")``."""
    return SimpleError(_bytes(text))


def bulk(value: str | bytes | int | float) -> BulkString:
    """A bulk string; numbers are written in decimal as Redis does."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return BulkString(repr(value).encode() if isinstance(value, float) else b"%d" % value)
    if isinstance(value, bool):
        raise TypeError("bulk() does not take bool")
    return BulkString(_bytes(value))


def verbatim(text: str | bytes, fmt: str = "txt") -> VerbatimString:
    """A verbatim string with a 3-character format."""
    return VerbatimString(_bytes(fmt), _bytes(text))


def array(items: Iterable[object]) -> Array:
    """An array; items go through ``to_frame``."""
    return Array(tuple(to_frame(item) for item in items))


def push(items: Iterable[object]) -> Push:
    """A push frame; items go through ``to_frame``."""
    return Push(tuple(to_frame(item) for item in items))


def mapping(pairs: Mapping[Any, object] | Iterable[tuple[object, object]]) -> Map:
    """A map from a dict or from pairs; keys and values go through ``to_frame``."""
    source = pairs.items() if isinstance(pairs, Mapping) else pairs
    return Map(tuple((to_frame(k), to_frame(v)) for k, v in source))


def to_frame(value: object) -> Frame:
    """Turn a Python value into a frame.

    Frames pass through; ``None`` is Null, ``bool`` Boolean, ``int`` Integer, ``float``
    Double, ``str``/``bytes`` BulkString, ``list``/``tuple`` Array, ``dict`` Map and
    ``set``/``frozenset`` Set.
    """
    if isinstance(value, FRAME_TYPES):
        return value  # type: ignore[return-value]
    if value is None:
        return NULL
    if isinstance(value, bool):
        return Boolean(value)
    if isinstance(value, int):
        return Integer(value)
    if isinstance(value, float):
        return Double(value)
    if isinstance(value, str | bytes):
        return BulkString(_bytes(value))
    if isinstance(value, list | tuple):
        return array(value)
    if isinstance(value, dict):
        return mapping(value)
    if isinstance(value, set | frozenset):
        return Set(tuple(to_frame(item) for item in value))
    raise TypeError(f"cannot turn {type(value).__name__} into a RESP frame")


def to_python(frame: Frame) -> object:
    """Turn a frame into plain Python values (a loose inverse of ``to_frame``).

    Strings become ``bytes``, errors stay frames (so they are not mistaken for
    data), maps become dicts when their keys are hashable and lists of pairs when
    not, and attributes are dropped.
    """
    match frame:
        case SimpleString(value) | BulkString(value) | VerbatimString(_, value):
            return value
        case Integer(value) | BigNumber(value):
            return value
        case Double(value):
            return value
        case Boolean(value):
            return value
        case Null():
            return None
        case SimpleError() | BulkError():
            return frame
        case Array(items) | Push(items) | Set(items):
            return [to_python(item) for item in items]
        case Map(items):
            pairs = [(to_python(k), to_python(v)) for k, v in items]
            try:
                return dict(pairs)
            except TypeError:
                return pairs
        case Attributed(_, value):
            return to_python(value)
    raise TypeError(f"not a frame: {frame!r}")
