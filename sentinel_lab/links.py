"""Asyncio client links to Redis servers and other sentinels.

A :class:`RespLink` is one TCP connection, opened on demand, that a sentinel talks over
in order: every command is written as soon as it is sent (hiredis-style pipelining) and
replies are matched to commands first in, first out. Replies are turned into the
values the core expects (:func:`core_value`) and handed to ``on_reply(args, value)``;
pub/sub messages go to ``on_push(channel, payload)``.

Failures are reported, never raised:

* a refused or reset connection fails every command not yet answered with
  ``LinkError("refused" | "reset")``; when none was waiting, ``on_broken(kind)`` says so;
* a command unanswered for ``timeout_ms`` (see :meth:`RespLink.check_timeouts`, called
  from the driver's timer) fails the same way with ``LinkError("timeout")`` and the
  connection is closed: a stalled server holds its socket open forever;
* after a failure, new connections wait a backoff (100 ms doubling to 500 ms, under the core's own 1 s reconnect period); commands
  sent meanwhile fail at once with ``LinkError("refused")``.

:meth:`RespLink.drop` closes the connection *silently*: commands still waiting are
forgotten, as hiredis's freed contexts are in Redis (the core already counted them lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from labkit.actions import RedisArg
from labkit.resp import NEED_DATA, ReplyParser, RespProtocolError, encode_command
from labkit.resp.frames import (
    Array,
    Attributed,
    BigNumber,
    Boolean,
    BulkError,
    BulkString,
    Double,
    Frame,
    Integer,
    Map,
    Null,
    Push,
    Set,
    SimpleError,
    SimpleString,
    VerbatimString,
)
from sentinel_lab.core.replies import ErrorReply, LinkError, LinkErrorKind

__all__ = ["LinkSettings", "RespLink", "core_value", "split_addr"]

ReplyCallback = Callable[[tuple[RedisArg, ...], object], None]
PushCallback = Callable[[bytes, bytes], None]
BrokenCallback = Callable[[LinkErrorKind], None]

_BACKOFF_MIN_MS = 100
_BACKOFF_MAX_MS = 500


def split_addr(addr: str) -> tuple[str, int]:
    """``host:port`` (the host may hold colons, as an IPv6 address does)."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def core_value(frame: Frame) -> object:
    """A reply frame as the core wants it: status -> str, bulk -> bytes, error ->
    :class:`ErrorReply`, array -> list, nil -> None, integer -> int."""
    match frame:
        case SimpleString(value):
            return value.decode("utf-8", "replace")
        case BulkString(value) | VerbatimString(_, value):
            return value
        case SimpleError(value) | BulkError(value):
            return ErrorReply(value.decode("utf-8", "replace"))
        case Integer(value) | BigNumber(value):
            return value
        case Null():
            return None
        case Array(items) | Set(items) | Push(items):
            return [core_value(item) for item in items]
        case Map(items):
            return [core_value(x) for pair in items for x in pair]
        case Double(value):
            return value
        case Boolean(value):
            return int(value)
        case Attributed(_, value):
            return core_value(value)
    raise TypeError(f"not a frame: {frame!r}")


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """How to open one link: who we are and how we log in."""

    client_name: str
    auth_user: str | None = None
    auth_pass: str | None = None
    timeout_ms: int = 5000
    connect_timeout_ms: int = 2000


@dataclass(slots=True)
class _Pending:
    args: tuple[RedisArg, ...]
    internal: bool
    sent_ms: int


