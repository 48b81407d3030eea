"""Small helpers for tests: run a RESP server for the length of a ``with`` block.

``running_server`` runs one in the current event loop (for asyncio clients);
``ServerThread`` runs one in a thread with its own loop (for blocking clients such as
``redis.Redis`` or ``redis-cli``). Both always close the server on the way out.
``RespTestClient`` is a raw asyncio RESP client that shows exactly which frames (and
which closes) a server sends, for protocol-level tests of any RESP server.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from types import TracebackType
from typing import Any, TypeVar

from labkit.resp.codec import NEED_DATA, ReplyParser
from labkit.resp.commands import CommandTable
from labkit.resp.encoder import encode_command
from labkit.resp.errors import ServerStateError
from labkit.resp.frames import Frame
from labkit.resp.server import RespServer, ServerConfig

__all__ = ["RespTestClient", "ServerThread", "running_server"]

T = TypeVar("T")


@asynccontextmanager
async def running_server(
    config: ServerConfig | None = None,
    commands: CommandTable | None = None,
    *,
    server_cls: type[RespServer] = RespServer,
    **overrides: Any,
) -> AsyncIterator[RespServer]:
    """Start a server on a free loopback port; close it at exit, even on errors."""
    config = replace(config or ServerConfig(), **overrides)
    server = server_cls(config, commands)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


class ServerThread:
    """A RESP server running in a background thread, for blocking clients.

    ``with ServerThread(lambda: RespServer(cfg)) as running: ...`` enters once the
    server listens; ``running.port`` is its port and ``running.call(fn)`` runs ``fn`` in
    the server's loop (e.g. to publish from inside).
    """

    def __init__(self, factory: Callable[[], RespServer], start_timeout_s: float = 10.0) -> None:
        self._factory = factory
        self._timeout_s = start_timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="resp-server", daemon=True)
        self._started: Future[RespServer] = Future()
        self._stop: asyncio.Event | None = None
        self.server: RespServer | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        try:
            server = self._factory()
            await server.start()
        except BaseException as exc:
            self._started.set_exception(exc)
            return
        self._stop = asyncio.Event()
        self.server = server
        self._started.set_result(server)
        stop = asyncio.ensure_future(self._stop.wait())
        closed = asyncio.ensure_future(server.wait_closed())
        await asyncio.wait([stop, closed], return_when=asyncio.FIRST_COMPLETED)
        await server.close()
        for task in (stop, closed):
            task.cancel()
        await asyncio.gather(stop, closed, return_exceptions=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._started.result(timeout=self._timeout_s)
        return self

    @property
    def port(self) -> int:
        """The server's port."""
        if self.server is None:
            raise ServerStateError("server thread not running")
        return self.server.port

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Close the server and end the thread."""
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=self._timeout_s + 5)

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` in the server's loop and return its result."""
        if self.server is None or not self._thread.is_alive():
            raise ServerStateError("server thread not running")

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(self._timeout_s)


class RespTestClient:
    """A raw RESP client over asyncio streams, for protocol tests.

    ``call(*args)`` sends a command and returns the next frame; ``send_raw`` writes
    any bytes; ``read_until_closed`` returns what arrives until the server closes.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = ReplyParser()

    @classmethod
    async def connect(
        cls, port: int, host: str = "127.0.0.1", *, recv_buffer_bytes: int = 0
    ) -> RespTestClient:
        """Connect; ``recv_buffer_bytes`` shrinks SO_RCVBUF (for slow-reader tests)."""
        if not recv_buffer_bytes:
            reader, writer = await asyncio.open_connection(host, port)
            return cls(reader, writer)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer_bytes)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        except BaseException:
            sock.close()
            raise
        reader, writer = await asyncio.open_connection(sock=sock)
        return cls(reader, writer)

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, *args: bytes | str | int | float) -> None:
        await self.send_raw(encode_command(*args))

    async def reply(self, timeout_s: float = 5.0) -> Frame:
        """The next frame from the server (TimeoutError, or EOFError if it closed)."""
        async with asyncio.timeout(timeout_s):
            while True:
                frame = self.parser.next_frame()
                if frame is not NEED_DATA:
                    return frame
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError("server closed the connection")
                self.parser.feed(data)

    async def call(self, *args: bytes | str | int | float, timeout_s: float = 5.0) -> Frame:
        await self.send(*args)
        return await self.reply(timeout_s)

    async def read_until_closed(self, timeout_s: float = 5.0) -> bytes:
        """Unparsed bytes received until the server closes (TimeoutError if it does not)."""
        chunks: list[bytes] = []
        async with asyncio.timeout(timeout_s):
            while True:
                try:
                    data = await self.reader.read(65536)
                except ConnectionError:
                    break
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks)

    async def aclose(self) -> None:
        self.writer.close()
        with suppress(ConnectionError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)

    async def __aenter__(self) -> RespTestClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
