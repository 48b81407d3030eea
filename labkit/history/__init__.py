"""Operation histories: the format, readers, a recorder, the error->outcome table, and checkers.

- :mod:`~labkit.history.ops`: events, operations, and pairing the first into the second;
- :mod:`~labkit.history.format`: JSON lines (with a wall-clock anchor header) and
  format detection; :mod:`~labkit.history.edn`: Jepsen/Knossos EDN and Jepsen logs;
- :mod:`~labkit.history.recorder`: :class:`HistoryRecorder` for workloads;
- :mod:`~labkit.history.outcomes`: :func:`outcome_of`, the one error -> outcome table;
- :mod:`~labkit.history.models`: register, kv, list, counter, set;
- :mod:`~labkit.history.linearizability`: Wing & Gong + Lowe's memoisation, by key;
- :mod:`~labkit.history.checks`: lost acknowledged writes and stale reads;
- :mod:`~labkit.history.cli`: ``redis-lab check`` / ``python -m labkit.history check``.
"""

from __future__ import annotations

from labkit.history.checks import (
    LostWrites,
    LostWritesResult,
    StaleRead,
    StaleReadsResult,
    check_lost_writes,
    check_stale_reads,
)
from labkit.history.errors import (
    HistoryError,
    HistoryFormatError,
    ModelError,
    RecorderError,
    UnknownModelError,
)
from labkit.history.format import (
    detect_format,
    dumps_event,
    dumps_header,
    parse_history,
    parse_jsonl,
    read_history,
    write_history,
)
from labkit.history.linearizability import (
    KeyResult,
    LinearizabilityResult,
    NextOp,
    Verdict,
    Violation,
    check_linearizability,
)
from labkit.history.models import (
    MODELS,
    UNKNOWN,
    Model,
    OpInput,
    get_model,
    register_model,
)
from labkit.history.ops import (
    History,
    HistoryEvent,
    HistoryHeader,
    Operation,
    freeze,
    pair_operations,
    thaw,
)
from labkit.history.outcomes import outcome_of
from labkit.history.recorder import HistoryRecorder, OpHandle, PendingOp

__all__ = [
    "MODELS",
    "UNKNOWN",
    "History",
    "HistoryError",
    "HistoryEvent",
    "HistoryFormatError",
    "HistoryHeader",
    "HistoryRecorder",
    "KeyResult",
    "LinearizabilityResult",
    "LostWrites",
    "LostWritesResult",
    "Model",
    "ModelError",
    "NextOp",
    "OpHandle",
    "OpInput",
    "Operation",
    "PendingOp",
    "RecorderError",
    "StaleRead",
    "StaleReadsResult",
    "UnknownModelError",
    "Verdict",
    "Violation",
    "check_linearizability",
    "check_lost_writes",
    "check_stale_reads",
    "detect_format",
    "dumps_event",
    "dumps_header",
    "freeze",
    "get_model",
    "outcome_of",
    "pair_operations",
    "parse_history",
    "parse_jsonl",
    "read_history",
    "register_model",
    "thaw",
    "write_history",
]
