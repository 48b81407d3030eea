"""The agents' messages on a TCP stream: one JSON object per line.

What agent processes (:mod:`commit_lab.agent`) send each other: every message the commit
cores send (2PC, 3PC, 1PC, the consensus variant's proposals) and the client's
transfers, as ``{"from": ..., "to": ..., "type": "Vote", "body": {...}}`` lines.
Decoding checks every field against the dataclass's annotations, so a malformed or
hostile frame is a :class:`WireError`, never another exception; a line longer than
:data:`MAX_LINE` is refused before it is buffered whole.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Any

from commit_lab.core import consensus_decision, messages
from commit_lab.errors import CommitLabError

__all__ = [
    "MAX_LINE",
    "MESSAGE_TYPES",
    "Frame",
    "FrameReader",
    "WireError",
    "build_value",
    "decode",
    "encode",
    "plain_value",
]

MAX_LINE = 64 * 1024

_NAMES = (
    "Prepare",
    "Vote",
    "Decision",
    "Ack",
    "Inquiry",
    "Uncertain",
    "PreCommit",
    "PreCommitAck",
    "StateRequest",
    "StateReply",
    "Refuse",
    "Terminate",
    "OnePhaseWrite",
    "OnePhaseDone",
    "Transfer",
    "TxOutcome",
)
MESSAGE_TYPES: dict[str, type] = {name: getattr(messages, name) for name in _NAMES} | {
    cls.__name__: cls
    for cls in (
        consensus_decision.Propose,
        consensus_decision.DecisionResult,
        consensus_decision.NotLeader,
    )
}
"""Every type that may cross the wire, by name."""


class WireError(CommitLabError):
    """A frame that is not a well-formed message (the peer is buggy or hostile)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One message on the wire: who sent it, to whom."""

    sender: str
    to: str
    message: object


def encode(frame: Frame) -> bytes:
    """The frame as one JSON line (ending in a newline)."""
    name = type(frame.message).__name__
    if MESSAGE_TYPES.get(name) is not type(frame.message):
        raise WireError(f"cannot send {frame.message!r}: not a wire message")
    body = _plain(frame.message)
    data = {"from": frame.sender, "to": frame.to, "type": name, "body": body}
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def plain_value(value: object) -> object:
    """A message or record dataclass as JSON-ready lists and dicts."""
    return _plain(value)


def build_value(cls: type, body: object, where: str) -> object:
    """``body`` checked against the dataclass ``cls``; :class:`WireError` names what is wrong."""
    return _build(cls, body, where)


def decode(line: bytes) -> Frame:
    """One line back into a frame; :class:`WireError` names what is wrong."""
    if len(line) > MAX_LINE:
        raise WireError(f"frame of {len(line)} bytes is over the {MAX_LINE}-byte limit")
    try:
        data = json.loads(line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"frame is not JSON: {exc}") from None
    except RecursionError:
        raise WireError("frame is nested too deeply") from None
    if not isinstance(data, dict) or set(data) != {"from", "to", "type", "body"}:
        raise WireError("frame must be an object with exactly from, to, type and body")
    sender, to, name = data["from"], data["to"], data["type"]
    if not isinstance(sender, str) or not sender or not isinstance(to, str) or not to:
        raise WireError("frame's from and to must be non-empty strings")
    cls = MESSAGE_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise WireError(f"unknown message type {name!r}")
    return Frame(sender, to, _build(cls, data["body"], name))


def _build(cls: type, body: object, where: str) -> object:
    if not isinstance(body, dict):
        raise WireError(f"{where}: expected an object, got {type(body).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise WireError(f"{where}: unknown field(s) {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    values: dict[str, object] = {}
    for name, f in fields.items():
        if name not in body:
            if f.default is dataclasses.MISSING:
                raise WireError(f"{where}: missing field {name!r}")
            continue
        values[name] = _value(hints[name], body[name], f"{where}.{name}")
    try:
        return cls(**values)
    except (TypeError, ValueError, CommitLabError) as exc:
        raise WireError(f"{where}: {exc}") from None


def _value(hint: Any, value: object, where: str) -> object:
    origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is str:
        if isinstance(value, str):
            return value
    elif origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is not type(None):
                return _value(option, value, where)
    elif origin is tuple:
        args = typing.get_args(hint)
        if isinstance(value, list):
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_value(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
            if len(value) == len(args):
                return tuple(
                    _value(a, v, f"{where}[{i}]")
                    for i, (a, v) in enumerate(zip(args, value, strict=True))
                )
    elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    raise WireError(f"{where}: {value!r} is not a {_name(hint)}")


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint)


class FrameReader:
    """Frames from a byte stream, whatever the chunking; a line over the limit is an error."""

    def __init__(self, limit: int = MAX_LINE) -> None:
        self.limit = limit
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self.limit:
                    raise WireError(f"frame over the {self.limit}-byte limit with no line end")
                return frames
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if len(line) > self.limit:
                raise WireError(f"frame of {len(line)} bytes is over the {self.limit}-byte limit")
            frames.append(decode(line))
