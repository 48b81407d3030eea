"""An asyncio RESP server base: connections, dispatch, limits, pub/sub and INFO.

A component makes a server with its own ``CommandTable`` (``builtin_commands()``
plus its commands, or a selection) and, if it needs them, overrides the hooks
``on_connect``, ``on_disconnect``, ``on_shutdown`` and ``on_closed``. It can publish
from inside (``publish``) and add INFO sections (``add_info_section``).

Dispatch follows Redis 7.0's ``processCommand`` order: unknown command or
subcommand, then arity, then authentication, then the RESP2 subscribe-mode
restriction. Every complete request in the input is run in order and the replies
are written in order (pipelining).

Limits, per client: the unparsed input may not exceed ``query_buffer_limit_bytes``
(the client is closed, as Redis does past ``client-query-buffer-limit``); replies the
client does not read may not exceed ``output_buffer_limit_bytes`` (the client is
dropped, as Redis does past ``client-output-buffer-limit``); past ``maxclients`` a
new connection gets ``-ERR max number of clients reached`` and is closed. A protocol
error gets ``-ERR Protocol error: ...`` and the connection is closed after the reply.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import platform
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

from labkit.resp.codec import MAX_MULTIBULK_LEN, NEED_DATA, PROTO_MAX_BULK_LEN
from labkit.resp.commands import CommandFlag, CommandTable, arity_error, sanitize_error
from labkit.resp.connection import ClientConnection
from labkit.resp.errors import CommandError, RespProtocolError, ServerStateError
from labkit.resp.frames import SimpleError
from labkit.resp.pubsub import PubSub

__all__ = ["InfoProvider", "RespServer", "ServerConfig", "ServerStats"]

log = logging.getLogger("labkit.resp.server")

InfoProvider = Callable[[], Mapping[str, object] | Iterable[tuple[str, object]]]
"""Returns the ``key: value`` lines of one INFO section."""

_SUBSCRIBE_CONTEXT_ERROR = (
    "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
    "are allowed in this context"
)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Settings of one RESP server. Defaults are Redis's unless a comment says why not."""

    host: str = "127.0.0.1"  # Redis binds to every interface; the lab stays on loopback
    port: int = 0  # 0 picks a free port; read it back from RespServer.port
    requirepass: str | None = None  # password of the only user, ``default``
    maxclients: int = 10_000
    query_buffer_limit_bytes: int = 32 * 1024 * 1024  # Redis: 1 GiB, too much for Python
    output_buffer_limit_bytes: int = 32 * 1024 * 1024  # Redis: pubsub hard limit 32mb
    proto_max_bulk_len: int = PROTO_MAX_BULK_LEN
    max_multibulk_len: int = MAX_MULTIBULK_LEN  # INT_MAX, as Redis 7.0 (6.2: 1024*1024)
    read_chunk_bytes: int = 64 * 1024  # Redis reads 16 KiB; larger reads cost less here
    server_name: str = "redis"  # HELLO "server"
    version: str = "7.0.15"  # HELLO "version", INFO redis_version: the reference release
    mode: str = "standalone"  # HELLO "mode": standalone, sentinel or cluster
    role: str | None = "master"  # HELLO "role"; None leaves it out, as Sentinel does
    run_id: str = ""  # 40 hex characters; empty means a random one
    shutdown_timeout_ms: int = 5_000  # how long close() waits for connections to end


