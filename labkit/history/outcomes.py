"""The one table that maps every error a client can see to an operation's outcome.

An error is ``fail`` when the operation certainly did not take effect, and ``info`` when
it may have. Every component and workload records errors through :func:`outcome_of`, so
that they all agree (contracts, "Outcomes of errors").

``fail``:

- a redirect or refusal that Redis sends *instead of* running the command: ``-MOVED``,
  ``-ASK``, ``-CLUSTERDOWN``, ``-NOREPLICAS``, ``-NOAUTH``, ``-WRONGPASS``, ``-NOPERM``,
  ``-READONLY``, ``-LOADING``, ``-MASTERDOWN``, ``-BUSY``, ``-MISCONF``, ``-OOM``,
  ``-NOSCRIPT``, ``-EXECABORT``, ``-CROSSSLOT``, ``-WRONGTYPE``, and ``-ERR`` replies
  that refuse a command before running it (unknown command, wrong number of arguments,
  syntax error, not an integer, "is not allowed", maximum number of clients);
- an error while *connecting* (connection refused, no route, a connect timeout, no
  master known to Sentinel, an exhausted pool): the command was never sent;
- a client-side error before sending (redis-py's ``DataError``), and a ``WATCH`` abort.

``info``:

- a timeout while waiting for the reply, a broken connection (reset, EOF, broken pipe,
  "Connection closed by server"), a garbled reply;
- ``-TIMEOUT ...``: the write may or may not have been applied;
- ``-TRYAGAIN``: real Redis Cluster sends it without running the command, but in this
  lab it is also the "outcome unknown, retry" answer of the Raft components, so it is
  taken as unknown;
- **anything else.** An unknown error is ``info`` because that is the safe side:
  calling an operation ``info`` that did not happen only makes the checker try more
  orders, while calling ``fail`` an operation that did happen makes it report a
  violation that is not there.

**Retries hide outcomes.** A client that retries on its own (redis-py's ``Retry``) may
send a command, lose the connection, and then fail to reconnect: the error it finally
raises ("connection refused") is ``fail`` here, although the first attempt may have been
applied. Workloads that record histories turn client retries off (``Retry(NoBackoff(), 0)``)
and retry themselves, as a new operation.
"""

from __future__ import annotations

import asyncio
import re
from typing import Final, Literal, TypeAlias

import redis.exceptions as rex
from redis.sentinel import MasterNotFoundError, SlaveNotFoundError

__all__ = ["ERROR_PREFIX_OUTCOMES", "ErrorOutcome", "outcome_of"]

ErrorOutcome: TypeAlias = Literal["fail", "info"]

ERROR_PREFIX_OUTCOMES: Final[dict[str, ErrorOutcome]] = {
    "MOVED": "fail",
    "ASK": "fail",
    "CLUSTERDOWN": "fail",
    "NOREPLICAS": "fail",
    "NOAUTH": "fail",
    "WRONGPASS": "fail",
    "NOPERM": "fail",
    "READONLY": "fail",
    "LOADING": "fail",
    "MASTERDOWN": "fail",
    "BUSY": "fail",
    "MISCONF": "fail",
    "OOM": "fail",
    "NOSCRIPT": "fail",
    "EXECABORT": "fail",
    "CROSSSLOT": "fail",
    "WRONGTYPE": "fail",
    "TIMEOUT": "info",
    "TRYAGAIN": "info",
}
"""The first word of a Redis error reply -> the outcome."""

_ERR_REFUSALS = re.compile(
    r"unknown command|wrong number of arguments|syntax error|is not an integer|"
    r"is not allowed|max(imum)? number of clients|invalid password|unknown subcommand|"
    r"not a valid float|out of range",
    re.IGNORECASE,
)
_CONNECT_FAILURES = re.compile(
    r"connection refused|error \S+ connecting to|error connecting to|timeout connecting|"
    r"no route to host|name or service not known|network is unreachable|"
    r"too many connections|max number of clients|no master found|no slave found|"
    r"no replica found",
    re.IGNORECASE,
)
# redis-py exception classes, most specific first. Response errors are mapped by class,
# because redis-py strips the prefix (MOVED, ...) from the message of the ones it knows.
_CLASS_OUTCOMES: Final[tuple[tuple[type[BaseException], ErrorOutcome], ...]] = (
    (rex.TryAgainError, "info"),
    (rex.AskError, "fail"),  # includes MovedError
    (rex.ClusterDownError, "fail"),  # includes MasterDownError
    (rex.ClusterCrossSlotError, "fail"),
    (rex.ReadOnlyError, "fail"),
    (rex.NoPermissionError, "fail"),
    (rex.NoScriptError, "fail"),
    (rex.OutOfMemoryError, "fail"),
    (rex.ExecAbortError, "fail"),
    (rex.AuthenticationWrongNumberOfArgsError, "fail"),
    (rex.AuthenticationError, "fail"),
    (rex.AuthorizationError, "fail"),
    (rex.BusyLoadingError, "fail"),
    (rex.MaxConnectionsError, "fail"),
    (MasterNotFoundError, "fail"),
    (SlaveNotFoundError, "fail"),
    (rex.DataError, "fail"),
    (rex.WatchError, "fail"),
    (rex.InvalidResponse, "info"),
    (ConnectionRefusedError, "fail"),
    (ConnectionResetError, "info"),
    (ConnectionAbortedError, "info"),
    (BrokenPipeError, "info"),
    (asyncio.IncompleteReadError, "info"),
    (EOFError, "info"),
    (TimeoutError, "info"),
    (asyncio.CancelledError, "info"),
)


def outcome_of(error: BaseException | str) -> ErrorOutcome:
    """``fail`` if the operation that met ``error`` certainly did not take effect, else ``info``.

    ``error`` is an exception (redis-py's, or a socket's) or an error text, with or
    without the leading ``-`` of a RESP error: ``"-NOREPLICAS Not enough good replicas"``.
    See the module docstring for the table.
    """
    if isinstance(error, str):
        return _outcome_of_text(error)
    for cls, outcome in _CLASS_OUTCOMES:
        if isinstance(error, cls):
            return outcome
    if isinstance(error, rex.TimeoutError):
        return "fail" if _CONNECT_FAILURES.search(str(error)) else "info"
    if isinstance(error, rex.ConnectionError):
        return _outcome_of_connection_error(error)
    if isinstance(error, rex.ResponseError):
        code = getattr(error, "status_code", None)
        if isinstance(code, str) and code:
            return _outcome_of_text(f"{code} {error}")
        return _outcome_of_text(str(error))
    return "info"


def _outcome_of_connection_error(error: BaseException) -> ErrorOutcome:
    cause: BaseException | None = error
    seen = 0
    while cause is not None and seen < 10:
        if isinstance(cause, ConnectionRefusedError):
            return "fail"
        cause = cause.__cause__ or cause.__context__
        seen += 1
    if _CONNECT_FAILURES.search(str(error)):
        return "fail"
    return "info"


def _outcome_of_text(text: str) -> ErrorOutcome:
    stripped = text.strip().lstrip("-").strip()
    first = stripped.split(" ", 1)[0]  # Redis's error codes are upper case; redis-py's texts not
    outcome = ERROR_PREFIX_OUTCOMES.get(first)
    if outcome is not None:
        return outcome
    if first == "ERR":
        return "fail" if _ERR_REFUSALS.search(stripped) else "info"
    if _CONNECT_FAILURES.search(stripped):
        return "fail"
    return "info"
