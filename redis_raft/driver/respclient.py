"""A small pipelined asyncio RESP client that keeps frames exactly as the server sent them.

The node uses it for its backing redis-server, for proxying a follower's clients to
the leader, and for peer links. redis-py is not used on these paths on purpose: its
parsers turn ``+OK`` and ``$2 OK`` into the same ``bytes``, and errors inside an
``EXEC`` reply into exceptions, while a proxy and the state machine must hand the
client the very frames Redis produced. Replies come back in request order (RESP has
no ids), so every request gets a future in a FIFO.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence

from labkit.resp import NEED_DATA, ReplyParser, RespProtocolError, encode_command
from labkit.resp.frames import Frame, SimpleError
from redis_raft.errors import RaftError

__all__ = ["LinkError", "RespClient"]


class LinkError(RaftError):
    """A connection to another server failed, closed, or timed out."""


def _skip_expected(pending: deque[asyncio.Future[Frame] | bytes], data: bytes) -> bytes:
    """Drop the expected replies at the start of ``data`` (the parser holds nothing)."""
    pos = 0
    while pending:
        head = pending[0]
        if type(head) is not bytes or not data.startswith(head, pos):
            break
        pos += len(head)
        pending.popleft()
    return data[pos:] if pos else data


def _retrieve(futures: list[asyncio.Future[Frame]]) -> None:
    """Mark the failures of abandoned futures as seen (no "never retrieved" warning)."""
    for future in futures:
        if future.done() and not future.cancelled():
            future.exception()


class RespClient:
    """One connection to ``host:port``; create with :meth:`connect`."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = ReplyParser()
        self._pending: deque[asyncio.Future[Frame] | bytes] = deque()
        """Who gets each coming reply: a future, or the exact bytes of a reply that is
        expected and dropped (:meth:`send_skipping`)."""
        self._read_task: asyncio.Task[None] | None = None
        self.closed = False
        self.error: str | None = None
        self.unexpected_errors: list[str] = []  # error replies to write_raw requests

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        timeout_s: float = 2.0,
        password: str | None = None,
        name: str | None = None,
        resp3: bool = False,
    ) -> RespClient:
        """Connect (AUTH, RESP3 with ``resp3``, name it); :class:`LinkError` on failure.

        With RESP3 the frames keep their types (maps, sets, doubles); the RESP server
        downgrades them for a RESP2 client as Redis does.
        """
        client = cls(host, port)
        try:
            client._reader, client._writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), timeout_s
            )
        except (OSError, TimeoutError) as exc:
            raise LinkError(f"cannot connect to {host}:{port}: {exc or 'timeout'}") from None
        client._read_task = asyncio.get_running_loop().create_task(client._read_loop())
        try:
            if password:
                reply = await client.call(b"AUTH", password.encode(), timeout_s=timeout_s)
                if isinstance(reply, SimpleError):
                    raise LinkError(f"{host}:{port} refused AUTH: {reply.text}")
            if resp3:
                reply = await client.call(b"HELLO", b"3", timeout_s=timeout_s)
                if isinstance(reply, SimpleError):
                    raise LinkError(f"{host}:{port} refused HELLO 3: {reply.text}")
            if name:
                await client.call(b"CLIENT", b"SETNAME", name.encode(), timeout_s=timeout_s)
        except BaseException:
            client.close()
            raise
        return client

    # -- requests ------------------------------------------------------------------
    def send(self, *args: bytes | str | int) -> asyncio.Future[Frame]:
        """Write one request now; its reply resolves the returned future."""
        return self.send_raw(encode_command(*args), 1)[0]

    def send_raw(self, data: bytes, count: int) -> list[asyncio.Future[Frame]]:
        """Write ``count`` already-encoded requests at once; one future per reply."""
        if self.closed or self._writer is None:
            raise LinkError(f"connection to {self.address} is closed ({self.error or 'closed'})")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in range(count)]
        self._pending.extend(futures)
        self._writer.write(data)
        return futures

    def send_skipping(self, data: bytes, expected: list[bytes]) -> asyncio.Future[Frame]:
        """Write requests whose replies are ``expected`` (exact bytes, such as
        ``+QUEUED``) and dropped, then one more: the future of that last reply. Replies
        equal to what is expected are skipped without being parsed (a batch's MULTI
        ``+OK`` and ``+QUEUED`` lines); any other reply in their place is parsed and
        dropped too, so a caller must judge by the last reply (``EXEC``'s)."""
        if self.closed or self._writer is None:
            raise LinkError(f"connection to {self.address} is closed ({self.error or 'closed'})")
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending.extend(expected)
        self._pending.append(future)
        self._writer.write(data)
        return future

    def write_raw(self, data: bytes) -> None:
        """Write requests whose replies nobody waits for (they are read and dropped)."""
        if self.closed or self._writer is None:
            raise LinkError(f"connection to {self.address} is closed ({self.error or 'closed'})")
        self._writer.write(data)

    @property
    def buffered_bytes(self) -> int:
        """Bytes written but not yet taken by the kernel."""
        if self._writer is None or self.closed:
            return 0
        return self._writer.transport.get_write_buffer_size()

    async def call(self, *args: bytes | str | int, timeout_s: float | None = 5.0) -> Frame:
        """Send one request and wait for its reply."""
        return (await self.call_many([list(args)], timeout_s=timeout_s))[0]

    async def call_many(
        self, commands: Sequence[Sequence[bytes | str | int]], *, timeout_s: float | None = 5.0
    ) -> list[Frame]:
        """Pipeline ``commands`` in one write and wait for every reply."""
        if not commands:
            return []
        data = b"".join(encode_command(*c) for c in commands)
        return await self.wait_all(self.send_raw(data, len(commands)), timeout_s)

    async def wait_all(
        self, futures: list[asyncio.Future[Frame]], timeout_s: float | None = 5.0
    ) -> list[Frame]:
        """The replies of requests sent with :meth:`send_raw`, in order.

        Replies come in order, so waiting for the last one is waiting for them all.
        """
        if not futures:
            return []
        last = futures[-1]
        try:
            if timeout_s is None:
                await asyncio.shield(last)
            else:
                async with asyncio.timeout(timeout_s):
                    await asyncio.shield(last)
        except TimeoutError:
            self._fail(f"no reply from {self.address} within {timeout_s}s")
            _retrieve(futures)
            raise LinkError(f"no reply from {self.address} within {timeout_s}s") from None
        except LinkError:
            _retrieve(futures)
            raise
        return [f.result() for f in futures]

    async def drain(self) -> None:
        """Wait until the transport's buffer is below its high-water mark."""
        if self._writer is not None and not self.closed:
            try:
                await self._writer.drain()
            except (OSError, RuntimeError) as exc:
                self._fail(f"write failed: {exc}")
                raise LinkError(f"write to {self.address} failed: {exc}") from None

    def close(self) -> None:
        """Close now; outstanding requests fail with :class:`LinkError`."""
        self._fail("closed")

    async def wait_closed(self) -> None:
        if self._read_task is not None:
            with contextlib.suppress(BaseException):
                await self._read_task

    # -- internals -----------------------------------------------------------------
    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    self._fail("connection closed by server")
                    return
                pending = self._pending
                if pending and type(pending[0]) is bytes and not self._parser.buffered:
                    data = _skip_expected(pending, data)
                self._parser.feed(data)
                while (frame := self._parser.next_frame()) is not NEED_DATA:
                    if pending:
                        future = pending.popleft()
                        if isinstance(future, bytes):
                            continue  # an expected reply that differs: dropped
                        if not future.done():
                            future.set_result(frame)
                    elif isinstance(frame, SimpleError):
                        self.unexpected_errors.append(frame.text)
                        del self.unexpected_errors[:-10]
        except RespProtocolError as exc:
            self._fail(f"protocol error: {exc}")
        except (OSError, asyncio.IncompleteReadError) as exc:
            self._fail(f"connection lost: {exc}")

    def _fail(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.error = reason
        while self._pending:
            future = self._pending.popleft()
            if not isinstance(future, bytes) and not future.done():
                future.set_exception(LinkError(f"{self.address}: {reason}"))
                future.exception()  # seen: a waiter still gets it; nobody is warned
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        task = self._read_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