@dataclass(slots=True)
class ServerStats:
    """Counters shown by INFO stats."""

    total_connections_received: int = 0
    total_commands_processed: int = 0
    rejected_connections: int = 0
    net_input_bytes: int = 0
    net_output_bytes: int = 0
    total_error_replies: int = 0
    protocol_errors: int = 0
    query_limit_disconnections: int = 0
    output_limit_disconnections: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class RespServer:
    """A RESP server on asyncio; see the module docstring."""

    def __init__(
        self, config: ServerConfig | None = None, commands: CommandTable | None = None
    ) -> None:
        from labkit.resp.builtins import builtin_commands

        self.config = config or ServerConfig()
        self.commands = commands if commands is not None else builtin_commands()
        self.clients: dict[int, ClientConnection] = {}
        self.pubsub = PubSub()
        self.stats = ServerStats()
        self.run_id = self.config.run_id or secrets.token_hex(20)
        self.started_at = time.monotonic()
        self._info: dict[str, tuple[str, InfoProvider, bool]] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_id = 1
        self._closing = False
        self._closed = asyncio.Event()
        self._shutdown_task: asyncio.Task[None] | None = None
        self.add_info_section("server", self._info_server)
        self.add_info_section("clients", self._info_clients)
        self.add_info_section("stats", self._info_stats)

    # ----- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._server is not None:
            raise ServerStateError("server already started")
        self._server = await asyncio.start_server(
            self._accept, self.config.host, self.config.port, limit=self.config.read_chunk_bytes
        )
        log.info("Ready to accept connections tcp on %s:%d", self.config.host, self.port)

    @property
    def port(self) -> int:
        """The bound TCP port."""
        if self._server is None or not self._server.sockets:
            raise ServerStateError("server not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def auth_required(self) -> bool:
        """Whether clients must AUTH first (``requirepass`` is set and not empty)."""
        return bool(self.config.requirepass)

    @property
    def closing(self) -> bool:
        return self._closing

    async def close(self) -> None:
        """Stop accepting, close every connection, and wait for them to end."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        if self._server is not None:
            self._server.close()
        for conn in list(self.clients.values()):
            conn.close()
        current = asyncio.current_task()
        pending = [task for task in self._tasks if task is not current]
        if pending:
            _, still = await asyncio.wait(pending, timeout=self.config.shutdown_timeout_ms / 1000)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=1.0)
        try:
            await self.on_closed()
        finally:
            self._closed.set()
            log.info("Server closed (port %s).", self.config.port or "auto")

    def request_shutdown(self) -> None:
        """Close the server soon, from inside a command handler."""
        if self._shutdown_task is None and not self._closing:
            self._shutdown_task = asyncio.get_running_loop().create_task(self.close())

    async def wait_closed(self) -> None:
        """Wait until ``close()`` (for example through SHUTDOWN) has finished."""
        await self._closed.wait()

    async def __aenter__(self) -> RespServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ----- hooks for subclasses --------------------------------------------------

    def on_connect(self, conn: ClientConnection) -> None:
        """Called when a client connected."""

    def on_disconnect(self, conn: ClientConnection) -> None:
        """Called when a client is gone."""

    async def on_shutdown(self, conn: ClientConnection, args: list[bytes]) -> str | None:
        """Called by SHUTDOWN before closing; return an error text to refuse."""
        return None

    async def on_closed(self) -> None:
        """Called once at the end of ``close()``."""

    def check_password(self, user: str, password: bytes) -> bool:
        """Whether ``user``/``password`` may log in (only ``default`` exists)."""
        if user != "default":
            return False
        if not self.auth_required:
            return True
        assert self.config.requirepass is not None
        return password == self.config.requirepass.encode()

    # ----- pub/sub and INFO ------------------------------------------------------

    def publish(self, channel: bytes | str, message: bytes | str) -> int:
        """Publish as PUBLISH does; return the number of receivers."""
        if isinstance(channel, str):
            channel = channel.encode()
        if isinstance(message, str):
            message = message.encode()
        return self.pubsub.publish(channel, message)

    def add_info_section(
        self, name: str, provider: InfoProvider, *, default: bool = True, title: str = ""
    ) -> None:
        """Add (or replace) an INFO section; ``default`` ones appear in a bare INFO."""
        self._info[name.lower()] = (title or name.capitalize(), provider, default)

    def info(self, sections: Iterable[str] = ()) -> str:
        """The INFO text for the requested sections, in Redis's format."""
        wanted = [s.lower() for s in sections] or ["default"]
        chosen: list[str] = []
        for name, (_, _, default) in self._info.items():
            if (
                name in wanted
                or "all" in wanted
                or "everything" in wanted
                or ("default" in wanted and default)
            ):
                chosen.append(name)
        blocks = []
        for name in chosen:
            title, provider, _ = self._info[name]
            lines = provider()
            items = lines.items() if isinstance(lines, Mapping) else lines
            body = "".join(f"{key}:{value}\r\n" for key, value in items)
            blocks.append(f"# {title}\r\n{body}")
        return "\r\n".join(blocks)

    def _info_server(self) -> list[tuple[str, object]]:
        uptime = int(time.monotonic() - self.started_at)
        uname = platform.uname()
        return [
            ("redis_version", self.config.version),
            ("redis_mode", self.config.mode),
            ("os", f"{uname.system} {uname.release} {uname.machine}"),
            ("arch_bits", 64 if sys.maxsize > 2**32 else 32),
            ("process_id", os.getpid()),
            ("run_id", self.run_id),
            ("tcp_port", self.port if self._server is not None else self.config.port),
            ("uptime_in_seconds", uptime),
            ("uptime_in_days", uptime // 86400),
            ("executable", sys.executable),
            ("labkit_server", type(self).__name__),
        ]

    def _info_clients(self) -> list[tuple[str, object]]:
        return [
            ("connected_clients", len(self.clients)),
            ("maxclients", self.config.maxclients),
            ("client_recent_max_input_buffer", 0),
            ("client_recent_max_output_buffer", 0),
            ("blocked_clients", 0),
            ("pubsub_clients", sum(1 for c in self.clients.values() if c.subscribed)),
        ]

    def _info_stats(self) -> list[tuple[str, object]]:
        s = self.stats
        return [
            ("total_connections_received", s.total_connections_received),
            ("total_commands_processed", s.total_commands_processed),
            ("total_net_input_bytes", s.net_input_bytes),
            ("total_net_output_bytes", s.net_output_bytes),
            ("rejected_connections", s.rejected_connections),
            ("pubsub_channels", len(self.pubsub.channels)),
            ("pubsub_patterns", len(self.pubsub.patterns)),
            ("total_error_replies", s.total_error_replies),
            ("protocol_errors", s.protocol_errors),
            ("client_query_buffer_limit_disconnections", s.query_limit_disconnections),
            ("client_output_buffer_limit_disconnections", s.output_limit_disconnections),
            *s.extra.items(),
        ]

    # ----- connections -----------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self._closing or len(self.clients) >= self.config.maxclients:
                self.stats.rejected_connections += 1
                if not self._closing:
                    writer.write(b"-ERR max number of clients reached\r\n")
                writer.close()
                return
            self.stats.total_connections_received += 1
            conn = ClientConnection(self, self._next_id, writer)
            self._next_id += 1
            self.clients[conn.id] = conn
            try:
                self.on_connect(conn)
                await self._serve(conn, reader)
            except (ConnectionError, OSError):
                pass
            finally:
                conn.close()
                self.clients.pop(conn.id, None)
                self.pubsub.drop(conn, list(conn.channels), list(conn.patterns))
                self.on_disconnect(conn)
        finally:
            self._tasks.discard(task)

    async def _serve(self, conn: ClientConnection, reader: asyncio.StreamReader) -> None:
        limit = self.config.query_buffer_limit_bytes
        while not conn.closed:
            data = await reader.read(self.config.read_chunk_bytes)
            if not data:
                return
            conn.net_input_bytes += len(data)
            self.stats.net_input_bytes += len(data)
            conn.last_interaction = time.monotonic()
            conn.parser.feed(data)
            conn.begin_batch()
            try:
                await self._run_buffered(conn)
            finally:
                conn.end_batch()
            if conn.close_after_reply:
                conn.close()
            elif not conn.closed and limit and conn.parser.buffered > limit:
                log.warning(
                    "Closing client that reached max query buffer length: id=%d addr=%s (qbuf=%d)",
                    conn.id,
                    conn.addr,
                    conn.parser.buffered,
                )
                self.stats.query_limit_disconnections += 1
                conn.close(abort=True)

    async def _run_buffered(self, conn: ClientConnection) -> None:
        while not conn.closed and not conn.close_after_reply:
            try:
                request = conn.parser.next_frame()
            except RespProtocolError as exc:
                self.stats.protocol_errors += 1
                log.info("Protocol error (%s) from client: id=%d addr=%s", exc, conn.id, conn.addr)
                self._reply_error(conn, f"ERR {exc.message}")
                conn.close_after_reply = True
                return
            if request is NEED_DATA:
                return
            await self.execute(conn, list(request.args))
            conn.parser.authenticated = conn.authenticated

    def _reply_error(self, conn: ClientConnection, text: str) -> None:
        self.stats.total_error_replies += 1
        conn.send(SimpleError(sanitize_error(text).encode("utf-8", "surrogateescape")))

    async def execute(self, conn: ClientConnection, args: list[bytes]) -> None:
        """Run one request for ``conn`` and queue its reply."""
        self.stats.total_commands_processed += 1
        first = args[0].lower()
        if first in (b"host:", b"post"):
            log.warning("Possible SECURITY ATTACK detected from %s. Connection aborted.", conn.addr)
            conn.close(abort=True)
            return
        command, error_text = self.commands.lookup(args)
        if command is None:
            self._reply_error(conn, error_text)
            return
        if not command.arity_ok(len(args)):
            self._reply_error(conn, arity_error(command.fullname))
            return
        if not conn.authenticated and CommandFlag.NO_AUTH not in command.flags:
            self._reply_error(conn, "NOAUTH Authentication required.")
            return
        if (
            conn.protocol == 2
            and conn.subscribed
            and CommandFlag.SUBSCRIBE_CONTEXT not in command.flags
        ):
            self._reply_error(conn, _SUBSCRIBE_CONTEXT_ERROR.format(command.fullname))
            return
        conn.last_command = command.fullname
        assert command.handler is not None
        try:
            result = command.handler(conn, args)
            if inspect.isawaitable(result):
                result = await result
        except CommandError as exc:
            self._reply_error(conn, exc.reply)
            return
        except Exception:
            log.exception("Command %s failed", command.fullname)
            self._reply_error(conn, f"ERR internal error running '{command.fullname}'")
            return
        if result is not None:
            if isinstance(result, SimpleError):
                self.stats.total_error_replies += 1
            conn.send(result)
