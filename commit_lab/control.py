"""The control stream between an agent process and the world that runs it: JSON lines.

An agent started with ``--control HOST:PORT`` connects there and says ``hello`` with
its state. After every step that did something it persists first, then reports the
step (``step``: the input, every action, its state now) and waits for ``go`` before it
sends anything: the world's fault script and invariant checks run in between, exactly
where the in-process driver runs them, so a crash or a cut decided on a step lands
before that step's messages leave. The world sends ``request`` lines (a client's
transfer) the same way. Values are typed through :mod:`commit_lab.wire`'s checked
decoder; anything malformed is a :class:`~commit_lab.wire.WireError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from commit_lab.core import messages
from commit_lab.wire import MESSAGE_TYPES, WireError, build_value, plain_value
from labkit.actions import Action, Emit, Persist, Reply, Send
from labkit.core import ClientRequest, Input, Received
from labkit.events import Event

__all__ = [
    "RECORD_TYPES",
    "ParticipantView",
    "decode_actions",
    "decode_input",
    "decode_line",
    "encode_actions",
    "encode_input",
    "encode_line",
    "participant_state",
]

RECORD_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        messages.Opening,
        messages.Prepared,
        messages.PreCommitted,
        messages.Promise,
        messages.Decided,
        messages.Settled,
        messages.OnePhaseApplied,
        messages.Started,
        messages.Outcome,
        messages.End,
    )
}
"""Every durable record a core may persist, by name."""

_TYPES = MESSAGE_TYPES | RECORD_TYPES


def encode_line(data: Mapping[str, object]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


def decode_line(line: bytes) -> dict[str, Any]:
    """One control line as a dict with an ``op``; :class:`WireError` if it is not one."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        raise WireError(f"control line is not JSON: {line[:80]!r}") from None
    if not isinstance(data, dict) or not isinstance(data.get("op"), str):
        raise WireError(f"control line has no op: {line[:80]!r}")
    return data


def _typed(value: object) -> dict[str, object]:
    name = type(value).__name__
    if _TYPES.get(name) is not type(value):
        return {"type": "repr", "body": repr(value)}
    return {"type": name, "body": plain_value(value)}


def _untyped(data: object, where: str) -> object:
    if not isinstance(data, dict) or set(data) != {"type", "body"}:
        raise WireError(f"{where}: expected an object with type and body")
    name, body = data["type"], data["body"]
    if name == "repr" and isinstance(body, str):
        return body
    cls = _TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise WireError(f"{where}: unknown type {name!r}")
    return build_value(cls, body, f"{where}:{name}")


def encode_input(event: Input | None) -> dict[str, object]:
    if isinstance(event, Received):
        return {"kind": "received", "from": event.sender, "value": _typed(event.message)}
    if isinstance(event, ClientRequest):
        return {"kind": "request", "client": event.client, "value": _typed(event.request)}
    return {"kind": "tick"}


def decode_input(data: object) -> Input | None:
    if not isinstance(data, dict):
        raise WireError("step input must be an object")
    kind = data.get("kind")
    if kind == "tick":
        return None
    if kind == "received" and isinstance(data.get("from"), str):
        return Received(data["from"], _untyped(data.get("value"), "input"))
    if kind == "request" and isinstance(data.get("client"), str):
        return ClientRequest(data["client"], _untyped(data.get("value"), "input"))
    raise WireError(f"unknown step input {data!r:.80}")


def _event(e: Event) -> dict[str, object]:
    return {
        "source": e.source,
        "name": e.name,
        "wall_ns": e.wall_ns,
        "mono_ns": e.mono_ns,
        "instance": e.instance,
        "details": e.details,
    }


def encode_actions(actions: list[Action]) -> list[dict[str, object]]:
    """Send, Persist, Emit and Reply actions as JSON objects (others are not reported)."""
    out: list[dict[str, object]] = []
    for action in actions:
        if isinstance(action, Send):
            out.append({"a": "send", "to": action.to, "value": _typed(action.message)})
        elif isinstance(action, Persist):
            out.append({"a": "persist", "sync": action.sync, "value": _typed(action.record)})
        elif isinstance(action, Emit):
            out.append({"a": "emit", "event": _event(action.event)})
        elif isinstance(action, Reply):
            out.append({"a": "reply", "client": action.client, "value": _typed(action.value)})
    return out


def _decode_event(data: object) -> Event:
    if not isinstance(data, dict):
        raise WireError("emit: expected an event object")
    strings = ("source", "name", "instance", "details")
    if not all(isinstance(data.get(k), str) for k in strings):
        raise WireError(f"emit: malformed event {data!r:.80}")
    wall, mono = data.get("wall_ns"), data.get("mono_ns")
    if not isinstance(wall, int) or not (mono is None or isinstance(mono, int)):
        raise WireError(f"emit: malformed timestamps {data!r:.80}")
    return Event(
        source=data["source"],
        name=data["name"],
        wall_ns=wall,
        mono_ns=mono,
        instance=data["instance"],
        details=data["details"],
    )


def decode_actions(data: object) -> list[Action]:
    if not isinstance(data, list):
        raise WireError("step actions must be a list")
    out: list[Action] = []
    for item in data:
        kind = item.get("a") if isinstance(item, dict) else None
        assert kind is None or isinstance(item, dict)
        if kind == "send" and isinstance(item.get("to"), str):
            out.append(Send(item["to"], _untyped(item.get("value"), "send")))
        elif kind == "persist" and isinstance(item.get("sync"), bool):
            out.append(Persist(_untyped(item.get("value"), "persist"), item["sync"]))
        elif kind == "emit":
            out.append(Emit(_decode_event(item.get("event"))))
        elif kind == "reply" and isinstance(item.get("client"), str):
            out.append(Reply(item["client"], _untyped(item.get("value"), "reply")))
        else:
            raise WireError(f"unknown action {item!r:.80}")
    return out


def participant_state(core: object) -> dict[str, object]:
    """What the world sees of a participant core (empty for other cores)."""
    balances = getattr(core, "balances", None)
    outcomes = getattr(core, "outcomes", None)
    if not isinstance(balances, dict) or not isinstance(outcomes, dict):
        return {}
    return {
        "balances": dict(balances),
        "locks": dict(getattr(core, "locks", {})),
        "pending": sorted(getattr(core, "pending", {})),
        "outcomes": dict(outcomes),
    }


@dataclass(slots=True)
class ParticipantView:
    """A remote participant's state as its last report gave it (what checkers read)."""

    balances: dict[str, int] = field(default_factory=dict)
    locks: dict[str, str] = field(default_factory=dict)
    pending: dict[str, None] = field(default_factory=dict)
    outcomes: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, state: object) -> ParticipantView | None:
        """The view in a report's ``state`` (None: not a participant); checked."""
        if not isinstance(state, dict) or not state:
            return None
        try:
            balances = {str(k): int(v) for k, v in state["balances"].items()}
            locks = {str(k): str(v) for k, v in state["locks"].items()}
            pending = {str(t): None for t in state["pending"]}
            outcomes = {str(k): bool(v) for k, v in state["outcomes"].items()}
        except (KeyError, AttributeError, TypeError, ValueError):
            raise WireError(f"malformed participant state {state!r:.80}") from None
        return cls(balances, locks, pending, outcomes)
