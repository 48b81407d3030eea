"""The error -> outcome table, for error texts and redis-py's exceptions."""

from __future__ import annotations

import asyncio
import socket

import pytest
import redis.exceptions as rex
from redis._parsers.base import BaseParser
from redis.sentinel import MasterNotFoundError

from labkit.history import outcome_of
from labkit.history.outcomes import ERROR_PREFIX_OUTCOMES


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("-MOVED 3999 127.0.0.1:6381", "fail"),
        ("MOVED 3999 127.0.0.1:6381", "fail"),
        ("-ASK 3999 127.0.0.1:6381", "fail"),
        ("-CLUSTERDOWN No Raft leader", "fail"),
        ("-CLUSTERDOWN The cluster is down", "fail"),
        ("-NOREPLICAS Not enough good replicas to write.", "fail"),
        ("-NOAUTH Authentication required.", "fail"),
        ("-READONLY You can't write against a read only replica.", "fail"),
        ("-LOADING Redis is loading the dataset in memory", "fail"),
        ("-MASTERDOWN Link with MASTER is down", "fail"),
        ("-WRONGTYPE Operation against a key holding the wrong kind of value", "fail"),
        ("-ERR unknown command 'FOO'", "fail"),
        ("-ERR SPOP is not allowed: its effect is not deterministic", "fail"),
        ("-ERR wrong number of arguments for 'get' command", "fail"),
        ("Error 111 connecting to 127.0.0.1:6379. Connection refused.", "fail"),
        ("Timeout connecting to server", "fail"),
        ("-TIMEOUT the write may have been applied", "info"),
        ("-TRYAGAIN Multiple keys request during rehashing of slot", "info"),
        ("Connection closed by server.", "info"),
        ("Timeout reading from 127.0.0.1:6379", "info"),
        ("Error while reading from socket: (104, 'Connection reset by peer')", "info"),
        ("-ERR something we never heard of", "info"),
        ("-WEIRD new error", "info"),
        ("", "info"),
    ],
)
def test_error_texts(text: str, outcome: str) -> None:
    assert outcome_of(text) == outcome


def test_the_contract_table_is_in_the_prefix_table() -> None:
    for prefix in ("MOVED", "CLUSTERDOWN", "NOREPLICAS", "NOAUTH"):
        assert ERROR_PREFIX_OUTCOMES[prefix] == "fail"
    assert ERROR_PREFIX_OUTCOMES["TIMEOUT"] == "info"


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        ("MOVED 3999 127.0.0.1:6381", "fail"),
        ("ASK 3999 127.0.0.1:6381", "fail"),
        ("CLUSTERDOWN The cluster is down", "fail"),
        ("MASTERDOWN Link with MASTER is down", "fail"),
        ("READONLY You can't write against a read only replica.", "fail"),
        ("NOAUTH Authentication required.", "fail"),
        ("NOPERM no permission", "fail"),
        ("LOADING Redis is loading", "fail"),
        ("EXECABORT Transaction discarded", "fail"),
        ("OOM command not allowed", "fail"),
        ("NOSCRIPT No matching script", "fail"),
        ("CROSSSLOT Keys in request don't hash to the same slot", "fail"),
        ("NOREPLICAS Not enough good replicas to write.", "fail"),
        ("TIMEOUT waiting for replicas", "info"),
        ("TRYAGAIN Multiple keys request during rehashing of slot", "info"),
        ("ERR unknown command 'FOO'", "fail"),
        ("ERR max number of clients reached", "fail"),
        ("ERR something new", "info"),
    ],
)
def test_redis_py_parses_replies_into_exceptions_we_classify(reply: str, outcome: str) -> None:
    """redis-py strips known prefixes from the message: the class must carry the outcome."""
    error = BaseParser.parse_error(reply)  # type: ignore[no-untyped-call]
    assert outcome_of(error) == outcome


def refused() -> rex.ConnectionError:
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as exc:
            raise rex.ConnectionError("Error 111 connecting to localhost:6379.") from exc
    except rex.ConnectionError as wrapped:
        return wrapped


def reset() -> rex.ConnectionError:
    try:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except ConnectionResetError as exc:
            raise rex.ConnectionError("Connection closed by server.") from exc
    except rex.ConnectionError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (refused(), "fail"),
        (rex.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."), "fail"),
        (
            rex.ConnectionError("Error -2 connecting to nohost:6379. Name or service not known."),
            "fail",
        ),
        (reset(), "info"),
        (rex.ConnectionError("Connection closed by server."), "info"),
        (rex.TimeoutError("Timeout reading from 127.0.0.1:6379"), "info"),
        (rex.TimeoutError("Timeout connecting to server"), "fail"),
        (rex.AuthenticationError("invalid username-password pair"), "fail"),
        (rex.BusyLoadingError("Redis is loading"), "fail"),
        (rex.ReadOnlyError("You can't write against a read only replica."), "fail"),
        (rex.MaxConnectionsError("Too many connections"), "fail"),
        (MasterNotFoundError("No master found for 'mymaster'"), "fail"),
        (rex.DataError("Invalid input of type: 'dict'"), "fail"),
        (rex.WatchError("Watched variable changed."), "fail"),
        (rex.InvalidResponse("Protocol Error: b'x'"), "info"),
        (rex.ResponseError("NOREPLICAS Not enough good replicas to write."), "fail"),
        (rex.ResponseError("TIMEOUT"), "info"),
        (rex.RedisError("something"), "info"),
        (ConnectionRefusedError(111, "Connection refused"), "fail"),
        (ConnectionResetError(104, "Connection reset by peer"), "info"),
        (BrokenPipeError(32, "Broken pipe"), "info"),
        (TimeoutError(), "info"),
        (socket.timeout("timed out"), "info"),  # noqa: UP041 - the old names must work too
        (asyncio.TimeoutError(), "info"),  # noqa: UP041
        (asyncio.CancelledError(), "info"),
        (asyncio.IncompleteReadError(b"", 5), "info"),
        (OSError(113, "No route to host"), "info"),
        (ValueError("nobody knows"), "info"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_exceptions(error: BaseException, outcome: str) -> None:
    assert outcome_of(error) == outcome