def _now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class RespLink:
    """One connection to ``host:port``; see the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        settings: LinkSettings,
        *,
        on_reply: ReplyCallback,
        on_push: PushCallback | None = None,
        on_broken: BrokenCallback | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.settings = settings
        self._on_reply = on_reply
        self._on_push = on_push
        self._on_broken = on_broken
        self._gen = 0
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._queue: deque[tuple[RedisArg, ...]] = deque()
        self._pending: deque[_Pending] = deque()
        self._connect_started_ms = 0
        self._retry_at_ms = 0
        self._backoff_ms = _BACKOFF_MIN_MS
        self._closed = False

    @property
    def connected(self) -> bool:
        """Whether a connection is open (not merely being opened)."""
        return self._writer is not None

    @property
    def pending(self) -> int:
        """Commands sent or queued and not yet answered."""
        return len(self._queue) + sum(1 for p in self._pending if not p.internal)

    # -- sending ---------------------------------------------------------------------
    def send(self, args: tuple[RedisArg, ...]) -> None:
        """Send a command now, or as soon as the connection is open."""
        if self._closed:
            self._later_fail([args], "closed")
            return
        if self._writer is not None:
            self._write(args, internal=False)
            return
        self._queue.append(args)
        if self._task is None:
            if _now_ms() < self._retry_at_ms:
                failed = list(self._queue)
                self._queue.clear()
                self._later_fail(failed, "refused")
                return
            self._connect_started_ms = _now_ms()
            self._task = asyncio.get_running_loop().create_task(self._run(self._gen))

    def _write(self, args: tuple[RedisArg, ...], *, internal: bool) -> None:
        assert self._writer is not None
        self._pending.append(_Pending(args, internal, _now_ms()))
        self._writer.write(encode_command(*args))

    def _later_fail(self, commands: list[tuple[RedisArg, ...]], kind: LinkErrorKind) -> None:
        loop = asyncio.get_running_loop()
        for args in commands:
            loop.call_soon(self._on_reply, args, LinkError(kind))

    # -- the connection ----------------------------------------------------------------
    async def _run(self, gen: int) -> None:
        s = self.settings
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), s.connect_timeout_ms / 1000
            )
        except TimeoutError:
            self._fail(gen, "timeout")
            return
        except ConnectionRefusedError:
            self._fail(gen, "refused")
            return
        except OSError:
            self._fail(gen, "reset")
            return
        if gen != self._gen:
            writer.close()
            return
        self._writer = writer
        self._backoff_ms = _BACKOFF_MIN_MS
        if s.auth_pass is not None:
            auth: tuple[RedisArg, ...] = ("AUTH", s.auth_pass)
            if s.auth_user is not None:
                auth = ("AUTH", s.auth_user, s.auth_pass)
            self._write(auth, internal=True)
        self._write(("CLIENT", "SETNAME", s.client_name), internal=True)
        while self._queue:
            self._write(self._queue.popleft(), internal=False)
        await self._read(gen, reader, writer)

    async def _read(
        self, gen: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        parser = ReplyParser()
        try:
            while gen == self._gen:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionResetError("closed by the server")
                parser.feed(data)
                while gen == self._gen:
                    frame = parser.next_frame()
                    if frame is NEED_DATA:
                        break
                    self._dispatch(frame)
        except (OSError, RespProtocolError):
            self._fail(gen, "reset")
        finally:
            writer.close()

    def _dispatch(self, frame: Frame) -> None:
        if isinstance(frame, Array | Push) and len(frame.items) >= 3:
            kind = frame.items[0]
            if isinstance(kind, BulkString) and kind.value in (b"message", b"pmessage"):
                channel, payload = frame.items[-2], frame.items[-1]
                if (
                    self._on_push is not None
                    and isinstance(channel, BulkString)
                    and isinstance(payload, BulkString)
                ):
                    self._on_push(channel.value, payload.value)
                return
        if not self._pending:
            return  # nothing asked: ignore (an unsolicited push)
        entry = self._pending.popleft()
        if not entry.internal:
            self._on_reply(entry.args, core_value(frame))

    def _fail(self, gen: int, kind: LinkErrorKind) -> None:
        """The connection of generation ``gen`` failed: report, close, back off."""
        if gen != self._gen:
            return
        failed = [p.args for p in self._pending if not p.internal] + list(self._queue)
        self._reset_state()
        self._retry_at_ms = _now_ms() + self._backoff_ms
        self._backoff_ms = min(self._backoff_ms * 2, _BACKOFF_MAX_MS)
        for args in failed:
            self._on_reply(args, LinkError(kind))
        if not failed and self._on_broken is not None:
            self._on_broken(kind)

    def _reset_state(self) -> None:
        self._gen += 1
        if self._writer is not None:
            self._writer.close()
        self._writer = None
        self._task = None
        self._queue.clear()
        self._pending.clear()

    # -- control -------------------------------------------------------------------------
    def check_timeouts(self, now_ms: int | None = None) -> None:
        """Fail the link if its oldest command (or its connect) has waited too long."""
        now = _now_ms() if now_ms is None else now_ms
        limit = self.settings.timeout_ms
        if (self._pending and now - self._pending[0].sent_ms > limit) or (
            self._task is not None
            and self._writer is None
            and self._queue
            and now - self._connect_started_ms > limit
        ):
            self._fail(self._gen, "timeout")

    def fail(self, kind: LinkErrorKind) -> None:
        """Close the connection as if it broke: waiting commands fail with ``kind``."""
        self._fail(self._gen, kind)

    def drop(self) -> None:
        """Close the connection silently; waiting commands are forgotten."""
        task = self._task
        self._reset_state()
        if task is not None and not task.done():
            task.cancel()

    async def aclose(self) -> None:
        """Close for good (at shutdown)."""
        self._closed = True
        task = self._task
        self.drop()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
