"""Check results for people (text) and for tools (JSON-ready dicts)."""

from __future__ import annotations

from labkit.history.checks import LostWritesResult, StaleReadsResult
from labkit.history.linearizability import LinearizabilityResult, Verdict
from labkit.history.ops import Key, Operation, thaw

__all__ = ["format_text", "to_json"]

_SHOWN_PREFIX = 8
"""How many of the last operations of the longest prefix the text report shows."""
_SHOWN_ITEMS = 10


def _key(key: Key) -> str:
    return "(the single object)" if key is None else repr(thaw(key))


def _op_line(op: Operation) -> str:
    text = op.describe()
    where = op.lines()
    return f"{text[:-1]}, {where})" if where else text


def format_text(
    result: LinearizabilityResult,
    *,
    source: str = "history",
    stale: StaleReadsResult | None = None,
    lost: LostWritesResult | None = None,
) -> str:
    """The verdict, what went wrong, and the statistics, as lines of text."""
    lines: list[str] = []
    head = {
        Verdict.VALID: f"VALID: {source} is linearizable as a {result.model}",
        Verdict.INVALID: f"INVALID: {source} is not linearizable as a {result.model}",
        Verdict.UNKNOWN: f"UNKNOWN: the budget ran out before {source} was decided",
    }[result.verdict]
    lines.append(head)
    violation = result.violation
    if violation is not None:
        key_ops = next((k.ops for k in result.keys if k.key == violation.key), 0)
        lines.append(f"  failing key: {_key(violation.key)}")
        lines.append(
            f"  longest linearizable prefix: {len(violation.prefix)} of {key_ops} operations"
        )
        hidden = len(violation.prefix) - _SHOWN_PREFIX
        if hidden > 0:
            lines.append(f"    ... {hidden} earlier operations")
        for op in violation.prefix[-_SHOWN_PREFIX:]:
            lines.append(f"    {_op_line(op)}")
        lines.append(f"  state after it: {violation.state}")
        lines.append("  could not be linearized next:")
        for candidate in violation.next_ops[:_SHOWN_ITEMS]:
            why = (
                "accepted, but nothing works after it"
                if candidate.accepted
                else "refused by the model in that state"
            )
            if candidate.op is violation.first_return:
                why += "; the first of these to return"
            lines.append(f"    {_op_line(candidate.op)}: {why}")
        if len(violation.next_ops) > _SHOWN_ITEMS:
            lines.append(f"    ... {len(violation.next_ops) - _SHOWN_ITEMS} more")
    if stale is not None and not stale.valid:
        lines.append(f"  stale reads: {len(stale.stale)} of {stale.reads} reads")
        for item in stale.stale[:_SHOWN_ITEMS]:
            lines.append(
                f"    {_op_line(item.read)}, after {_op_line(item.newer_write)} had completed"
            )
        if stale.unwritten:
            lines.append(f"  reads of values never written: {len(stale.unwritten)}")
            for op in stale.unwritten[:_SHOWN_ITEMS]:
                lines.append(f"    {_op_line(op)}")
    if lost is not None:
        lines.append(
            f"  acknowledged writes: {lost.acknowledged}, lost: {len(lost.lost)}, "
            f"unknown but present: {lost.unknown_present}, refused: {lost.refused}"
        )
        for op in lost.lost[:_SHOWN_ITEMS]:
            lines.append(f"    lost: {_op_line(op)}")
        for key_result in lost.keys:
            for op in key_result.refused_present[:_SHOWN_ITEMS]:
                lines.append(f"    refused but present: {_op_line(op)}")
            if key_result.unexpected:
                shown = ", ".join(repr(thaw(v)) for v in key_result.unexpected[:_SHOWN_ITEMS])
                lines.append(f"    never added but present on {_key(key_result.key)}: {shown}")
    lines.append(
        f"{result.ops} operations ({result.dropped} left out: fail, info reads, unobservable info), "
        f"{len(result.keys)} of {result.key_count} keys checked, "
        f"{result.explored} states explored, {result.elapsed_s:.3f} s"
    )
    return "\n".join(lines)


def _op_json(op: Operation) -> dict[str, object]:
    return {
        "index": op.index,
        "process": op.process,
        "f": op.f,
        "key": thaw(op.key),
        "value": thaw(op.value),
        "output": thaw(op.output),
        "type": op.outcome,
        "call_line": op.call_line,
        "return_line": op.return_line,
        "call_time": op.call_time,
        "return_time": op.return_time,
    }


def to_json(
    result: LinearizabilityResult,
    *,
    stale: StaleReadsResult | None = None,
    lost: LostWritesResult | None = None,
) -> dict[str, object]:
    """Everything in the result as JSON data."""
    out: dict[str, object] = {
        "verdict": result.verdict.value,
        "model": result.model,
        "failing_key": thaw(result.failing_key) if result.violation else None,
        "stats": {
            "ops": result.ops,
            "dropped": result.dropped,
            "keys": result.key_count,
            "keys_checked": len(result.keys),
            "explored": result.explored,
            "elapsed_s": result.elapsed_s,
        },
        "keys": [
            {
                "key": thaw(k.key),
                "verdict": k.verdict.value,
                "ops": k.ops,
                "explored": k.explored,
                "method": k.method,
                "elapsed_s": k.elapsed_s,
            }
            for k in result.keys
        ],
        "violation": None,
    }
    violation = result.violation
    if violation is not None:
        out["violation"] = {
            "key": thaw(violation.key),
            "prefix": [_op_json(op) for op in violation.prefix],
            "state": violation.state,
            "next": [{"op": _op_json(c.op), "accepted": c.accepted} for c in violation.next_ops],
            "first_return": None
            if violation.first_return is None
            else _op_json(violation.first_return),
        }
    if stale is not None:
        out["stale_reads"] = {
            "valid": stale.valid,
            "reads": stale.reads,
            "stale": [
                {
                    "read": _op_json(s.read),
                    "newer_write": _op_json(s.newer_write),
                    "source": None if s.source is None else _op_json(s.source),
                }
                for s in stale.stale
            ],
            "unwritten": [_op_json(op) for op in stale.unwritten],
        }
    if lost is not None:
        out["lost_writes"] = {
            "valid": lost.valid,
            "keys": [
                {
                    "key": thaw(k.key),
                    "final_read": None if k.final_read is None else _op_json(k.final_read),
                    "acknowledged": k.acknowledged,
                    "lost": [_op_json(op) for op in k.lost],
                    "unknown_present": k.unknown_present,
                    "unknown_absent": k.unknown_absent,
                    "refused": k.refused,
                    "refused_present": [_op_json(op) for op in k.refused_present],
                    "unexpected": [thaw(v) for v in k.unexpected],
                    "in_flight": k.in_flight,
                }
                for k in lost.keys
            ],
        }
    return out
