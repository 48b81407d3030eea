"""The cluster bus on asyncio: a listener on the cluster port, outbound links, framing.

Link names follow :mod:`gossip_cluster.core.inputs`: an outbound link is ``"ip:cport"``,
an inbound one ``"in:<peer ip>:<peer port>@<local ip>"``.

* ``send(link, message)`` on an outbound name opens the link if needed. The core thinks
  a link opens at once, so frames sent before the TCP connect completes are buffered
  and written when it does; a failed connect is reported with ``on_down(link)``.
* On an inbound name, ``send`` replies on that connection (dropped if it is gone).
* ``close_link(link)`` closes without reporting ``on_down`` (the core asked for it).
* Frames are read with :class:`~gossip_cluster.wire.BusParser`. A bad signature or
  ``totlen`` (a fatal framing error) closes the link, as Redis does; any other bad frame
  is dropped and the link kept, as Redis drops such a packet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from gossip_cluster.core.inputs import inbound_link
from gossip_cluster.errors import BusProtocolError
from gossip_cluster.wire import NEED_DATA, BusParser, Message, encode
from gossip_cluster.wire.messages import UnknownMessage

__all__ = ["Bus", "BusLink"]

log = logging.getLogger("gossip_cluster.bus")

SEND_BUFFER_LIMIT_BYTES = 64 * 1024 * 1024
"""A link whose unsent output passes this is closed (Redis 7.0: cluster-link-sendbuf-limit,
0 = unlimited by default; a bound keeps a dead peer from eating our memory)."""

OnMessage = Callable[[str, Message], None]
OnDown = Callable[[str], None]
OnBadFrame = Callable[[str, BusProtocolError], None]


_NAMES = {
    "failoverauthrequest": "auth-req",
    "failoverauthack": "auth-ack",
}


def _type_name(message: Message) -> str:
    """Redis's name of a message type (clusterGetMessageTypeString), for CLUSTER INFO."""
    if isinstance(message, UnknownMessage):
        return "unknown"
    name = type(message).__name__.lower()
    return _NAMES.get(name, name)


@dataclass(eq=False)
class BusLink:
    """One TCP connection of the bus."""

    name: str
    inbound: bool
    writer: asyncio.StreamWriter | None = None
    pending: list[bytes] = field(default_factory=list)
    parser: BusParser = field(default_factory=BusParser)
    task: asyncio.Task[None] | None = None
    closed: bool = False

    @property
    def connected(self) -> bool:
        return self.writer is not None and not self.closed

    def write(self, data: bytes) -> bool:
        """Write now, or buffer until connected; False if over the send buffer limit."""
        if self.closed:
            return True
        if self.writer is None:
            self.pending.append(data)
            return sum(map(len, self.pending)) <= SEND_BUFFER_LIMIT_BYTES
        self.writer.write(data)
        return self.writer.transport.get_write_buffer_size() <= SEND_BUFFER_LIMIT_BYTES

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.pending.clear()
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()
        task = self.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()


class Bus:
    """Every bus link of one node; see the module docstring."""

    def __init__(
        self,
        host: str,
        cport: int,
        *,
        on_message: OnMessage,
        on_down: OnDown,
        on_bad_frame: OnBadFrame | None = None,
        connect_timeout_s: float = 1.0,
    ) -> None:
        self.host = host
        self.cport = cport
        self._on_message = on_message
        self._on_down = on_down
        self._on_bad_frame = on_bad_frame
        self.connect_timeout_s = connect_timeout_s
        self.links: dict[str, BusLink] = {}
        self.sent: Counter[str] = Counter()
        self.received: Counter[str] = Counter()
        self._server: asyncio.Server | None = None

    # -- life cycle ----------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.cport)
        if self.cport == 0 and self._server.sockets:
            self.cport = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        links = list(self.links.values())
        self.links.clear()
        for link in links:
            link.close()
        tasks = [link.task for link in links if link.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    # -- sending -------------------------------------------------------------------------
    def send(self, name: str, message: Message) -> None:
        """Write ``message`` on link ``name`` (opening an outbound link if needed)."""
        link = self.links.get(name)
        if link is None:
            if name.startswith("in:"):
                return  # the inbound connection is gone; Redis would drop the reply too
            link = self._connect(name)
        self.sent[_type_name(message)] += 1
        if not link.write(encode(message)):
            log.warning(
                "Closing bus link %s: send buffer over %d bytes", name, SEND_BUFFER_LIMIT_BYTES
            )
            self._drop(link, report=True)

    def close_link(self, name: str) -> None:
        """Close ``name`` because the core asked (no ``on_down`` for it)."""
        link = self.links.get(name)
        if link is not None:
            self._drop(link, report=False)

    def _drop(self, link: BusLink, *, report: bool) -> None:
        if self.links.get(link.name) is link:
            del self.links[link.name]
            if report:
                self._on_down(link.name)
        link.close()

    # -- outbound links --------------------------------------------------------------------
    def _connect(self, name: str) -> BusLink:
        link = BusLink(name, inbound=False)
        self.links[name] = link
        link.task = asyncio.get_running_loop().create_task(self._run_outbound(link))
        return link

    async def _run_outbound(self, link: BusLink) -> None:
        host, _, port = link.name.rpartition(":")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host.strip("[]"), int(port)), self.connect_timeout_s
            )
        except (OSError, TimeoutError, ValueError) as exc:
            log.debug("Connecting to %s failed: %s", link.name, exc)
            if not link.closed:
                self._drop(link, report=True)
            return
        if link.closed:
            writer.close()
            return
        link.writer = writer
        for chunk in link.pending:
            writer.write(chunk)
        link.pending.clear()
        await self._read(link, reader)

    # -- inbound links ---------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        local = writer.get_extra_info("sockname") or ("", 0)
        name = inbound_link(str(peer[0]), int(peer[1]), str(local[0]))
        old = self.links.get(name)
        if old is not None:
            self._drop(old, report=True)
        link = BusLink(name, inbound=True, writer=writer)
        link.task = asyncio.current_task()
        self.links[name] = link
        await self._read(link, reader)

    # -- reading -----------------------------------------------------------------------------
    async def _read(self, link: BusLink, reader: asyncio.StreamReader) -> None:
        try:
            while not link.closed:
                data = await reader.read(1 << 16)
                if not data:
                    break
                link.parser.feed(data)
                if not self._deliver(link):
                    break
        except (OSError, asyncio.IncompleteReadError) as exc:
            log.debug("Bus link %s failed: %s", link.name, exc)
        except asyncio.CancelledError:
            pass
        finally:
            self._drop(link, report=True)

    def _deliver(self, link: BusLink) -> bool:
        """Hand every complete frame to the node; False when the link must close."""
        while not link.closed:
            try:
                message = link.parser.next_message()
            except BusProtocolError as exc:
                if self._on_bad_frame is not None:
                    self._on_bad_frame(link.name, exc)
                if exc.fatal:
                    return False
                continue
            if message is NEED_DATA:
                return True
            self.received[_type_name(message)] += 1
            try:
                self._on_message(link.name, message)
            except Exception:
                log.exception("Handling a frame from %s failed; closing the link", link.name)
                return False
        return False
