"""A fault-injecting TCP proxy: the network nemesis that works without root.

Every link of a topology can be wired through a :class:`FaultProxy` (one listening
address in front of one upstream). Parties are told apart by their source address:
each lab node has its own loopback address (``127.0.0.N``, with Redis's ``bind`` and
``bind-source-addr``), so a rule for ``127.0.0.5`` cuts sentinel 1 -> master without
cutting sentinel 2 -> master. The proxy opens its upstream connection *from the client's
own address*, so the upstream still sees who is talking (``CLIENT LIST``, ``INFO``).

The proxy is honest about TCP: it cannot drop a segment inside a stream. It can

* blackhole: stop forwarding and stop reading, holding the connection open (the default
  partition; what was sent is delivered after the heal, as TCP retransmission would);
* delay whole chunks (with jitter, order kept);
* throttle to a byte rate;
* reset: close the connections with RST.

"Loss" on a TCP link therefore means stalls and resets.

All proxies of a :class:`ProxyHub` run on one asyncio loop in a background thread; the
hub's methods are plain synchronous calls, safe from tests and tools.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypeVar

from labkit.events import Event

__all__ = ["ANY", "Direction", "FaultProxy", "LinkFault", "ProxyHub"]

ANY = "*"
Direction = Literal["both", "to_upstream", "from_upstream"]
_CHUNK = 65536
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LinkFault:
    """What happens to bytes going one way on a link."""

    blackhole: bool = False
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_bytes_per_s: float | None = None

    @property
    def healthy(self) -> bool:
        return self == LinkFault()


@dataclass(slots=True)
class _Rule:
    to_upstream: LinkFault = field(default_factory=LinkFault)
    from_upstream: LinkFault = field(default_factory=LinkFault)


@dataclass(slots=True, eq=False)
class _Conn:
    source: str
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class FaultProxy:
    """Listens on ``listen`` and forwards to ``upstream``, applying per-source faults.

    Create proxies through :meth:`ProxyHub.add`; their methods run on the hub's loop.
    """

    def __init__(self, name: str, upstream: tuple[str, int], rng: random.Random) -> None:
        self.name = name
        self.upstream = upstream
        self.listen: tuple[str, int] = ("", 0)
        self._rng = rng
        self._rules: dict[str, _Rule] = {}
        self._changed = asyncio.Event()
        self._conns: set[_Conn] = set()
        self._clients: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.connections_accepted = 0
        self.bytes_forwarded = 0

    # -- rules (called on the loop) -----------------------------------------------------

    def fault_for(self, source: str, to_upstream: bool) -> LinkFault:
        rule = self._rules.get(source) or self._rules.get(ANY) or _Rule()
        return rule.to_upstream if to_upstream else rule.from_upstream

    def set_fault(self, source: str, direction: Direction, fault: LinkFault) -> None:
        rule = self._rules.setdefault(source, _Rule())
        if direction in ("both", "to_upstream"):
            rule.to_upstream = fault
        if direction in ("both", "from_upstream"):
            rule.from_upstream = fault
        if rule.to_upstream.healthy and rule.from_upstream.healthy:
            del self._rules[source]
        self._wake()

    def heal(self, source: str | None = None) -> None:
        if source is None:
            self._rules.clear()
        else:
            self._rules.pop(source, None)
        self._wake()

    def reset(self, source: str = ANY) -> int:
        """Close matching connections with RST; returns how many."""
        victims = [c for c in self._conns if source in (ANY, c.source)]
        for conn in victims:
            self._abort(conn)
        return len(victims)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- serving ------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, host, port, reuse_address=True)
        sock = self._server.sockets[0]
        self.listen = (host, int(sock.getsockname()[1]))

    def stop_listening(self) -> None:
        """Accept no more connections (the ones already accepted go on)."""
        if self._server is not None:
            self._server.close()

    async def close(self) -> None:
        self.stop_listening()
        for conn in list(self._conns):
            self._abort(conn)
        for writer in list(self._clients):  # accepted, upstream not connected yet
            _rst(writer)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        source = str(peer[0]) if peer else ANY
        self.connections_accepted += 1
        self._clients.add(writer)
        try:
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(*self.upstream, local_addr=(source, 0)), 5
                )
            except (OSError, TimeoutError):
                _rst(writer)
                return
            conn = _Conn(source, writer, up_writer)
            self._conns.add(conn)
            conn.tasks = [
                asyncio.create_task(self._pump(conn, reader, up_writer, to_upstream=True)),
                asyncio.create_task(self._pump(conn, up_reader, writer, to_upstream=False)),
            ]
            try:
                await asyncio.gather(*conn.tasks, return_exceptions=True)
            finally:
                self._conns.discard(conn)
        except asyncio.CancelledError:
            _rst(writer)
            raise
        finally:
            self._clients.discard(writer)

    async def _pump(
        self,
        conn: _Conn,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        to_upstream: bool,
    ) -> None:
        release_at = 0.0  # keeps delayed chunks in order
        try:
            while True:
                fault = self.fault_for(conn.source, to_upstream)
                while fault.blackhole:  # stop reading: the sender's window fills, as on a cut link
                    await self._changed.wait()
                    fault = self.fault_for(conn.source, to_upstream)
                data = await reader.read(_CHUNK)
                if not data:
                    break
                fault = self.fault_for(conn.source, to_upstream)
                while fault.blackhole:
                    await self._changed.wait()
                    fault = self.fault_for(conn.source, to_upstream)
                now = time.monotonic()
                wait_s = 0.0
                if fault.delay_ms or fault.jitter_ms:
                    delay_s = (fault.delay_ms + self._rng.uniform(0, fault.jitter_ms)) / 1000
                    release_at = max(release_at, now + delay_s)
                    wait_s = release_at - now
                if fault.rate_bytes_per_s:
                    wait_s += len(data) / fault.rate_bytes_per_s
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
                writer.write(data)
                await writer.drain()
                self.bytes_forwarded += len(data)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            # One side closed: close the other, so each end sees what it would see over TCP.
            self._close(conn)

    def _close(self, conn: _Conn) -> None:
        for w in (conn.client, conn.upstream):
            with contextlib.suppress(Exception):
                if w.can_write_eof():
                    w.write_eof()
            w.close()
        for task in conn.tasks:
            if task is not asyncio.current_task():
                task.cancel()

    def _abort(self, conn: _Conn) -> None:
        _rst(conn.client)
        _rst(conn.upstream)
        for task in conn.tasks:
            task.cancel()
        self._conns.discard(conn)


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class ProxyHub:
    """Runs fault proxies on a private event loop; every method is a synchronous call.

    Fault changes are recorded as :class:`Event` records (source ``nemesis``) so that the
    timeline can shade fault windows beside what Redis logged.
    """

    def __init__(self, *, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fault-proxy", daemon=True
        )
        self._thread.start()
        self.proxies: dict[str, FaultProxy] = {}
        self.events: list[Event] = []

    def __enter__(self) -> ProxyHub:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def _record(self, name: str, proxy: str, details: str) -> None:
        self.events.append(
            Event(
                source="nemesis",
                name=name,
                wall_ns=time.time_ns(),
                mono_ns=time.monotonic_ns(),
                instance=f"link {proxy}",
                details=details,
            )
        )

    def add(
        self,
        name: str,
        upstream: tuple[str, int],
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ) -> FaultProxy:
        """A new proxy in front of ``upstream``; its address is ``proxy.listen``."""
        if name in self.proxies:
            raise ValueError(f"a proxy named {name!r} already exists")

        async def make() -> FaultProxy:
            proxy = FaultProxy(name, upstream, random.Random(self._rng.getrandbits(64)))
            await proxy.start(listen_host, listen_port)
            return proxy

        proxy = self._call(make())
        self.proxies[name] = proxy
        return proxy

    def _on_loop(self, fn: Any, *args: Any) -> Any:
        async def run() -> Any:
            return fn(*args)

        return self._call(run())

    def partition(self, name: str, *, source: str = ANY, direction: Direction = "both") -> None:
        """Blackhole the link (from ``source``, or every client), one way or both."""
        proxy = self.proxies[name]
        self._on_loop(proxy.set_fault, source, direction, LinkFault(blackhole=True))
        self._record("+partition", name, f"source={source} direction={direction}")

    def delay(
        self,
        name: str,
        delay_ms: float,
        *,
        jitter_ms: float = 0.0,
        source: str = ANY,
        direction: Direction = "both",
    ) -> None:
        proxy = self.proxies[name]
        self._on_loop(
            proxy.set_fault, source, direction, LinkFault(delay_ms=delay_ms, jitter_ms=jitter_ms)
        )
        self._record(
            "+delay",
            name,
            f"source={source} direction={direction} delay={delay_ms}ms jitter={jitter_ms}ms",
        )

    def throttle(
        self,
        name: str,
        rate_bytes_per_s: float,
        *,
        source: str = ANY,
        direction: Direction = "both",
    ) -> None:
        if rate_bytes_per_s <= 0:
            raise ValueError(f"rate_bytes_per_s must be positive, got {rate_bytes_per_s!r}")
        proxy = self.proxies[name]
        self._on_loop(
            proxy.set_fault, source, direction, LinkFault(rate_bytes_per_s=rate_bytes_per_s)
        )
        self._record(
            "+throttle", name, f"source={source} direction={direction} rate={rate_bytes_per_s}B/s"
        )

    def reset(self, name: str, *, source: str = ANY) -> int:
        """RST every live connection of the link (from ``source``); returns how many."""
        count = int(self._on_loop(self.proxies[name].reset, source))
        self._record("+reset", name, f"source={source} connections={count}")
        return count

    def heal(self, name: str | None = None, *, source: str | None = None) -> None:
        """Remove faults from one link (one source's, or all) or, with no name, from every link."""
        for proxy in [self.proxies[name]] if name is not None else list(self.proxies.values()):
            self._on_loop(proxy.heal, source)
        self._record("-fault", name or ANY, f"source={source or ANY}")

    def close(self) -> None:
        """Close every proxy and connection, and stop the loop thread."""
        if not self._loop.is_running():
            return

        async def close_all() -> None:
            # asyncio (3.11) creates an accepted connection's transport in a task, and that
            # task fails and leaks the socket if the server closed in between. Let pending
            # accepts attach first, then stop listening, then let them reach our handler.
            for _ in range(3):
                await asyncio.sleep(0)
            for proxy in self.proxies.values():
                proxy.stop_listening()
            await asyncio.sleep(0.05)
            for proxy in self.proxies.values():
                await proxy.close()
            # A connection accepted just before the close may still be starting up, and
            # cancelling one task can start another: repeat until nothing is left.
            for _ in range(20):
                others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                if not others:
                    break
                for task in others:
                    task.cancel()
                await asyncio.gather(*others, return_exceptions=True)
            for _ in range(3):  # let the aborted transports run their close callbacks
                await asyncio.sleep(0)

        with contextlib.suppress(Exception):
            self._call(close_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
